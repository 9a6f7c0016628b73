-- Warnings of a run (what a worker skipped as unreadable), one row per run and block.
-- Run by db/warnings.py; read with the run history (reports.sql: run_history).


-- name: warning_record
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


-- name: warning_list
-- $1 run, $2 limit
SELECT block_id, block_type, status, code, message, first_seen_at, last_seen_at, seen
  FROM notion_batch_run_warnings
 WHERE run_id = $1
 ORDER BY first_seen_at, block_id
 LIMIT $2;
