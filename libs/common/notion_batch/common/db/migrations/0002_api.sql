-- The API's own state: the answers to starts sent with an Idempotency-Key, and an index for
-- listing a page's to-dos in page order (the existing one covers pending to-dos only).

CREATE TABLE api_idempotency_keys (
    -- Who sent the request: the API key's name (the caller's address while API_AUTH=disabled).
    -- Idempotency keys are per client: one can neither collide with nor read another's answer.
    client           text NOT NULL,
    idempotency_key  text NOT NULL,
    -- SHA-256 of what the request means (operation and normalised body): reusing a key for a
    -- different request is refused instead of answered with the first request's result.
    request_hash     text NOT NULL,
    -- The first answer, verbatim (json keeps the text as sent). Written in the same
    -- transaction as the claim, so never seen NULL.
    status_code      integer,
    response         json,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (client, idempotency_key)
);

CREATE INDEX api_idempotency_keys_expiry_idx ON api_idempotency_keys (expires_at);

CREATE INDEX notion_todos_page_order_idx ON notion_todos (notion_page_id, position, block_id);
