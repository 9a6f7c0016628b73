-- The handler a batch chose at start ("handler" of the start request): an installed handler's
-- name, checked by the API against the installed ones. NULL: the worker's default
-- (TODO_HANDLER), as for every run started before this column existed.

ALTER TABLE notion_batch_runs
    ADD COLUMN handler text CHECK (handler IS NULL OR length(handler) BETWEEN 1 AND 200);
