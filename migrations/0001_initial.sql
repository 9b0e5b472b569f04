-- qr3-webhookd schema, version 1.
-- Times are integers: milliseconds since the Unix epoch (UTC).

-- Webhooks: a workspace's endpoints. Deleted webhooks are kept (deleted_at) so the
-- attempt log keeps its references; they are invisible to the API and the CLI.
CREATE TABLE webhooks (
    id                   TEXT    PRIMARY KEY CHECK (id LIKE 'wh\_%' ESCAPE '\'),
    workspace_id         TEXT    NOT NULL CHECK (length(workspace_id) BETWEEN 1 AND 128),
    url                  TEXT    NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events               TEXT    NOT NULL CHECK (json_valid(events) AND json_type(events) = 'array'
                                                 AND json_array_length(events) > 0),
    secret               TEXT    NOT NULL CHECK (length(secret) BETWEEN 16 AND 256),
    is_active            INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    disabled_reason      TEXT,
    disabled_at          INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    deleted_at           INTEGER,
    CHECK ((is_active = 1) = (disabled_at IS NULL)),
    CHECK (disabled_reason IS NULL OR disabled_at IS NOT NULL)
);
CREATE INDEX webhooks_by_workspace ON webhooks (workspace_id, id) WHERE deleted_at IS NULL;

-- The outbox: producers INSERT here, in their own transactions. Columns are loose on
-- purpose: a bad row is moved to rejected_events with a reason instead of failing the
-- producer's transaction or blocking the rows behind it.
CREATE TABLE outbox (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id          TEXT UNIQUE,
    workspace_id      TEXT,
    type              TEXT,
    data              TEXT,
    target_webhook_id TEXT,
    created_at        INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);

-- Outbox rows set aside, with the reason.
CREATE TABLE rejected_events (
    seq               INTEGER PRIMARY KEY,
    event_id          TEXT,
    workspace_id      TEXT,
    type              TEXT,
    data              BLOB,
    target_webhook_id TEXT,
    created_at        INTEGER NOT NULL,
    rejected_at       INTEGER NOT NULL,
    reason            TEXT    NOT NULL CHECK (length(reason) > 0)
);

-- Events that passed the checks, with the exact body that is signed and sent.
CREATE TABLE events (
    id            TEXT    PRIMARY KEY,
    workspace_id  TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    payload       BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    dispatched_at INTEGER NOT NULL
);

-- One job per (event, webhook). A pending job is due at available_at; a claimed one
-- carries a lease (owner, expiry) and a fencing token that its result must match.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    event_id         TEXT    NOT NULL REFERENCES events (id),
    webhook_id       TEXT    NOT NULL REFERENCES webhooks (id),
    state            TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'delivered', 'failed', 'paused', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    available_at     INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    lease_token      INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (event_id, webhook_id),
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL)),
    CHECK (state = 'pending' OR lease_owner IS NULL)
);
-- The hot indexes are keyed by time, so a busy daemon appends to a few pages instead of
-- touching one page per webhook: due jobs (claims, taken in time then creation order, so
-- the rows a claim updates sit together), live leases (the per-webhook cap).
CREATE INDEX jobs_due ON jobs (available_at, id, webhook_id) WHERE state = 'pending';
CREATE INDEX jobs_leased ON jobs (lease_expires_at, webhook_id) WHERE lease_owner IS NOT NULL;
-- Paused jobs of a disabled webhook, resumed when it is enabled again.
CREATE INDEX jobs_paused ON jobs (webhook_id) WHERE state = 'paused';

-- Every attempt, success or failure: the delivery log. Ids start with the time
-- (Identifier.makeOrdered), so the table is keyed by id, appended to in order, and read
-- newest first by id.
CREATE TABLE attempts (
    id               TEXT    PRIMARY KEY CHECK (id LIKE 'whd\_%' ESCAPE '\'),
    job_id           INTEGER NOT NULL REFERENCES jobs (id),
    webhook_id       TEXT    NOT NULL REFERENCES webhooks (id),
    event_id         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    status           TEXT    NOT NULL CHECK (status IN ('success', 'failed')),
    status_code      INTEGER CHECK (status_code IS NULL OR status_code BETWEEN 100 AND 999),
    response_time_ms INTEGER NOT NULL CHECK (response_time_ms >= 0),
    failure_class    TEXT,
    response_excerpt TEXT    NOT NULL DEFAULT '',
    next_retry_at    INTEGER,
    created_at       INTEGER NOT NULL,
    CHECK ((status = 'success') = (failure_class IS NULL)),
    CHECK (status = 'failed' OR next_retry_at IS NULL)
) WITHOUT ROWID;
CREATE INDEX attempts_by_webhook ON attempts (webhook_id, id);
