-- Page titles (issue 16, the console's search "by page id or title"): the title Notion gave
-- the last time a worker retrieved the page, kept on the page's row. Written by the worker
-- (read_record, with each full read that looked at the page), read by the console's list.
ALTER TABLE notion_batch_status
    ADD COLUMN page_title text CHECK (length(page_title) <= 2000);
