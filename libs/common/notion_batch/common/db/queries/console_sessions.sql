-- Console sessions ended by signing out. Run by db/console_sessions.py.


-- name: console_session_revoke
-- $1 session id, $2 when it would have expired. Signing out twice is one row.
WITH pruned AS (
    DELETE FROM console_revoked_sessions WHERE expires_at < now()
)
INSERT INTO console_revoked_sessions (session_id, expires_at)
VALUES ($1, $2)
ON CONFLICT (session_id) DO NOTHING;


-- name: console_session_revoked
-- $1 session id
SELECT EXISTS (SELECT 1 FROM console_revoked_sessions WHERE session_id = $1);
