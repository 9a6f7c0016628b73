-- Room on each page of notion_batch_runs for the scheduler's update of a run's tick counts
-- (claim_due_ticks, once per tick): with the page full, every such update is a new tuple on
-- another page plus an entry in each of the table's indexes; with room on the page and no
-- indexed column changed, PostgreSQL makes it a heap-only (HOT) update — one tuple, no index
-- entries (https://www.postgresql.org/docs/15/storage-hot.html). At a million batches ticking
-- once a minute that is 16,667 updates a second. Applies to pages written from now on:
-- existing rows move into such pages as they are updated (a VACUUM FULL would repack them
-- at once, but holds an exclusive lock).
ALTER TABLE notion_batch_runs SET (fillfactor = 70);
