-- Starts under an Idempotency-Key: the key's claim and the first answer kept for its
-- retries (the start itself is start_batch, in batches.sql). Run by db/starts.py.


-- name: idempotency_claim
-- Claims an Idempotency-Key for this request, or takes over an expired one. A concurrent
-- claim of the same key waits here until the first transaction ends: then it finds the first
-- answer (committed) or claims the key itself (the first one rolled back).
-- $1 client, $2 key, $3 request hash, $4 seconds the answer is kept
INSERT INTO api_idempotency_keys AS k (client, idempotency_key, request_hash, expires_at)
VALUES ($1, $2, $3, now() + make_interval(secs => $4::double precision))
ON CONFLICT (client, idempotency_key) DO UPDATE
   SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL,
       created_at = now(), expires_at = EXCLUDED.expires_at
 WHERE k.expires_at <= now()
RETURNING true AS claimed;


-- name: idempotency_answer
-- The answer kept for a key claimed earlier. $1 client, $2 key
SELECT request_hash, status_code, response
  FROM api_idempotency_keys
 WHERE client = $1 AND idempotency_key = $2;


-- name: idempotency_store
-- $1 client, $2 key, $3 status code, $4 response body (JSON text)
UPDATE api_idempotency_keys
   SET status_code = $3, response = $4::json
 WHERE client = $1 AND idempotency_key = $2;


-- name: idempotency_purge
-- Drops some expired answers; run now and then by claims, so the table stays small without
-- a job of its own. SKIP LOCKED: never wait on a key someone is claiming. $1 limit
DELETE FROM api_idempotency_keys
 WHERE ctid IN (SELECT ctid FROM api_idempotency_keys
                 WHERE expires_at < now()
                 ORDER BY expires_at
                 LIMIT $1
                   FOR UPDATE SKIP LOCKED);
