-- Notion's webhook events: verification requests and page events (API). The re-read a page
-- event asks of a busy page's worker is taken by that worker (resync_take, ticks.sql).
-- Run by db/notion_events.py.


-- name: notion_verification_store
-- Keeps a subscription's verification request, and only the newest $4 of the integration.
-- $1 integration, $2 verification token, $3 remote address, $4 how many to keep
WITH stored AS (
    INSERT INTO notion_webhook_verifications (integration, verification_token, remote_address)
    VALUES ($1, $2, $3)
    RETURNING id, received_at
), pruned AS (
    DELETE FROM notion_webhook_verifications
     WHERE integration = $1
       AND id NOT IN (SELECT id FROM notion_webhook_verifications
                       WHERE integration = $1
                       ORDER BY id DESC
                       LIMIT $4::integer - 1)
)
SELECT id, received_at FROM stored;


-- name: notion_verifications
-- The integration's kept verification requests, newest first. $1 integration, $2 limit
SELECT verification_token, remote_address, received_at
  FROM notion_webhook_verifications
 WHERE integration = $1
 ORDER BY id DESC
 LIMIT $2;


-- name: notion_page_event
-- A person changed a page in Notion. If a batch runs on it through this integration, its
-- tick becomes due now (coalesced: next_tick_at only moves earlier, so many events make one
-- tick) — or, while a worker holds the page's lease, that worker is asked to read the page
-- again before it lets go (a tick now would find the page busy and do nothing). Either way the
-- page's event count moves, so the next tick reads it in full. An event id seen before does
-- nothing (Notion repeats deliveries). No row: no such running batch.
-- $1 page, $2 integration, $3 event id
WITH target AS (
    SELECT s.notion_page_id, s.run_id, notion_batch_leased(s) AS busy
      FROM notion_batch_status s
      JOIN notion_batch_runs r ON r.id = s.run_id
     WHERE s.notion_page_id = $1 AND notion_batch_live(s) AND r.integration = $2
       FOR UPDATE OF s
), fresh AS (
    INSERT INTO notion_webhook_events (event_id, notion_page_id)
    SELECT $3, notion_page_id FROM target
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), acted AS (
    UPDATE notion_batch_status s
       SET resync_requested = s.resync_requested OR target.busy,
           -- The change signal the worker's rule reads (worker/changes.py).
           notion_events = s.notion_events + 1,
           next_tick_at = CASE WHEN target.busy THEN s.next_tick_at
                               ELSE LEAST(s.next_tick_at, now()) END
      FROM target
     WHERE s.notion_page_id = target.notion_page_id AND EXISTS (SELECT 1 FROM fresh)
), purged AS (
    DELETE FROM notion_webhook_events e
     USING target
     WHERE e.notion_page_id = target.notion_page_id
       AND e.received_at < now() - interval '2 days'
)
SELECT run_id, busy, EXISTS (SELECT 1 FROM fresh) AS fresh FROM target;
