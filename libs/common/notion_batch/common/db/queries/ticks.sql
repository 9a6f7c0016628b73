-- A tick of a page, statement by statement in the order a tick runs them (worker/tick.py
-- tells the steps): lease, sync from Notion, work the pending to-dos, record in Notion (the
-- outbox), a page event's re-read, finish — and last, the change rule's memory of full reads
-- (read at the sync step). Every statement of a worker but its crash counts
-- (crashes.sql). Run by db/ticks.py. Whether the worker may still work the page is
-- notion_batch_held_by() and its parts (migration 0010).


-- name: lease_acquire
-- Leases the page to one tick of one worker, without waiting: SKIP LOCKED passes over a row
-- another transaction holds, and a live lease of another worker is respected until it expires.
-- Returns the handler the run chose (NULL: the worker's default) and its integration.
-- $1 page, $2 run, $3 owner, $4 lease seconds
UPDATE notion_batch_status s
   SET lease_owner = $3, lease_expires_at = now() + make_interval(secs => $4)
  FROM notion_batch_runs r
 WHERE s.notion_page_id = (
        SELECT f.notion_page_id FROM notion_batch_status f
         WHERE f.notion_page_id = $1 AND f.run_id = $2
           AND notion_batch_live(f) AND NOT notion_batch_leased(f)
           FOR UPDATE SKIP LOCKED)
   AND r.id = s.run_id
RETURNING s.notion_page_id, s.run_id, s.end_time, s.interval_seconds, r.handler, r.integration;


-- name: lease_state
-- Why a lease was not granted: for the log and the coalesced/stale counters.
SELECT s.status, s.run_id, notion_batch_live(s) AS live, s.lease_owner,
       notion_batch_leased(s) AS leased
  FROM notion_batch_status s
 WHERE s.notion_page_id = $1;


-- name: lease_acquire_for_record
-- A record-only tick leases an ended batch's page to drain its outbox. $1 page, $2 owner,
-- $3 lease seconds
UPDATE notion_batch_status s
   SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3)
  FROM notion_batch_runs r
 WHERE s.notion_page_id = (
        SELECT f.notion_page_id FROM notion_batch_status f
         WHERE f.notion_page_id = $1 AND f.status <> 'running' AND NOT notion_batch_leased(f)
           FOR UPDATE SKIP LOCKED)
   AND r.id = s.run_id
RETURNING s.notion_page_id, s.run_id, s.end_time, s.interval_seconds, r.integration;


-- name: lease_renew
-- Heartbeat. No row back means the lease was lost (expired and taken over); `may_continue`
-- is false once the batch is no longer live.
UPDATE notion_batch_status s
   SET lease_expires_at = now() + make_interval(secs => $3)
 WHERE s.notion_page_id = $1 AND s.lease_owner = $2
RETURNING notion_batch_live(s) AS may_continue;


-- name: run_log_blocks
-- The log blocks of every run of the page (they hold no to-dos). $1 page
SELECT log_block_id FROM notion_batch_runs
 WHERE notion_page_id = $1 AND log_block_id IS NOT NULL;


-- name: todo_upsert_synced
-- Merges the to-dos read from Notion. New unchecked to-dos become pending. A to-do checked
-- by a person (before we did it) is not ours to do any more: it becomes skipped, settled by
-- the page's run (counted in it, migration 0012), and is neither checked nor logged by us.
-- $1 page, $2 block ids, $3 positions, $4 texts, $5 checked flags
WITH page AS (
    SELECT run_id FROM notion_batch_status WHERE notion_page_id = $1
)
INSERT INTO notion_todos AS t
    (block_id, notion_page_id, position, text, status, result, run_id, processed_at)
SELECT b.block_id, $1, b.position, b.text,
       CASE WHEN b.checked THEN 'skipped' ELSE 'pending' END,
       CASE WHEN b.checked THEN 'already checked in Notion' END,
       CASE WHEN b.checked THEN page.run_id END,
       CASE WHEN b.checked THEN now() END
  FROM unnest($2::uuid[], $3::integer[], $4::text[], $5::boolean[])
       AS b(block_id, position, text, checked)
  LEFT JOIN page ON true
ON CONFLICT (block_id) DO UPDATE
   SET position = EXCLUDED.position,
       text = EXCLUDED.text,
       status = CASE WHEN t.status = 'pending' AND EXCLUDED.status = 'skipped'
                     THEN 'skipped' ELSE t.status END,
       result = CASE WHEN t.status = 'pending' AND EXCLUDED.status = 'skipped'
                     THEN 'checked in Notion by a person before processing' ELSE t.result END,
       run_id = CASE WHEN t.status = 'pending' AND EXCLUDED.status = 'skipped'
                     THEN EXCLUDED.run_id ELSE t.run_id END,
       processed_at = CASE WHEN t.status = 'pending' AND EXCLUDED.status = 'skipped'
                           THEN now() ELSE t.processed_at END,
       updated_at = now()
 WHERE t.notion_page_id = EXCLUDED.notion_page_id
   AND (t.position, t.text, t.status) IS DISTINCT FROM
       (EXCLUDED.position, EXCLUDED.text,
        CASE WHEN t.status = 'pending' AND EXCLUDED.status = 'skipped'
             THEN 'skipped' ELSE t.status END);


-- name: todo_skip_vanished
-- Pending to-dos no longer on the page (deleted, or moved away) cannot be done: skipped,
-- settled by the page's run (counted in it, migration 0012).
-- $1 page, $2 block ids seen in a complete listing
UPDATE notion_todos t
   SET status = 'skipped', result = 'removed from the Notion page before processing',
       run_id = s.run_id, processed_at = now(), updated_at = now()
  FROM notion_batch_status s
 WHERE s.notion_page_id = $1 AND t.notion_page_id = $1 AND t.status = 'pending'
   AND NOT (t.block_id = ANY($2::uuid[]));


-- name: warning_record
-- A run's warnings (what the sync could not read and skipped), one row per run and block.
-- Says each block once per run; later readings only move last_seen_at and count.
-- $1 run, $2 block ids, $3 block types, $4 statuses, $5 codes, $6 messages
INSERT INTO notion_batch_run_warnings AS w (run_id, block_id, block_type, status, code, message)
SELECT $1::bigint, b.block_id, b.block_type, b.status, b.code, left(b.message, 2000)
  FROM unnest($2::uuid[], $3::text[], $4::integer[], $5::text[], $6::text[])
       AS b(block_id, block_type, status, code, message)
ON CONFLICT (run_id, block_id) DO UPDATE
   SET last_seen_at = now(), seen = w.seen + 1,
       status = EXCLUDED.status, code = EXCLUDED.code, message = EXCLUDED.message
RETURNING (xmax = 0) AS inserted;


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
-- Checked before a handler run (the first of a tick, and after each recording in Notion;
-- otherwise the previous outcome's commit answered it): a stopped, expired or taken-over
-- batch starts nothing new. The rule is notion_batch_held_by() (migration 0010).
-- $1 page, $2 owner
SELECT EXISTS (
    SELECT 1 FROM notion_batch_status s
     WHERE s.notion_page_id = $1 AND notion_batch_held_by(s, $2)
) AS may_start;


-- name: todo_record_outcome
-- A handler's outcome, done or skipped ($3). The status guard makes it happen once per to-do,
-- whoever tries to record it; a done to-do is to be checked in Notion, either is logged. The
-- run's counts follow the to-do's row (migration 0012's trigger). The same statement answers
-- todo_may_start's question for the next to-do (`may_continue`), so a to-do costs one round
-- trip, not two; it is false without a lease ($5, $6 NULL).
-- $1 block, $2 run, $3 outcome (done | skipped), $4 result, $5 page, $6 lease owner
WITH todo AS (
    UPDATE notion_todos
       SET status = $3::text, result = $4, run_id = $2, processed_at = now(),
           check_pending = check_pending OR $3::text = 'done', log_pending = true,
           updated_at = now()
     WHERE block_id = $1 AND status = 'pending'
    RETURNING block_id
)
SELECT (SELECT count(*) FROM todo) AS recorded,
       EXISTS (
           SELECT 1 FROM notion_batch_status s
            WHERE s.notion_page_id = $5::uuid AND notion_batch_held_by(s, $6::text)
       ) AS may_continue;


-- name: todo_record_failure
-- A handler raised. The to-do stays pending for a later tick until $4 attempts have failed,
-- then it is skipped with the error kept (and logged, and counted in the run by migration
-- 0012's trigger); `may_continue` as for
-- todo_record_outcome (status and attempts are NULL when the to-do was no longer pending).
-- $1 block, $2 run, $3 error, $4 max attempts, $5 page, $6 lease owner
WITH todo AS (
    UPDATE notion_todos
       SET attempts = attempts + 1,
           last_error = $3::text,
           status = CASE WHEN attempts + 1 >= $4::integer THEN 'skipped' ELSE 'pending' END,
           result = CASE WHEN attempts + 1 >= $4
                         THEN format('skipped after %s failed attempts: %s', attempts + 1, $3::text)
                    END,
           processed_at = CASE WHEN attempts + 1 >= $4 THEN now() END,
           log_pending = attempts + 1 >= $4,
           run_id = $2,
           updated_at = now()
     WHERE block_id = $1 AND status = 'pending'
    RETURNING status, attempts
)
SELECT (SELECT status FROM todo) AS status, (SELECT attempts FROM todo) AS attempts,
       EXISTS (
           SELECT 1 FROM notion_batch_status s
            WHERE s.notion_page_id = $5::uuid AND notion_batch_held_by(s, $6::text)
       ) AS may_continue;


-- name: fail_batch
-- The one way a worker fails a batch: its page is gone from Notion, its integration is not
-- configured here, or its ticks crash in a loop (worker/consumer.py). $1 page, $2 run, $3 reason
WITH run AS (
    UPDATE notion_batch_runs
       SET status = 'failed', end_reason = 'failed', ended_at = now(), message = $3::text
     WHERE id = $2::bigint AND status = 'running'
    RETURNING id, notion_page_id
)
UPDATE notion_batch_status s
   SET status = 'failed', message = $3::text, end_time = now(), next_tick_at = now(),
       last_run_at = now(), updated_at = now()
  FROM run
 WHERE s.notion_page_id = $1::uuid AND s.notion_page_id = run.notion_page_id
   AND s.run_id = run.id AND s.status = 'running'
RETURNING s.notion_page_id;


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


-- name: outbox_skip_uneditable
-- Notion refused to check a done to-do for reasons about that block (trashed, under a trashed
-- ancestor, deleted, unshared): it becomes skipped with the reason and Notion's answer, and
-- is never edited again; its log line (if still pending) is written with the reason. The
-- guard makes this happen once; the run's counts move from done to skipped (migration 0012's
-- trigger).
-- $1 block, $2 reason, $3 Notion's answer (status, code, message)
UPDATE notion_todos
   SET status = 'skipped',
       result = CASE WHEN result IS NULL OR result = '' THEN $2::text
                     ELSE format('%s (handler result: %s)', $2::text, result) END,
       last_error = $3::text, check_pending = false, updated_at = now()
 WHERE block_id = $1 AND status = 'done' AND check_pending
RETURNING result;


-- name: outbox_mark_logged
UPDATE notion_todos
   SET log_pending = false, logged_at = now(), updated_at = now()
 WHERE block_id = ANY($1::uuid[]);


-- name: run_log_state
-- The run's log block, and whether its log must be read back first (and may be yet). $1 run
SELECT log_block_id,
       log_reconcile_after IS NOT NULL AS reconcile_needed,
       log_reconcile_after <= now() AS reconcile_ready
  FROM notion_batch_runs
 WHERE id = $1;


-- name: run_log_set_block
-- $1 run, $2 log block
UPDATE notion_batch_runs SET log_block_id = $2 WHERE id = $1;


-- name: run_log_set_reconcile
-- $1 run, $2 seconds from now when the log may be read back (NULL: reconciled)
UPDATE notion_batch_runs
   SET log_reconcile_after = now() + make_interval(secs => $2::double precision)
 WHERE id = $1;


-- name: resync_take
-- The worker holding the page's lease takes (and clears) the re-read a page event asked for.
-- $1 page, $2 lease owner
UPDATE notion_batch_status
   SET resync_requested = false
 WHERE notion_page_id = $1 AND lease_owner = $2 AND resync_requested
RETURNING notion_page_id;


-- name: finish_tick
-- Releases the lease and writes the batch's summary (only while the batch still runs, so a
-- stop's or an expiry's message is not overwritten): the run's counts so far, as its status
-- and history count them (migration 0012), then what this tick did ($3). A re-read a page
-- event asked for and the tick could not do (it came after the tick's last look, or the tick
-- ran out of time) becomes a tick due now.
-- $1 page, $2 owner, $3 what the tick did
UPDATE notion_batch_status s
   SET message = CASE WHEN s.status = 'running'
                      THEN format('running — %s of %s to-dos processed (%s done, %s skipped), '
                                  '%s pending%s; last tick: %s',
                                  r.todos_done + r.todos_skipped,
                                  r.todos_done + r.todos_skipped + left_over.pending,
                                  r.todos_done, r.todos_skipped, left_over.pending,
                                  CASE WHEN left_over.retrying > 0
                                       THEN format(' (%s to retry after a failure)',
                                                   left_over.retrying)
                                       ELSE '' END,
                                  $3::text)
                      ELSE s.message END,
       next_tick_at = CASE WHEN s.resync_requested AND s.status = 'running'
                           THEN LEAST(s.next_tick_at, now()) ELSE s.next_tick_at END,
       resync_requested = false,
       last_run_at = now(), lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
  FROM notion_batch_runs r,
       LATERAL (SELECT count(*) AS pending, count(*) FILTER (WHERE t.attempts > 0) AS retrying
                  FROM notion_todos t
                 WHERE t.notion_page_id = $1 AND t.status = 'pending') left_over
 WHERE s.notion_page_id = $1 AND s.lease_owner = $2 AND r.id = s.run_id;


-- name: lease_release
UPDATE notion_batch_status
   SET lease_owner = NULL, lease_expires_at = NULL
 WHERE notion_page_id = $1 AND lease_owner = $2;


-- name: read_state
-- What the change rule (worker/changes.py) remembers of the page's last full read, at the
-- sync step: whether it is of this run, when, the stamp then, and the page events since.
-- $1 page
SELECT read_run_id, read_at, read_stamp, read_settled, read_events, notion_events
  FROM notion_batch_status
 WHERE notion_page_id = $1;


-- name: read_record
-- A full read of the page was merged: remember it, for the lease's holder only.
-- $1 page, $2 owner, $3 run, $4 when it began, $5 the page's stamp then, $6 settled,
-- $7 the event count as it began
UPDATE notion_batch_status
   SET read_run_id = $3, read_at = $4, read_stamp = $5, read_settled = $6, read_events = $7
 WHERE notion_page_id = $1 AND lease_owner = $2;
