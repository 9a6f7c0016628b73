-- Crash loops: how many ticks of a run crashed in a row (worker). Run by db/crashes.py; the
-- batch itself is failed through fail_batch (ticks.sql), the one way a worker fails one.


-- name: record_tick_crash
-- One more crash of a tick of run $2 (of page $1); the row lock makes concurrent crashes on
-- several workers count one each. No row: the run is unknown (a tick naming a run that
-- never existed), nothing to count against.
-- $1 page, $2 run, $3 the latest crash, "<class>: <message>", $4 crashes to count (1, more
-- when earlier ones could not be written: the database was away)
UPDATE notion_batch_runs
   SET tick_crashes = tick_crashes + $4::integer, last_tick_crash = $3::text
 WHERE id = $2::bigint AND notion_page_id = $1::uuid
RETURNING tick_crashes, status;


-- name: reset_tick_crashes
-- A tick of the run was worked without crashing: the count starts again. Writes nothing
-- (and takes no row lock) when nothing crashed since the last reset, the common case.
-- $1 run
UPDATE notion_batch_runs
   SET tick_crashes = 0
 WHERE id = $1::bigint AND tick_crashes > 0;


-- name: stop_record_ticks
-- The record-only ticks of an ended run keep crashing: stop asking for them (claim_due_flushes
-- emits them while next_tick_at is set). Only for that run, and only while it is not running
-- again: a restart owns next_tick_at from then on.
-- $1 page, $2 run
UPDATE notion_batch_status
   SET next_tick_at = NULL, updated_at = now()
 WHERE notion_page_id = $1::uuid AND run_id = $2::bigint AND status <> 'running'
   AND next_tick_at IS NOT NULL
RETURNING notion_page_id;
