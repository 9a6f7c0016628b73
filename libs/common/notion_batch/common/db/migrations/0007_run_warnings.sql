-- Warnings of a run: things on the page a worker could not read and skipped, such as a block
-- whose children Notion would not list (400 for an unsupported block type, 404 for a synced
-- copy whose original is not shared). One row per run and block: a block unreadable on every
-- tick is said once, with when it was last seen and on how many readings.

CREATE TABLE notion_batch_run_warnings (
    run_id          bigint NOT NULL REFERENCES notion_batch_runs (id) ON DELETE CASCADE,
    block_id        uuid NOT NULL,
    block_type      text NOT NULL CHECK (length(block_type) BETWEEN 1 AND 100),
    -- Notion's HTTP status and error code (validation_error, object_not_found…).
    status          integer,
    code            text NOT NULL CHECK (length(code) BETWEEN 1 AND 100),
    -- The whole warning for a person: the block, what Notion answered, Notion's message.
    message         text NOT NULL CHECK (length(message) <= 2000),
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    -- Readings of the page that met it (one per tick at most).
    seen            integer NOT NULL DEFAULT 1 CHECK (seen >= 1),
    PRIMARY KEY (run_id, block_id)
);
