-- Stalled batches: marked, set going again and cleared by the scheduler's stall watch.
-- Run by db/stalls.py. The rule itself is notion_batch_stalled_since() (migration 0009).


-- name: stall_mark
-- Batches newly seen stalled: noted on the batch and counted on its run, their tick made due
-- now, and a lease left behind by a worker that could not release it (expired, or the rule
-- would not hold) cleared. $1 bound seconds, $2 limit
WITH stalled AS (
    SELECT s.notion_page_id, s.run_id, notion_batch_stalled_since(s, $1) AS since
      FROM notion_batch_status s
     WHERE s.status = 'running' AND s.stalled_since IS NULL
       AND notion_batch_stalled_since(s, $1) IS NOT NULL
     LIMIT $2
       FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE notion_batch_status s
       SET stalled_since = stalled.since,
           next_tick_at = LEAST(s.next_tick_at, now()),
           lease_owner = NULL, lease_expires_at = NULL
      FROM stalled
     WHERE s.notion_page_id = stalled.notion_page_id
), counted AS (
    UPDATE notion_batch_runs r
       SET stalls = r.stalls + 1, last_stalled_at = now()
      FROM stalled
     WHERE r.id = stalled.run_id
)
SELECT notion_page_id, run_id, since FROM stalled;


-- name: stall_clear
-- Stalled batches that moved again (a tick finished since) or ended. $1 limit
WITH moved AS (
    SELECT notion_page_id, stalled_since
      FROM notion_batch_status
     WHERE stalled_since IS NOT NULL
       AND (status <> 'running' OR last_run_at > stalled_since)
     LIMIT $1
       FOR UPDATE SKIP LOCKED
)
UPDATE notion_batch_status s
   SET stalled_since = NULL
  FROM moved
 WHERE s.notion_page_id = moved.notion_page_id
RETURNING s.notion_page_id, s.run_id, s.status,
          extract(epoch FROM now() - moved.stalled_since)::double precision AS stalled_for;


-- name: stall_count
SELECT count(*) FROM notion_batch_status WHERE status = 'running' AND stalled_since IS NOT NULL;
