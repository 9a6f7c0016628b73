-- A page's to-dos: sync from Notion, outcomes, and the outbox towards Notion.
-- Run by db/todos.py.


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
-- Checked before a handler run (the first of a tick, and after each recording in Notion;
-- otherwise the previous outcome's commit answered it): a stopped, expired or taken-over
-- batch starts nothing new. $1 page, $2 owner
SELECT EXISTS (
    SELECT 1 FROM notion_batch_status
     WHERE notion_page_id = $1 AND lease_owner = $2 AND status = 'running' AND end_time > now()
) AS may_start;


-- name: todo_record_done
-- The status guard makes "done" happen once per to-do, whoever tries to record it. The same
-- statement answers todo_may_start's question for the next to-do (`may_continue`), so a
-- to-do costs one round trip, not two; it is false without a lease ($5, $6 NULL).
-- $1 block, $2 run, $3 result, $4 log it, $5 page, $6 lease owner
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
SELECT (SELECT count(*) FROM todo) AS recorded,
       EXISTS (
           SELECT 1 FROM notion_batch_status
            WHERE notion_page_id = $5::uuid AND lease_owner = $6::text AND status = 'running'
              AND end_time > now()
       ) AS may_continue;


-- name: todo_record_skipped
-- A handler chose to skip the to-do; `may_continue` as for todo_record_done.
-- $1 block, $2 run, $3 reason, $4 log it, $5 page, $6 lease owner
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
SELECT (SELECT count(*) FROM todo) AS recorded,
       EXISTS (
           SELECT 1 FROM notion_batch_status
            WHERE notion_page_id = $5::uuid AND lease_owner = $6::text AND status = 'running'
              AND end_time > now()
       ) AS may_continue;


-- name: todo_record_failure
-- A handler raised. The to-do stays pending for a later tick until $4 attempts have failed,
-- then it is skipped with the error kept; `may_continue` as for todo_record_done (status and
-- attempts are NULL when the to-do was no longer pending).
-- $1 block, $2 run, $3 error, $4 max attempts, $5 log it, $6 page, $7 lease owner
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
SELECT (SELECT status FROM todo) AS status, (SELECT attempts FROM todo) AS attempts,
       EXISTS (
           SELECT 1 FROM notion_batch_status
            WHERE notion_page_id = $6::uuid AND lease_owner = $7::text AND status = 'running'
              AND end_time > now()
       ) AS may_continue;


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


-- name: run_log_blocks
-- The log blocks of every run of the page (they hold no to-dos). $1 page
SELECT log_block_id FROM notion_batch_runs
 WHERE notion_page_id = $1 AND log_block_id IS NOT NULL;


-- name: outbox_skip_uneditable
-- Notion refused to check a done to-do for reasons about that block (trashed, under a trashed
-- ancestor, deleted, unshared): it becomes skipped with the reason and Notion's answer, and
-- is never edited again; its log line (if still pending) is written with the reason. The
-- guard makes this happen once; the run's counts move from done to skipped.
-- $1 block, $2 reason, $3 Notion's answer (status, code, message)
WITH todo AS (
    UPDATE notion_todos
       SET status = 'skipped',
           result = CASE WHEN result IS NULL OR result = '' THEN $2::text
                         ELSE format('%s (handler result: %s)', $2::text, result) END,
           last_error = $3::text, check_pending = false, updated_at = now()
     WHERE block_id = $1 AND status = 'done' AND check_pending
    RETURNING run_id, result
), counted AS (
    UPDATE notion_batch_runs r
       SET todos_done = greatest(todos_done - 1, 0), todos_skipped = todos_skipped + 1
      FROM todo WHERE r.id = todo.run_id
)
SELECT result FROM todo;
