-- The lease rule (issue 14): "this worker still holds the page's lease, and the batch still
-- runs" was written out in every statement that asked it, and its parts in others. Each part
-- has one home now, a function of the page's row. Each is one SQL expression, so PostgreSQL
-- inlines it into the statement calling it: plans, index use and row locks are those of the
-- expression written out, and now() is the calling transaction's, as before.

-- The batch runs and its end time has not come (the scheduler completes it soon after).
CREATE FUNCTION notion_batch_live(s notion_batch_status)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT s.status = 'running' AND s.end_time > now()
$$;

-- A worker holds an unexpired lease on the page: another one must not take it.
CREATE FUNCTION notion_batch_leased(s notion_batch_status)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT s.lease_owner IS NOT NULL AND s.lease_expires_at >= now()
$$;

-- The lease rule: `owner` holds the page's lease and the batch is live, so `owner` may start
-- a to-do. The lease's own expiry is not asked: until another worker takes the page over, the
-- lease is still the owner's (and its next renewal succeeds).
CREATE FUNCTION notion_batch_held_by(s notion_batch_status, owner text)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT s.lease_owner = owner AND notion_batch_live(s)
$$;

-- As in migration 0009, with "no worker holds a live lease" told by notion_batch_leased().
CREATE OR REPLACE FUNCTION notion_batch_stalled_since(
    s notion_batch_status, bound_seconds double precision
)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN s.status = 'running'
         AND NOT notion_batch_leased(s)
         AND greatest(s.start_time, s.last_run_at)
             < now() - make_interval(secs => greatest(bound_seconds, 3.0 * s.interval_seconds))
        THEN greatest(s.start_time, s.last_run_at)
    END
$$;
