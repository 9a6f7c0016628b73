-- A page's batch and its runs: start, stop, status (API); ticks and expiry (scheduler). A
-- worker's failing a batch is fail_batch (ticks.sql). Run by db/batches.py.


-- name: start_batch
-- Turns a page's batch on and opens a run, atomically: of two concurrent starts exactly one
-- gets a row back (ON CONFLICT … WHERE only takes over a row that is not running).
-- $1 page, $2 interval s, $3 duration s, $4 message, $5 handler (NULL: the worker's default),
-- $6 integration
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
    INSERT INTO notion_batch_runs
        (id, notion_page_id, interval_seconds, started_at, ends_at, handler, integration)
    SELECT run_id, notion_page_id, interval_seconds, start_time, end_time, $5::text, $6::text
      FROM started
)
SELECT notion_page_id, run_id, start_time, end_time FROM started;


-- name: stop_batch
-- $1 page, $2 message
WITH stopped AS (
    UPDATE notion_batch_status
       SET status = 'completed', message = $2, end_time = now(), next_tick_at = now(),
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
-- $1 page, $2 stall bound seconds
SELECT s.notion_page_id, s.status, s.message, s.last_run_at, s.run_id, s.start_time,
       notion_batch_stalled_since(s, $2) AS stalled_since,
       s.end_time, s.interval_seconds, r.handler, r.integration, r.ticks, r.todos_done, r.todos_skipped,
       (SELECT count(*) FROM notion_todos t
         WHERE t.notion_page_id = s.notion_page_id AND t.status = 'pending') AS todos_pending
  FROM notion_batch_status s
  LEFT JOIN notion_batch_runs r ON r.id = s.run_id
 WHERE s.notion_page_id = $1;


-- name: running_batches
-- A page of the running list, in start order, after the cursor ($1 start time, $2 page id;
-- both NULL for the first page). $3 limit
SELECT notion_page_id, status, start_time, end_time
  FROM notion_batch_status
 WHERE status = 'running'
   AND ($1::timestamptz IS NULL OR (start_time, notion_page_id) > ($1::timestamptz, $2::uuid))
 ORDER BY start_time, notion_page_id
 LIMIT $3;


-- name: running_count
SELECT count(*) FROM notion_batch_status WHERE status = 'running';


-- name: claim_due_ticks
-- Claims up to $1 pages whose tick is due and moves each one's next tick on by whole
-- intervals past now: ticks missed while no scheduler ran are coalesced into this one
-- (counted in `missed`), never replayed as a burst. SKIP LOCKED lets several schedulers
-- share the work without ever claiming one page's tick twice. The claimed rows are updated
-- by page id, not through the ctid their lock returned: a row a worker updated after this
-- statement's snapshot is locked in its new version, which a TID scan under the old snapshot
-- does not see — the tick would be published without its next_tick_at moving, and emitted
-- again (tests/load/test_load.py caught it).
WITH due AS (
    SELECT notion_page_id, run_id, next_tick_at AS scheduled_at, interval_seconds,
           floor(extract(epoch FROM now() - next_tick_at) / interval_seconds)::integer AS missed
      FROM notion_batch_status d
     WHERE notion_batch_live(d) AND next_tick_at <= now()
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


-- name: claim_due_flushes
-- After a batch ends (stop, expiry, failure), its next_tick_at asks for record-only ticks:
-- outcomes Notion did not take yet (an outage during the last tick) are recorded after the
-- end, every interval (at least 10 s) until none is left, for up to a day.
WITH due AS (
    SELECT notion_page_id, run_id, next_tick_at AS scheduled_at, interval_seconds
      FROM notion_batch_status
     WHERE status <> 'running' AND next_tick_at <= now()
     ORDER BY next_tick_at
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), advanced AS (
    UPDATE notion_batch_status s
       SET next_tick_at = CASE
               WHEN s.end_time > now() - interval '1 day'
                    AND EXISTS (SELECT 1 FROM notion_todos t
                                 WHERE t.notion_page_id = s.notion_page_id
                                   AND (t.check_pending OR t.log_pending))
               THEN now() + make_interval(secs => GREATEST(s.interval_seconds, 10))
           END
      FROM due
     WHERE s.notion_page_id = due.notion_page_id
)
SELECT notion_page_id, run_id, scheduled_at, interval_seconds, 0 AS missed FROM due;


-- name: next_due_in
-- Seconds until the scheduler next has work (negative: already due): the earliest tick,
-- record-only tick or expiry, each the first entry of its index. NULL: nothing scheduled.
SELECT extract(epoch FROM LEAST(
           (SELECT min(next_tick_at) FROM notion_batch_status WHERE status = 'running'),
           (SELECT min(next_tick_at) FROM notion_batch_status
             WHERE status <> 'running' AND next_tick_at IS NOT NULL),
           (SELECT min(end_time) FROM notion_batch_status WHERE status = 'running')
       ) - clock_timestamp())::double precision AS seconds;


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
   SET status = 'completed', message = ended.message, next_tick_at = now(), updated_at = now()
  FROM ended
 WHERE s.notion_page_id = ended.notion_page_id AND s.run_id = ended.id
RETURNING s.notion_page_id, ended.id AS run_id, ended.message;


-- name: extend_lock
-- Locks the page's row for an extension, so an expiry or a stop cannot slip in between the
-- check and the update. $1 page
SELECT s.status, s.run_id, s.start_time, s.end_time, notion_batch_live(s) AS live
  FROM notion_batch_status s
 WHERE s.notion_page_id = $1
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


-- name: batch_list
-- The console's list: every page's batch, newest start first (never started: last, as if
-- started at the epoch), page id breaking ties, with its to-dos counted by status (as
-- page_todo_counts counts them), in pages after the cursor ($5 start time or the epoch, $6
-- page id; both NULL for the first page). $1 state (NULL: any), $2 a fragment of the page id
-- as hex digits without dashes (only [0-9a-f], so no LIKE wildcard gets in), $7 a fragment
-- of the page's title, its LIKE wildcards escaped with a backslash (a page matches either;
-- both NULL: any), $3 stall bound seconds, $4 limit
SELECT s.notion_page_id, s.page_title, s.status, s.message, s.start_time, s.end_time,
       s.last_run_at,
       notion_batch_stalled_since(s, $3) AS stalled_since,
       c.done AS todos_done, c.pending AS todos_pending, c.skipped AS todos_skipped
  FROM notion_batch_status s
 CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE t.status = 'done') AS done,
               count(*) FILTER (WHERE t.status = 'pending') AS pending,
               count(*) FILTER (WHERE t.status = 'skipped') AS skipped
          FROM notion_todos t
         WHERE t.notion_page_id = s.notion_page_id) c
 WHERE ($1::text IS NULL OR s.status = $1::text)
   AND (($2::text IS NULL AND $7::text IS NULL)
        OR replace(s.notion_page_id::text, '-', '') LIKE '%' || $2::text || '%'
        OR s.page_title ILIKE '%' || $7::text || '%' ESCAPE '\')
   AND ($5::timestamptz IS NULL
        OR (coalesce(s.start_time, 'epoch'), s.notion_page_id) < ($5::timestamptz, $6::uuid))
 ORDER BY coalesce(s.start_time, 'epoch') DESC, s.notion_page_id DESC
 LIMIT $4;
