-- Batch-end notifications: an outbox written in the same transaction that ends a run, and
-- one delivery state per (run, channel), worked by the scheduler's notifier.
--
-- A run ends in three places (the API's stop, the scheduler's expiry, a worker's failure),
-- each setting notion_batch_runs.ended_at. A trigger records "a notification is owed" when
-- ended_at goes from NULL to a value, so no statement that ends a run (today's or a future
-- one) can forget it, and the record commits or rolls back with the end itself.

CREATE TABLE notion_batch_notifications (
    run_id          bigint PRIMARY KEY REFERENCES notion_batch_runs (id) ON DELETE CASCADE,
    notion_page_id  uuid NOT NULL,
    end_reason      text NOT NULL CHECK (end_reason IN ('expired', 'stopped', 'failed')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- The summary sent on every channel (JSON, written by the notifier once the run's last
    -- tick is over), so that each channel and each retry tells the same story.
    summary         jsonb,
    -- When the notifier turned this row into deliveries (one per configured channel whose
    -- NOTIFY_ON includes the reason; none when no channel is configured). NULL: not yet.
    expanded_at     timestamptz
);

CREATE INDEX notion_batch_notifications_new_idx
    ON notion_batch_notifications (created_at) WHERE expanded_at IS NULL;

CREATE TABLE notion_batch_notification_deliveries (
    run_id           bigint NOT NULL REFERENCES notion_batch_notifications (run_id) ON DELETE CASCADE,
    channel          text NOT NULL CHECK (channel IN ('webhook', 'slack', 'email')),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'abandoned')),
    -- Attempts claimed so far (a claim increments it before sending).
    attempts         integer NOT NULL DEFAULT 0,
    -- Pending: when the next attempt may be claimed. While an attempt is in flight it is the
    -- end of the claim's lease, so a delivery whose notifier died is claimed again then.
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    PRIMARY KEY (run_id, channel)
);

CREATE INDEX notion_batch_notification_deliveries_due_idx
    ON notion_batch_notification_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE FUNCTION notion_batch_notification_owed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notion_batch_notifications (run_id, notion_page_id, end_reason)
    VALUES (NEW.id, NEW.notion_page_id, NEW.end_reason)
    ON CONFLICT (run_id) DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER notion_batch_runs_ended
    AFTER UPDATE OF ended_at ON notion_batch_runs
    FOR EACH ROW
    WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL AND NEW.end_reason IS NOT NULL)
    EXECUTE FUNCTION notion_batch_notification_owed();
