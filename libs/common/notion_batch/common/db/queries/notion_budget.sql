-- The fleet-wide Notion budget (a token bucket per integration). Run by db/notion_budget.py.


-- name: rate_reserve
-- Takes the next $4 slots of the integration's bucket and answers when they are due: the
-- bucket's pause (Retry-After) still to run, and the tokens left (negative: slots owed), from
-- which the caller computes each slot's wait (slot k of n: pause + max(0, -(tokens + n - k))
-- / rate). Slots are handed out in arrival order (each call reserves its own, even future
-- ones), so every caller waits its turn: no caller can overtake, none starves. The
-- database's clock is the one clock all workers share.
-- $1 integration, $2 rate per second, $3 burst, $4 slots
INSERT INTO notion_rate_limits AS b (integration, tokens, updated_at)
VALUES ($1, $3::double precision - $4::integer, clock_timestamp())
ON CONFLICT (integration) DO UPDATE
   SET tokens = LEAST($3::double precision,
                      b.tokens + GREATEST(0, extract(epoch FROM clock_timestamp() - b.updated_at))
                                 * $2::double precision) - $4::integer,
       updated_at = GREATEST(b.updated_at, clock_timestamp())
RETURNING GREATEST(0, extract(epoch FROM updated_at - clock_timestamp()))::double precision
              AS pause_seconds,
          tokens;


-- name: rate_pause
-- Notion said 429/529: nobody sends for $2 seconds. $1 integration, $2 seconds
UPDATE notion_rate_limits
   SET tokens = LEAST(tokens, 0),
       updated_at = GREATEST(updated_at, clock_timestamp() + make_interval(secs => $2::double precision))
 WHERE integration = $1;
