-- Crash loops (issue 12, point 2): a batch whose ticks keep crashing the worker fails after
-- WORKER_CRASH_LIMIT crashes in a row instead of being retried until it expires. The count is
-- kept on the run, in the database, because the redeliveries of a crashing tick (and the
-- page's next ticks) go to any worker, and workers restart. Written by workers only
-- (db/queries/crashes.sql); a tick the run works without crashing sets it back to 0.
ALTER TABLE notion_batch_runs
    ADD COLUMN tick_crashes integer NOT NULL DEFAULT 0 CHECK (tick_crashes >= 0),
    -- The latest crash, "<exception class>: <message>", for whoever reads the row.
    ADD COLUMN last_tick_crash text;
