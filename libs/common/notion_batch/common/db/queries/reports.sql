-- What the API reports on a page, read-only: its past runs and its to-dos. Run by
-- db/reports.py.


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


-- name: batch_state_counts
-- The console's overview: pages by batch state, and how many running ones are stalled.
-- $1 stall bound seconds
SELECT status, count(*) AS n,
       count(*) FILTER (WHERE notion_batch_stalled_since(s, $1) IS NOT NULL) AS stalled
  FROM notion_batch_status s
 GROUP BY status;


-- name: activity_last_minute
-- The console's overview: pages worked (a tick's work recorded: last_run_at) and to-dos
-- processed in the last minute. The to-dos' count reads every processed to-do's time (no
-- index on processed_at): fine for a console that asks every few seconds.
SELECT (SELECT count(*) FROM notion_batch_status
         WHERE last_run_at > now() - interval '1 minute') AS pages_worked,
       (SELECT count(*) FROM notion_todos
         WHERE processed_at > now() - interval '1 minute' AND status = 'done') AS todos_done,
       (SELECT count(*) FROM notion_todos
         WHERE processed_at > now() - interval '1 minute' AND status = 'skipped') AS todos_skipped;


-- name: rate_limiter_state
-- The shared Notion rate limiter's buckets, one per integration token (its hash), as last
-- written: the tokens then (negative: slots reserved ahead for waiting requests), and when.
-- The refill since is the workers' (their rate is their setting), not computed here.
SELECT integration, tokens, updated_at FROM notion_rate_limits
 ORDER BY integration;
