-- What the API reports and changes beyond start/stop: a page's past runs, its to-dos,
-- extending a running batch, and the answers kept for Idempotency-Keys. Run by db/history.py.


-- name: page_known
-- $1 page
SELECT EXISTS (SELECT 1 FROM notion_batch_status WHERE notion_page_id = $1) AS known;


-- name: run_history
-- The page's runs, newest first, before a cursor (keyset pagination on the run id).
-- $1 page, $2 before run id (NULL: from the newest), $3 limit
-- With each run its first 100 warnings (notion_batch_run_warnings), oldest first, as JSON.
SELECT r.id AS run_id, status, end_reason, message, interval_seconds, started_at, ends_at,
       ended_at, ticks, ticks_coalesced, todos_done, todos_skipped, handler, integration,
       stalls, last_stalled_at,
       COALESCE((SELECT json_agg(json_build_object(
                            'block_id', w.block_id, 'block_type', w.block_type,
                            'status', w.status, 'code', w.code, 'message', w.message,
                            'first_seen_at', w.first_seen_at, 'last_seen_at', w.last_seen_at,
                            'seen', w.seen)
                        ORDER BY w.first_seen_at, w.block_id)
                   FROM (SELECT * FROM notion_batch_run_warnings
                          WHERE run_id = r.id
                          ORDER BY first_seen_at, block_id
                          LIMIT 100) w), '[]') AS warnings
  FROM notion_batch_runs r
 WHERE notion_page_id = $1 AND ($2::bigint IS NULL OR r.id < $2::bigint)
 ORDER BY r.id DESC
 LIMIT $3;


-- name: page_todos
-- The page's to-dos in page order after a cursor (keyset pagination on position, block id),
-- optionally only those of some statuses.
-- $1 page, $2 statuses (NULL: all), $3 after position, $4 after block id, $5 limit
SELECT block_id, position, text, status, attempts, last_error, result, run_id, processed_at,
       checked_in_notion_at, first_seen_at
  FROM notion_todos
 WHERE notion_page_id = $1
   AND ($2::text[] IS NULL OR status = ANY($2::text[]))
   AND (position, block_id) > ($3::integer, $4::uuid)
 ORDER BY position, block_id
 LIMIT $5;


-- name: page_todo_counts
-- $1 page
SELECT status, count(*) AS n FROM notion_todos WHERE notion_page_id = $1 GROUP BY status;


-- name: extend_lock
-- Locks the page's row for an extension, so an expiry or a stop cannot slip in between the
-- check and the update. $1 page
SELECT status, run_id, start_time, end_time, end_time > now() AS live
  FROM notion_batch_status
 WHERE notion_page_id = $1
   FOR UPDATE;


-- name: extend_batch
-- Moves the running batch's end and its run's planned end together.
-- $1 page, $2 run, $3 seconds to add
WITH extended AS (
    UPDATE notion_batch_status
       SET end_time = end_time + make_interval(secs => $3::double precision), updated_at = now()
     WHERE notion_page_id = $1 AND run_id = $2 AND status = 'running'
    RETURNING notion_page_id, run_id, start_time, end_time, interval_seconds
), run AS (
    UPDATE notion_batch_runs r
       SET ends_at = extended.end_time
      FROM extended
     WHERE r.id = extended.run_id
)
SELECT notion_page_id, run_id, start_time, end_time, interval_seconds FROM extended;


-- name: idempotency_claim
-- Claims an Idempotency-Key for this request, or takes over an expired one. A concurrent
-- claim of the same key waits here until the first transaction ends: then it finds the first
-- answer (committed) or claims the key itself (the first one rolled back).
-- $1 client, $2 key, $3 request hash, $4 seconds the answer is kept
INSERT INTO api_idempotency_keys AS k (client, idempotency_key, request_hash, expires_at)
VALUES ($1, $2, $3, now() + make_interval(secs => $4::double precision))
ON CONFLICT (client, idempotency_key) DO UPDATE
   SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL,
       created_at = now(), expires_at = EXCLUDED.expires_at
 WHERE k.expires_at <= now()
RETURNING true AS claimed;


-- name: idempotency_answer
-- The answer kept for a key claimed earlier. $1 client, $2 key
SELECT request_hash, status_code, response
  FROM api_idempotency_keys
 WHERE client = $1 AND idempotency_key = $2;


-- name: idempotency_store
-- $1 client, $2 key, $3 status code, $4 response body (JSON text)
UPDATE api_idempotency_keys
   SET status_code = $3, response = $4::json
 WHERE client = $1 AND idempotency_key = $2;


-- name: idempotency_purge
-- Drops some expired answers; run now and then by claims, so the table stays small without
-- a job of its own. SKIP LOCKED: never wait on a key someone is claiming. $1 limit
DELETE FROM api_idempotency_keys
 WHERE ctid IN (SELECT ctid FROM api_idempotency_keys
                 WHERE expires_at < now()
                 ORDER BY expires_at
                 LIMIT $1
                   FOR UPDATE SKIP LOCKED);
