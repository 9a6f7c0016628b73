-- Counts that agree (issue 16). A run's done and skipped counts are its to-dos in the to-do
-- table: those whose run_id is the run and whose status is done or skipped, whoever settled
-- them — its handler, its failed attempts, Notion refusing the check, or a person checking or
-- removing the to-do before the run did it (the sync gives those the page's run). The status
-- of a page, its history and its to-do list read the same rows, so their counts agree.
--
-- notion_batch_runs.todos_done / todos_skipped stay, as that count kept up to date by the
-- trigger below: every statement that changes a to-do's status or run is counted by it, and
-- no statement counts on its own any more (the counters the outcome statements kept missed
-- the to-dos a person checked first).

-- To-dos the sync settled before this migration (checked by a person, or removed, before
-- the run did them) had no run: give each the page's run that was going when it was settled
-- (first seen, for one already checked then).
UPDATE notion_todos t
   SET run_id = (SELECT r.id FROM notion_batch_runs r
                  WHERE r.notion_page_id = t.notion_page_id
                    AND r.started_at <= coalesce(t.processed_at, t.first_seen_at)
                  ORDER BY r.started_at DESC, r.id DESC
                  LIMIT 1),
       processed_at = coalesce(t.processed_at, t.first_seen_at)
 WHERE t.run_id IS NULL AND t.status = 'skipped';

UPDATE notion_batch_runs r
   SET todos_done = c.done, todos_skipped = c.skipped
  FROM (SELECT r2.id,
               count(t.block_id) FILTER (WHERE t.status = 'done') AS done,
               count(t.block_id) FILTER (WHERE t.status = 'skipped') AS skipped
          FROM notion_batch_runs r2
          LEFT JOIN notion_todos t ON t.run_id = r2.id
         GROUP BY r2.id) c
 WHERE r.id = c.id AND (r.todos_done, r.todos_skipped) IS DISTINCT FROM (c.done, c.skipped);

-- A settled to-do moves its run's count by one; a change of status or of run moves it from
-- one count (or run) to the other. Pending to-dos are counted by no run.
CREATE FUNCTION notion_todos_count_for_run()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_run bigint;
    new_run bigint;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.status <> 'pending' THEN
        old_run := OLD.run_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status <> 'pending' THEN
        new_run := NEW.run_id;
    END IF;
    IF old_run IS NOT DISTINCT FROM new_run THEN
        -- One row to update (or none): the status changed within the run.
        UPDATE notion_batch_runs
           SET todos_done = todos_done - (OLD.status = 'done')::integer
                                       + (NEW.status = 'done')::integer,
               todos_skipped = todos_skipped - (OLD.status = 'skipped')::integer
                                             + (NEW.status = 'skipped')::integer
         WHERE id = new_run;
        RETURN NULL;
    END IF;
    IF old_run IS NOT NULL THEN
        UPDATE notion_batch_runs
           SET todos_done = todos_done - (OLD.status = 'done')::integer,
               todos_skipped = todos_skipped - (OLD.status = 'skipped')::integer
         WHERE id = old_run;
    END IF;
    IF new_run IS NOT NULL THEN
        UPDATE notion_batch_runs
           SET todos_done = todos_done + (NEW.status = 'done')::integer,
               todos_skipped = todos_skipped + (NEW.status = 'skipped')::integer
         WHERE id = new_run;
    END IF;
    RETURN NULL;
END
$$;

-- Fired only for the rows that change a count, so the sync's merges and the outbox's marks
-- (most of the writes) cost nothing more.
CREATE TRIGGER notion_todos_counted_on_insert
    AFTER INSERT ON notion_todos
    FOR EACH ROW WHEN (NEW.status <> 'pending' AND NEW.run_id IS NOT NULL)
    EXECUTE FUNCTION notion_todos_count_for_run();

CREATE TRIGGER notion_todos_counted_on_update
    AFTER UPDATE OF status, run_id ON notion_todos
    FOR EACH ROW WHEN ((OLD.status, OLD.run_id) IS DISTINCT FROM (NEW.status, NEW.run_id)
                       AND (OLD.status <> 'pending' OR NEW.status <> 'pending'))
    EXECUTE FUNCTION notion_todos_count_for_run();

CREATE TRIGGER notion_todos_counted_on_delete
    AFTER DELETE ON notion_todos
    FOR EACH ROW WHEN (OLD.status <> 'pending' AND OLD.run_id IS NOT NULL)
    EXECUTE FUNCTION notion_todos_count_for_run();
