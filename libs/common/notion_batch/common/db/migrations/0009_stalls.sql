-- Stalls (issue 13): a running batch that makes no progress while its ticks fall due is said
-- so over the API and counted in its run's history, and set going again. The rule of "no
-- progress" has one home, the function below, read by the API's status (at read time, so it
-- holds even with no scheduler running) and by the scheduler's stall watch.
ALTER TABLE notion_batch_status
    -- Owned by the scheduler's stall watch: since when the batch has made no progress, while
    -- it is seen stalled; NULL once a tick finished after that.
    ADD COLUMN stalled_since timestamptz;

ALTER TABLE notion_batch_runs
    ADD COLUMN stalls integer NOT NULL DEFAULT 0 CHECK (stalls >= 0),
    ADD COLUMN last_stalled_at timestamptz;

-- Since when a batch has made no progress, or NULL if it is not stalled: it runs, no tick has
-- finished (last_run_at, or its start) for longer than the bound (at least 3 intervals), and
-- no worker holds a live lease on it (a long tick renews its lease: that is progress).
CREATE FUNCTION notion_batch_stalled_since(s notion_batch_status, bound_seconds double precision)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN s.status = 'running'
         AND (s.lease_owner IS NULL OR s.lease_expires_at < now())
         AND greatest(s.start_time, s.last_run_at)
             < now() - make_interval(secs => greatest(bound_seconds, 3.0 * s.interval_seconds))
        THEN greatest(s.start_time, s.last_run_at)
    END
$$;
