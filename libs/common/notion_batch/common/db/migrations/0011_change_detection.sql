-- Change detection (issue 15): a tick reads a page's blocks in full only when the page may
-- have changed since the last full read; otherwise it costs one Notion call (the page's
-- last_edited_time) or, where webhooks are the change signal, none. The rule is the worker's
-- (worker/changes.py); these columns are what it remembers of the last full read.
ALTER TABLE notion_batch_status
    -- The run whose full read this is: each run's first tick reads in full.
    ADD COLUMN read_run_id bigint,
    -- When the last full read began (the worker's clock, taken before it asked Notion).
    ADD COLUMN read_at timestamptz,
    -- The page's last_edited_time as Notion gave it just before that read (NULL: not looked).
    ADD COLUMN read_stamp timestamptz,
    -- That look came after the stamp's minute had passed, so an edit after it must show as a
    -- later stamp (Notion rounds stamps down to the minute): the stamp can prove "unchanged".
    ADD COLUMN read_settled boolean NOT NULL DEFAULT false,
    -- Page events by people (Notion webhooks) counted for the page, and that count as the
    -- last full read began: a difference means an event came since. Written by the API.
    ADD COLUMN notion_events bigint NOT NULL DEFAULT 0,
    ADD COLUMN read_events bigint NOT NULL DEFAULT 0;
