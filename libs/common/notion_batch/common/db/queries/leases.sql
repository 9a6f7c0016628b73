-- Page leases: which worker works a page's tick. Run by db/leases.py.


-- name: lease_acquire
-- Leases the page to one tick of one worker, without waiting: SKIP LOCKED passes over a row
-- another transaction holds, and a live lease of another worker is respected until it expires.
-- Returns the handler the run chose (NULL: the worker's default) and its integration.
-- $1 page, $2 run, $3 owner, $4 lease seconds
UPDATE notion_batch_status s
   SET lease_owner = $3, lease_expires_at = now() + make_interval(secs => $4)
  FROM notion_batch_runs r
 WHERE s.notion_page_id = (
        SELECT notion_page_id FROM notion_batch_status
         WHERE notion_page_id = $1 AND run_id = $2 AND status = 'running' AND end_time > now()
           AND (lease_owner IS NULL OR lease_expires_at < now())
           FOR UPDATE SKIP LOCKED)
   AND r.id = s.run_id
RETURNING s.notion_page_id, s.run_id, s.end_time, s.interval_seconds, r.handler, r.integration;


-- name: lease_acquire_for_record
-- A record-only tick leases an ended batch's page to drain its outbox. $1 page, $2 owner,
-- $3 lease seconds
UPDATE notion_batch_status s
   SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3)
  FROM notion_batch_runs r
 WHERE s.notion_page_id = (
        SELECT notion_page_id FROM notion_batch_status
         WHERE notion_page_id = $1 AND status <> 'running'
           AND (lease_owner IS NULL OR lease_expires_at < now())
           FOR UPDATE SKIP LOCKED)
   AND r.id = s.run_id
RETURNING s.notion_page_id, s.run_id, s.end_time, s.interval_seconds, r.integration;


-- name: lease_state
-- Why a lease was not granted: for the log and the coalesced/stale counters.
SELECT status, run_id, end_time, lease_owner, lease_expires_at, now() AS now
  FROM notion_batch_status
 WHERE notion_page_id = $1;


-- name: lease_renew
-- Heartbeat. No row back means the lease was lost (expired and taken over).
UPDATE notion_batch_status
   SET lease_expires_at = now() + make_interval(secs => $3)
 WHERE notion_page_id = $1 AND lease_owner = $2
RETURNING status = 'running' AND end_time > now() AS may_continue;


-- name: finish_tick
-- Releases the lease and writes the tick's summary (only while the batch still runs, so a
-- stop's or an expiry's message is not overwritten). A re-read a page event asked for and the
-- tick could not do (it came after the tick's last look, or the tick ran out of time) becomes
-- a tick due now.
-- $1 page, $2 owner, $3 message
UPDATE notion_batch_status s
   SET message = CASE WHEN status = 'running'
                      THEN format('%s; %s pending', $3::text,
                                  (SELECT count(*) FROM notion_todos t
                                    WHERE t.notion_page_id = s.notion_page_id
                                      AND t.status = 'pending'))
                      ELSE message END,
       next_tick_at = CASE WHEN resync_requested AND status = 'running'
                           THEN LEAST(next_tick_at, now()) ELSE next_tick_at END,
       resync_requested = false,
       last_run_at = now(), lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
 WHERE notion_page_id = $1 AND lease_owner = $2;


-- name: lease_release
UPDATE notion_batch_status
   SET lease_owner = NULL, lease_expires_at = NULL
 WHERE notion_page_id = $1 AND lease_owner = $2;
