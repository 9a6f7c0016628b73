-- The fleet's Notion calls per integration and minute. Run by db/notion_calls.py.


-- name: notion_calls_add
-- A worker's counts since its last flush, added in one statement whatever their number.
-- $1 integrations, $2 minutes, $3 calls, $4 rate-limited answers (arrays of one length)
INSERT INTO notion_call_minutes AS m (integration, minute, calls, rate_limited)
SELECT integration, minute, calls, rate_limited
  FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[])
       AS c (integration, minute, calls, rate_limited)
ON CONFLICT (minute, integration) DO UPDATE
   SET calls = m.calls + EXCLUDED.calls,
       rate_limited = m.rate_limited + EXCLUDED.rate_limited;


-- name: notion_calls_prune
-- Minutes older than $1 seconds are deleted.
DELETE FROM notion_call_minutes
 WHERE minute < now() - make_interval(secs => $1::double precision);


-- name: notion_calls_recent
-- The last full minute and the current one (the database's clock), per integration; an
-- integration without a call in either is not listed.
SELECT integration,
       coalesce(sum(calls) FILTER (WHERE minute < date_trunc('minute', now())), 0)::bigint
           AS last_minute_calls,
       coalesce(sum(rate_limited) FILTER (WHERE minute < date_trunc('minute', now())), 0)::bigint
           AS last_minute_rate_limited,
       coalesce(sum(calls) FILTER (WHERE minute >= date_trunc('minute', now())), 0)::bigint
           AS this_minute_calls,
       coalesce(sum(rate_limited) FILTER (WHERE minute >= date_trunc('minute', now())), 0)::bigint
           AS this_minute_rate_limited
  FROM notion_call_minutes
 WHERE minute >= date_trunc('minute', now()) - interval '1 minute'
 GROUP BY integration
 ORDER BY integration;
