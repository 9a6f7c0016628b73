-- The console (issue 16): the fleet's Notion calls per minute, readable by the API, and
-- console sessions that signing out ends.

-- Notion calls (every HTTP attempt, retries included, as notion_batch_notion_requests_total
-- counts them) and the 429 answers among them, per integration and UTC minute. Each worker
-- counts in memory and adds its counts every few seconds in one statement, so the table is
-- written a few times a minute per worker, never once per call. Rows older than a day are
-- deleted by the workers as they add theirs.
CREATE TABLE notion_call_minutes (
    -- The integration's name (NOTION_INTEGRATIONS; `default` is NOTION_TOKEN's), not its token.
    integration   text NOT NULL CHECK (length(integration) BETWEEN 1 AND 100),
    minute        timestamptz NOT NULL CHECK (minute = date_trunc('minute', minute)),
    calls         bigint NOT NULL DEFAULT 0 CHECK (calls >= 0),
    rate_limited  bigint NOT NULL DEFAULT 0 CHECK (rate_limited >= 0 AND rate_limited <= calls),
    PRIMARY KEY (minute, integration)
);

-- Console sessions ended by signing out, until they would have expired anyway. A session is
-- a signed cookie any replica can check alone; this table is what makes a copy of the cookie
-- worthless once its person signed out. Rows past their expiry are deleted at each sign-out.
CREATE TABLE console_revoked_sessions (
    -- The random id inside the signed cookie (never the API key, nor the cookie itself).
    session_id  text PRIMARY KEY CHECK (length(session_id) BETWEEN 16 AND 64),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX console_revoked_sessions_expiry_idx ON console_revoked_sessions (expires_at);
