-- Batch-end notifications: the outbox rows the run-end trigger writes (migration 0005), their
-- summaries, and one delivery state per (run, channel). Run by db/notifications.py, for the
-- scheduler's notifier only.


-- name: notification_take_new
-- Ended runs whose summary is not written yet, once the run's last tick is over: the page's
-- lease is free, or held for a newer run, or the end is older than $2 seconds (a tick that
-- never finishes must not hold the summary back for ever). The counts are read now, so a
-- to-do a tick finished after the stop is in them. SKIP LOCKED: several schedulers share the
-- work without taking one run twice. $1 limit, $2 settle seconds
SELECT n.run_id, n.notion_page_id, n.end_reason, r.status, r.message, r.started_at,
       r.ends_at, r.ended_at, r.interval_seconds, r.handler, r.integration, r.ticks, r.ticks_coalesced,
       r.todos_done, r.todos_skipped,
       (SELECT count(*) FROM notion_todos t
         WHERE t.notion_page_id = n.notion_page_id AND t.run_id = n.run_id
           AND t.last_error IS NOT NULL AND t.status <> 'done') AS todos_failed,
       (SELECT count(*) FROM notion_todos t
         WHERE t.notion_page_id = n.notion_page_id AND t.status = 'pending') AS todos_pending
  FROM notion_batch_notifications n
  JOIN notion_batch_runs r ON r.id = n.run_id
  JOIN notion_batch_status s ON s.notion_page_id = n.notion_page_id
 WHERE n.expanded_at IS NULL
   AND (NOT notion_batch_leased(s)
        OR s.run_id IS DISTINCT FROM n.run_id
        OR n.created_at <= now() - make_interval(secs => $2::double precision))
 ORDER BY n.created_at
 LIMIT $1
   FOR UPDATE OF n SKIP LOCKED;


-- name: notification_expand
-- Keeps the run's summary and opens one delivery per channel ($3: empty when no channel is
-- on, or the end reason is not notified). $1 run, $2 summary (JSON), $3 channels
WITH expanded AS (
    UPDATE notion_batch_notifications
       SET summary = $2::jsonb, expanded_at = now()
     WHERE run_id = $1
    RETURNING run_id
)
INSERT INTO notion_batch_notification_deliveries (run_id, channel)
SELECT expanded.run_id, channel FROM expanded, unnest($3::text[]) AS channel
ON CONFLICT (run_id, channel) DO NOTHING;


-- name: notification_claim_due
-- Claims up to $1 due deliveries on the channels this notifier sends ($2): each claim counts
-- an attempt and leases the delivery for $3 seconds (next_attempt_at), so no connection or
-- row lock is held while the receiver is called, and a notifier that dies mid-send leaves
-- the delivery to be claimed again once the lease is over.
WITH due AS (
    SELECT run_id, channel
      FROM notion_batch_notification_deliveries
     WHERE status = 'pending' AND next_attempt_at <= now() AND channel = ANY($2::text[])
     ORDER BY next_attempt_at
     LIMIT $1
       FOR UPDATE SKIP LOCKED
)
UPDATE notion_batch_notification_deliveries d
   SET attempts = d.attempts + 1,
       next_attempt_at = now() + make_interval(secs => $3::double precision),
       updated_at = now()
  FROM due, notion_batch_notifications n
 WHERE d.run_id = due.run_id AND d.channel = due.channel AND n.run_id = d.run_id
RETURNING d.run_id, d.channel, d.attempts, n.summary::text AS summary, n.created_at,
          extract(epoch FROM now() - n.created_at)::double precision AS age_seconds;


-- name: notification_delivered
-- Each outcome is guarded by the attempt it answers: a claimer whose lease ran out (and whose
-- delivery another notifier took over) cannot overwrite the newer attempt's state.
-- $1 run, $2 channel, $3 attempt
UPDATE notion_batch_notification_deliveries
   SET status = 'delivered', last_error = NULL, finished_at = now(), updated_at = now()
 WHERE run_id = $1 AND channel = $2 AND attempts = $3 AND status = 'pending'
RETURNING run_id;


-- name: notification_retry
-- $1 run, $2 channel, $3 attempt, $4 seconds until the next attempt, $5 error
UPDATE notion_batch_notification_deliveries
   SET next_attempt_at = now() + make_interval(secs => $4::double precision),
       last_error = $5, updated_at = now()
 WHERE run_id = $1 AND channel = $2 AND attempts = $3 AND status = 'pending'
RETURNING run_id;


-- name: notification_abandon
-- $1 run, $2 channel, $3 attempt, $4 error
UPDATE notion_batch_notification_deliveries
   SET status = 'abandoned', last_error = $4, finished_at = now(), updated_at = now()
 WHERE run_id = $1 AND channel = $2 AND attempts = $3 AND status = 'pending'
RETURNING run_id;
