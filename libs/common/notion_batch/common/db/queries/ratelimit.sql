-- The shared Notion rate limit. Run by db/ratelimit.py.


-- name: rate_reserve
-- Takes the next slot of the integration's bucket and answers how long to wait for it.
-- Slots are handed out in arrival order (each call reserves one, even a future one), so every
-- caller waits its turn: no caller can overtake, none starves. The database's clock is the one
-- clock all workers share.
-- $1 integration, $2 rate per second, $3 burst
INSERT INTO notion_rate_limits AS b (integration, tokens, updated_at)
VALUES ($1, $3::double precision - 1, clock_timestamp())
ON CONFLICT (integration) DO UPDATE
   SET tokens = LEAST($3::double precision,
                      b.tokens + GREATEST(0, extract(epoch FROM clock_timestamp() - b.updated_at))
                                 * $2::double precision) - 1,
       updated_at = GREATEST(b.updated_at, clock_timestamp())
RETURNING GREATEST(0, extract(epoch FROM updated_at - clock_timestamp()))
          + GREATEST(0, -tokens) / $2::double precision AS wait_seconds;


-- name: rate_pause
-- Notion said 429/529: nobody sends for $2 seconds. $1 integration, $2 seconds
UPDATE notion_rate_limits
   SET tokens = LEAST(tokens, 0),
       updated_at = GREATEST(updated_at, clock_timestamp() + make_interval(secs => $2::double precision))
 WHERE integration = $1;
