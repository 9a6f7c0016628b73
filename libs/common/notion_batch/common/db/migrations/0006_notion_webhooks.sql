-- Notion webhooks (POST /api/v1/notion/webhook[/{integration}]): the verification requests
-- Notion sends when a subscription is created, the page events already acted on, and the flag
-- that asks a worker busy on a page to read it again before it lets go. All written by the API
-- (the flag is cleared by the worker holding the page's lease).

-- A subscription's verification request, kept for the operator to read (GET
-- /api/v1/notion/webhook-verification, write scope) and paste into Notion. Anyone can POST
-- one, so it is never used to check signatures: that token comes from the environment
-- (NOTION_WEBHOOK_VERIFICATION_TOKEN[_<NAME>]) once Notion accepted it. The last few per
-- integration are kept, so a forged request cannot hide the real one.
CREATE TABLE notion_webhook_verifications (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration         text NOT NULL
                        CHECK (integration ~ '^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$'),
    verification_token  text NOT NULL CHECK (length(verification_token) BETWEEN 1 AND 500),
    -- Where the request came from, as the API saw it (a proxy's address behind one).
    remote_address      text,
    received_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX notion_webhook_verifications_integration_idx
    ON notion_webhook_verifications (integration, id DESC);

-- Page events that made a running page due (or asked its worker to read it again), by
-- Notion's event id: a delivery repeated by Notion is then answered without acting twice.
-- Rows older than two days are deleted as the page's later events arrive.
CREATE TABLE notion_webhook_events (
    event_id        text PRIMARY KEY CHECK (length(event_id) BETWEEN 1 AND 200),
    notion_page_id  uuid NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX notion_webhook_events_page_idx ON notion_webhook_events (notion_page_id, received_at);

-- Set by the API when a page event arrives while a worker holds the page's lease: the worker
-- reads the page again and works what is new before it releases the page (a tick of its own
-- would find the page busy and be coalesced into nothing).
ALTER TABLE notion_batch_status
    ADD COLUMN resync_requested boolean NOT NULL DEFAULT false;
