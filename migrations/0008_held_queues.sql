-- qr3-webhookd schema, version 8: an outage never costs an event.
--
-- Each webhook keeps a circuit (WebhookCore's DeliveryRules decide it): when its endpoint
-- fails, its other jobs wait and keep their attempts while one probe at a time goes out, no
-- earlier than paused_until. last_failure_at tells failures of attempts already in flight
-- (claimed before it, not counted again) from those of probes. disabled_by says who disabled
-- the webhook: recovery probes go only to webhooks disabled by failures or a 410 Gone.
ALTER TABLE webhooks ADD COLUMN failing_since INTEGER;
ALTER TABLE webhooks ADD COLUMN last_failure_at INTEGER;
ALTER TABLE webhooks ADD COLUMN paused_until INTEGER;
ALTER TABLE webhooks ADD COLUMN disabled_by TEXT
    CHECK (disabled_by IS NULL OR disabled_by = 'failures' OR disabled_by = 'gone' OR disabled_by = 'operator');
ALTER TABLE webhooks ADD COLUMN next_recovery_probe_at INTEGER;
UPDATE webhooks
SET disabled_by = CASE WHEN disabled_reason = 'disabled by hand' THEN 'operator' ELSE 'failures' END
WHERE is_active = 0;
UPDATE webhooks SET failing_since = updated_at, last_failure_at = updated_at WHERE consecutive_failures > 0;
CREATE INDEX webhooks_disabled ON webhooks (id) WHERE is_active = 0 AND deleted_at IS NULL;

-- A recovered delivery starts a new run of attempts: attempt numbers keep counting up in the log,
-- and the retry schedule applies to attempts - attempt_base. A probe job (a webhook.ping sent to
-- a disabled webhook by recovery-probe-interval) is the only job a disabled webhook is sent.
ALTER TABLE jobs ADD COLUMN attempt_base INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;

-- Producer event ids are unique per workspace, not across workspaces: one workspace can no
-- longer take another's id, nor learn from a duplicate answer that an id exists elsewhere.
-- A job names its event by id within its webhook's workspace, so its reference to events (id)
-- goes (edited in place, like 0007: a foreign key clause is not stored in the rows), and the
-- events and outbox tables are copied into tables keyed by workspace and id. The migrator runs
-- with foreign keys off and checks them before it commits.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'event_id         TEXT    NOT NULL REFERENCES events (id),', 'event_id         TEXT    NOT NULL,')
WHERE type = 'table' AND name = 'jobs';
PRAGMA writable_schema = OFF;

CREATE TABLE events_v8 (
    id            TEXT    NOT NULL,
    workspace_id  TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    payload       BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    dispatched_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
INSERT INTO events_v8 (id, workspace_id, type, payload, created_at, dispatched_at)
SELECT id, workspace_id, type, payload, created_at, dispatched_at FROM events;
DROP TABLE events;
ALTER TABLE events_v8 RENAME TO events;
-- A workspace's events by time: recovering a window of a webhook's events.
CREATE INDEX events_by_time ON events (workspace_id, created_at);

CREATE TABLE outbox_v8 (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id          TEXT,
    workspace_id      TEXT,
    type              TEXT,
    data              TEXT,
    target_webhook_id TEXT,
    created_at        INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    UNIQUE (workspace_id, event_id)
);
INSERT INTO outbox_v8 (seq, event_id, workspace_id, type, data, target_webhook_id, created_at)
SELECT seq, event_id, workspace_id, type, data, target_webhook_id, created_at FROM outbox;
-- The sequence goes on where it was, never reusing the number of a row already taken in.
DELETE FROM sqlite_sequence WHERE name = 'outbox_v8';
UPDATE sqlite_sequence SET name = 'outbox_v8' WHERE name = 'outbox';
DROP TABLE outbox;
ALTER TABLE outbox_v8 RENAME TO outbox;
