-- The Notion integration a run works through ("integration" of the start request): its own
-- token and its own share of Notion's rate limit. 'default' is NOTION_TOKEN's, as for every
-- run started before this column existed. The API checks names against NOTION_INTEGRATIONS.

ALTER TABLE notion_batch_runs
    ADD COLUMN integration text NOT NULL DEFAULT 'default'
        CHECK (integration ~ '^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$');
