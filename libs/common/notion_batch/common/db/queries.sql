-- Every query the services run, by name. Who runs which:
--   API        start_batch, stop_batch, batch_status, running_batches
--   scheduler  claim_due_ticks, complete_expired
--   worker     lease_*, finish_tick, fail_batch, todo_*, outbox_*, run_log_*
-- Times are timestamptz; every "now" is the database's clock, so no two services disagree.


-- name: start_batch
-- Turns a page's batch on and opens a run, atomically: of two concurrent starts exactly one
-- gets a row back (ON CONFLICT … WHERE only takes over a row that is not running).
-- $1 page, $2 interval s, $3 duration s, $4 message
WITH started AS (
    INSERT INTO notion_batch_status AS s
        (notion_page_id, status, message, run_id, start_time, end_time, interval_seconds,
         next_tick_at, updated_at)
    VALUES ($1, 'running', $4, nextval(pg_get_serial_sequence('notion_batch_runs', 'id')),
            now(), now() + make_interval(secs => $3), $2, now(), now())
    ON CONFLICT (notion_page_id) DO UPDATE
        SET status = 'running', message = EXCLUDED.message, run_id = EXCLUDED.run_id,
            start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
            interval_seconds = EXCLUDED.interval_seconds, next_tick_at = EXCLUDED.next_tick_at,
            updated_at = now()
        WHERE s.status <> 'running'
    RETURNING notion_page_id, run_id, start_time, end_time, interval_seconds
), run AS (
    INSERT INTO notion_batch_runs (id, notion_page_id, interval_seconds, started_at, ends_at)
    SELECT run_id, notion_page_id, interval_seconds, start_time, end_time FROM started
)
SELECT notion_page_id, run_id, start_time, end_time, interval_seconds FROM started;


-- name: stop_batch
-- $1 page, $2 message
WITH stopped AS (
    UPDATE notion_batch_status
       SET status = 'completed', message = $2, end_time = now(), next_tick_at = NULL,
           updated_at = now()
     WHERE notion_page_id = $1 AND status = 'running'
    RETURNING notion_page_id, run_id, end_time
), run AS (
    UPDATE notion_batch_runs r
       SET status = 'completed', end_reason = 'stopped', message = $2, ended_at = stopped.end_time
      FROM stopped
     WHERE r.id = stopped.run_id
)
SELECT notion_page_id, run_id, end_time FROM stopped;


-- name: batch_status
-- $1 page
SELECT s.notion_page_id, s.status, s.message, s.last_run_at, s.run_id, s.start_time,
       s.end_time, s.interval_seconds, r.ticks, r.todos_done, r.todos_skipped,
       (SELECT count(*) FROM notion_todos t
         WHERE t.notion_page_id = s.notion_page_id AND t.status = 'pending') AS todos_pending
  FROM notion_batch_status s
  LEFT JOIN notion_batch_runs r ON r.id = s.run_id
 WHERE s.notion_page_id = $1;


-- name: running_batches
SELECT notion_page_id, status, start_time, end_time
  FROM notion_batch_status
 WHERE status = 'running'
 ORDER BY start_time, notion_page_id;


-- name: claim_due_ticks
-- Claims up to $1 pages whose tick is due and moves each one's next tick on by whole
-- intervals past now: ticks missed while no scheduler ran are coalesced into this one
-- (counted in `missed`), never replayed as a burst. SKIP LOCKED lets several schedulers
-- share the work without ever claiming one page's tick twice.
WITH due AS (
    SELECT notion_page_id, run_id, next_tick_at AS scheduled_at, interval_seconds,
           floor(extract(epoch FROM now() - next_tick_at) / interval_seconds)::integer AS missed
      FROM notion_batch_status
     WHERE status = 'running' AND next_tick_at <= now() AND end_time > now()
     ORDER BY next_tick_at
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), advanced AS (
    UPDATE notion_batch_status s
       SET next_tick_at = due.scheduled_at
                          + make_interval(secs => due.interval_seconds * (due.missed + 1))
      FROM due
     WHERE s.notion_page_id = due.notion_page_id
), counted AS (
    UPDATE notion_batch_runs r
       SET ticks = r.ticks + 1, ticks_coalesced = r.ticks_coalesced + due.missed
      FROM due
     WHERE r.id = due.run_id
)
SELECT notion_page_id, run_id, scheduled_at, interval_seconds, missed FROM due;


-- name: complete_expired
-- Ends up to $1 batches whose end_time has passed.
WITH due AS (
    SELECT notion_page_id, run_id
      FROM notion_batch_status
     WHERE status = 'running' AND end_time <= now()
     ORDER BY end_time
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), ended AS (
    UPDATE notion_batch_runs r
       SET status = 'completed', end_reason = 'expired', ended_at = r.ends_at,
           message = format('completed — batch expired after %s ticks: %s to-dos done, %s skipped',
                            r.ticks, r.todos_done, r.todos_skipped)
      FROM due
     WHERE r.id = due.run_id
    RETURNING r.id, r.notion_page_id, r.message
)
UPDATE notion_batch_status s
   SET status = 'completed', message = ended.message, next_tick_at = NULL, updated_at = now()
  FROM ended
 WHERE s.notion_page_id = ended.notion_page_id AND s.run_id = ended.id
RETURNING s.notion_page_id, ended.id AS run_id, ended.message;


-- name: lease_acquire
-- Leases the page to one tick of one worker, without waiting: SKIP LOCKED passes over a row
-- another transaction holds, and a live lease of another worker is respected until it expires.
-- $1 page, $2 run, $3 owner, $4 lease seconds
UPDATE notion_batch_status s
   SET lease_owner = $3, lease_expires_at = now() + make_interval(secs => $4)
 WHERE s.notion_page_id = (
        SELECT notion_page_id FROM notion_batch_status
         WHERE notion_page_id = $1 AND run_id = $2 AND status = 'running' AND end_time > now()
           AND (lease_owner IS NULL OR lease_expires_at < now())
           FOR UPDATE SKIP LOCKED)
RETURNING s.notion_page_id, s.run_id, s.end_time, s.interval_seconds,
          (SELECT r.log_block_id FROM notion_batch_runs r WHERE r.id = s.run_id) AS log_block_id,
          (SELECT r.log_reconcile_needed FROM notion_batch_runs r WHERE r.id = s.run_id)
              AS log_reconcile_needed;


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
-- stop's or an expiry's message is not overwritten).
-- $1 page, $2 owner, $3 message
UPDATE notion_batch_status
   SET message = CASE WHEN status = 'running' THEN $3 ELSE message END,
       last_run_at = now(), lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
 WHERE notion_page_id = $1 AND lease_owner = $2;


-- name: lease_release
UPDATE notion_batch_status
   SET lease_owner = NULL, lease_expires_at = NULL
 WHERE notion_page_id = $1 AND lease_owner = $2;


-- name: fail_batch
-- $1 page, $2 run, $3 reason
WITH run AS (
    UPDATE notion_batch_runs
       SET status = 'failed', end_reason = 'failed', ended_at = now(), message = $3::text
     WHERE id = $2::bigint AND status = 'running'
    RETURNING id, notion_page_id
)
UPDATE notion_batch_status s
   SET status = 'failed', message = $3::text, end_time = now(), next_tick_at = NULL,
       last_run_at = now(), updated_at = now()
  FROM run
 WHERE s.notion_page_id = $1::uuid AND s.notion_page_id = run.notion_page_id
   AND s.run_id = run.id AND s.status = 'running'
RETURNING s.notion_page_id;


-- name: todo_upsert_synced
-- Merges the to-dos read from Notion. New unchecked to-dos become pending. A to-do checked
-- by a person (before we did it) is not ours to do any more: it becomes skipped, and is
-- neither checked nor logged by us.
-- $1 page, $2 block ids, $3 positions, $4 texts, $5 checked flags
INSERT INTO notion_todos AS t (block_id, notion_page_id, position, text, status, result)
SELECT b.block_id, $1, b.position, b.text,
       CASE WHEN b.checked THEN 'skipped' ELSE 'pending' END,
       CASE WHEN b.checked THEN 'already checked in Notion' END
  FROM unnest($2::uuid[], $3::integer[], $4::text[], $5::boolean[])
       AS b(block_id, position, text, checked)
ON CONFLICT (block_id) DO UPDATE
   SET position = EXCLUDED.position,
       text = EXCLUDED.text,
       status = CASE WHEN t.status = 'pending' AND EXCLUDED.status = 'skipped'
                     THEN 'skipped' ELSE t.status END,
       result = CASE WHEN t.status = 'pending' AND EXCLUDED.status = 'skipped'
                     THEN 'checked in Notion by a person before processing' ELSE t.result END,
       processed_at = CASE WHEN t.status = 'pending' AND EXCLUDED.status = 'skipped'
                           THEN now() ELSE t.processed_at END,
       updated_at = now()
 WHERE t.notion_page_id = EXCLUDED.notion_page_id
   AND (t.position, t.text, t.status) IS DISTINCT FROM
       (EXCLUDED.position, EXCLUDED.text,
        CASE WHEN t.status = 'pending' AND EXCLUDED.status = 'skipped'
             THEN 'skipped' ELSE t.status END);


-- name: todo_skip_vanished
-- Pending to-dos no longer on the page (deleted, or moved away) cannot be done.
-- $1 page, $2 block ids seen in a complete listing
UPDATE notion_todos
   SET status = 'skipped', result = 'removed from the Notion page before processing',
       processed_at = now(), updated_at = now()
 WHERE notion_page_id = $1 AND status = 'pending' AND NOT (block_id = ANY($2::uuid[]));


-- name: todo_pending
-- Pending to-dos in page order after a cursor, so one tick tries each to-do at most once.
-- $1 page, $2 after position, $3 after block id, $4 limit
SELECT block_id, text, attempts, position
  FROM notion_todos
 WHERE notion_page_id = $1 AND status = 'pending'
   AND (position, block_id) > ($2::integer, $3::uuid)
 ORDER BY position, block_id
 LIMIT $4;


-- name: todo_may_start
-- Checked before each handler run: a stopped, expired or taken-over batch starts nothing new.
-- $1 page, $2 owner
SELECT EXISTS (
    SELECT 1 FROM notion_batch_status
     WHERE notion_page_id = $1 AND lease_owner = $2 AND status = 'running' AND end_time > now()
) AS may_start;


-- name: todo_record_done
-- The status guard makes "done" happen once per to-do, whoever tries to record it.
-- $1 block, $2 run, $3 result, $4 log it
WITH todo AS (
    UPDATE notion_todos
       SET status = 'done', result = $3, run_id = $2, processed_at = now(),
           check_pending = true, log_pending = $4, updated_at = now()
     WHERE block_id = $1 AND status = 'pending'
    RETURNING block_id
), counted AS (
    UPDATE notion_batch_runs SET todos_done = todos_done + 1
     WHERE id = $2 AND EXISTS (SELECT 1 FROM todo)
)
SELECT count(*) AS recorded FROM todo;


-- name: todo_record_skipped
-- A handler chose to skip the to-do. $1 block, $2 run, $3 reason, $4 log it
WITH todo AS (
    UPDATE notion_todos
       SET status = 'skipped', result = $3, run_id = $2, processed_at = now(),
           log_pending = $4, updated_at = now()
     WHERE block_id = $1 AND status = 'pending'
    RETURNING block_id
), counted AS (
    UPDATE notion_batch_runs SET todos_skipped = todos_skipped + 1
     WHERE id = $2 AND EXISTS (SELECT 1 FROM todo)
)
SELECT count(*) AS recorded FROM todo;


-- name: todo_record_failure
-- A handler raised. The to-do stays pending for a later tick until $4 attempts have failed,
-- then it is skipped with the error kept. $1 block, $2 run, $3 error, $4 max attempts, $5 log it
WITH todo AS (
    UPDATE notion_todos
       SET attempts = attempts + 1,
           last_error = $3::text,
           status = CASE WHEN attempts + 1 >= $4::integer THEN 'skipped' ELSE 'pending' END,
           result = CASE WHEN attempts + 1 >= $4
                         THEN format('skipped after %s failed attempts: %s', attempts + 1, $3::text)
                    END,
           processed_at = CASE WHEN attempts + 1 >= $4 THEN now() END,
           log_pending = (attempts + 1 >= $4) AND $5::boolean,
           run_id = $2,
           updated_at = now()
     WHERE block_id = $1 AND status = 'pending'
    RETURNING status, attempts
), counted AS (
    UPDATE notion_batch_runs SET todos_skipped = todos_skipped + 1
     WHERE id = $2 AND EXISTS (SELECT 1 FROM todo WHERE status = 'skipped')
)
SELECT status, attempts FROM todo;


-- name: outbox_pending
-- Outcomes not yet recorded in Notion, in page order. $1 page, $2 limit
SELECT block_id, text, status, result, check_pending, log_pending
  FROM notion_todos
 WHERE notion_page_id = $1 AND (check_pending OR log_pending)
 ORDER BY position
 LIMIT $2;


-- name: outbox_mark_checked
UPDATE notion_todos
   SET check_pending = false, checked_in_notion_at = now(), updated_at = now()
 WHERE block_id = ANY($1::uuid[]);


-- name: outbox_drop_check
-- The block is gone from Notion (deleted by a person): there is nothing left to check.
UPDATE notion_todos
   SET check_pending = false, updated_at = now()
 WHERE block_id = ANY($1::uuid[]);


-- name: outbox_mark_logged
UPDATE notion_todos
   SET log_pending = false, logged_at = now(), updated_at = now()
 WHERE block_id = ANY($1::uuid[]);


-- name: run_log_set_block
-- $1 run, $2 log block
UPDATE notion_batch_runs SET log_block_id = $2 WHERE id = $1;


-- name: run_log_set_reconcile
-- $1 run, $2 needed
UPDATE notion_batch_runs SET log_reconcile_needed = $2 WHERE id = $1;


-- name: run_log_blocks
-- The log blocks of every run of the page (they hold no to-dos). $1 page
SELECT log_block_id FROM notion_batch_runs
 WHERE notion_page_id = $1 AND log_block_id IS NOT NULL;
