-- The peer's own tables (bench/peers/celery_peer): one row per page, the lock of its ticks,
-- and one row per to-do worked, its outcome. Nothing of the product's schema is used.
CREATE TABLE peer_pages (
    page_id      text PRIMARY KEY,
    -- The page's log toggle in Notion, made by its first tick.
    log_block_id text,
    ticks        integer NOT NULL DEFAULT 0,
    last_tick_at timestamptz
);

CREATE TABLE peer_todos (
    block_id text PRIMARY KEY,
    page_id  text NOT NULL REFERENCES peer_pages,
    status   text NOT NULL,
    result   text NOT NULL,
    done_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX peer_todos_page ON peer_todos (page_id);
