-- qr3-webhookd schema on PostgreSQL, version 1: the same tables as the SQLite schema at its
-- version 10, so both stores apply the same rules to the same rows. Times are bigints:
-- milliseconds since the Unix epoch (UTC). Booleans are smallints (0, 1) as in SQLite, so the
-- copy between the two moves values as they are. Identifiers (ids, workspace ids and the columns
-- naming them) are COLLATE "C": compared byte by byte as SQLite does, so time-ordered ids
-- (`whd_`, `evt_`, base 62 in ASCII order) sort by time whatever the database's locale.

-- Webhooks: a workspace's endpoints. Deleted webhooks are kept (deleted_at) so the attempt log
-- keeps its references; they are invisible to the API and the CLI.
CREATE TABLE webhooks (
    id                         text     COLLATE "C" PRIMARY KEY CHECK (id LIKE 'wh\_%'),
    workspace_id               text     COLLATE "C" NOT NULL CHECK (length(workspace_id) BETWEEN 1 AND 128),
    url                        text     NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events                     text     NOT NULL CHECK (jsonb_typeof(events::jsonb) = 'array'
                                                        AND jsonb_array_length(events::jsonb) > 0),
    secret                     text     NOT NULL CHECK (length(secret) BETWEEN 16 AND 256),
    is_active                  smallint NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    consecutive_failures       integer  NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    disabled_reason            text,
    disabled_at                bigint,
    created_at                 bigint   NOT NULL,
    updated_at                 bigint   NOT NULL,
    deleted_at                 bigint,
    failing_since              bigint,
    last_failure_at            bigint,
    paused_until               bigint,
    disabled_by                text     CHECK (disabled_by IN ('failures', 'gone', 'operator')),
    next_recovery_probe_at     bigint,
    jobs_to_settle             smallint NOT NULL DEFAULT 0,
    previous_secret            text     CHECK (previous_secret IS NULL OR length(previous_secret) BETWEEN 16 AND 256),
    previous_secret_expires_at bigint,
    headers                    text     CHECK (headers IS NULL OR (jsonb_typeof(headers::jsonb) = 'array'
                                                   AND jsonb_array_length(headers::jsonb) BETWEEN 1 AND 10)),
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL)),
    CHECK ((is_active = 1) = (disabled_at IS NULL)),
    CHECK (disabled_reason IS NULL OR disabled_at IS NOT NULL)
);
CREATE INDEX webhooks_by_workspace ON webhooks (workspace_id, id) WHERE deleted_at IS NULL;
CREATE INDEX webhooks_disabled ON webhooks (id) WHERE is_active = 0 AND deleted_at IS NULL;
CREATE INDEX webhooks_settling ON webhooks (id) WHERE jobs_to_settle = 1;
CREATE INDEX webhooks_failing ON webhooks (id)
    WHERE consecutive_failures > 0 AND is_active = 1 AND deleted_at IS NULL;

-- The outbox: producers INSERT here, in their own transactions. Columns are loose on purpose: a
-- bad row is moved to rejected_events with a reason instead of failing the producer's
-- transaction or blocking the rows behind it. Each insert statement notifies qr3_outbox at
-- commit, which wakes every daemon listening.
CREATE TABLE outbox (
    seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id          text COLLATE "C",
    workspace_id      text COLLATE "C",
    type              text,
    data              text,
    target_webhook_id text COLLATE "C",
    created_at        bigint NOT NULL DEFAULT ((extract(epoch FROM clock_timestamp()) * 1000)::bigint),
    UNIQUE (workspace_id, event_id)
);
CREATE FUNCTION qr3_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('qr3_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION qr3_outbox_notify();
-- Every row is deleted within milliseconds of its insert: vacuum it every thousand rows.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000);

-- Outbox rows set aside, with the reason.
CREATE TABLE rejected_events (
    seq               bigint PRIMARY KEY,
    event_id          text COLLATE "C",
    workspace_id      text COLLATE "C",
    type              text,
    data              text,
    target_webhook_id text COLLATE "C",
    created_at        bigint NOT NULL,
    rejected_at       bigint NOT NULL,
    reason            text   NOT NULL CHECK (length(reason) > 0)
);

-- Events that passed the checks, with the exact body that is signed and sent. An event that
-- matches more webhooks than one transaction makes jobs for keeps its place in fanout_after.
CREATE TABLE events (
    id            text   COLLATE "C" NOT NULL,
    workspace_id  text   COLLATE "C" NOT NULL,
    type          text   NOT NULL,
    payload       text   NOT NULL,
    created_at    bigint NOT NULL,
    dispatched_at bigint NOT NULL,
    fanout_after  text   COLLATE "C",
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX events_by_time ON events (workspace_id, created_at);
CREATE INDEX events_by_arrival ON events (dispatched_at, workspace_id, id);
CREATE INDEX events_fanning_out ON events (dispatched_at) WHERE fanout_after IS NOT NULL;

-- Deliveries: one job per event and webhook. A pending job is due at available_at; a claimed
-- one carries its lease (owner, expiry) and a fencing token that every claim increments.
CREATE TABLE jobs (
    id               bigint   GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    event_id         text     COLLATE "C" NOT NULL,
    webhook_id       text     COLLATE "C" NOT NULL REFERENCES webhooks (id),
    state            text     NOT NULL DEFAULT 'pending'
                              CHECK (state IN ('pending', 'delivered', 'failed', 'paused', 'cancelled')),
    attempts         integer  NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    available_at     bigint   NOT NULL,
    lease_owner      text,
    lease_expires_at bigint,
    lease_token      bigint   NOT NULL DEFAULT 0,
    created_at       bigint   NOT NULL,
    updated_at       bigint   NOT NULL,
    attempt_base     integer  NOT NULL DEFAULT 0,
    probe            smallint NOT NULL DEFAULT 0,
    UNIQUE (event_id, webhook_id),
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL)),
    CHECK (state = 'pending' OR lease_owner IS NULL)
);
CREATE INDEX jobs_due ON jobs (available_at, id) WHERE state = 'pending' AND lease_owner IS NULL;
CREATE INDEX jobs_leased ON jobs (lease_expires_at, webhook_id) WHERE lease_owner IS NOT NULL;
CREATE INDEX jobs_paused ON jobs (webhook_id) WHERE state = 'paused';
CREATE INDEX jobs_by_webhook ON jobs (webhook_id, state);
-- A queue table: most rows change within seconds of being made, so vacuum keeps up early.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02,
                      autovacuum_analyze_scale_factor = 0.02);

-- The delivery log: one row per attempt. Retention removes old rows by their time-ordered id.
CREATE TABLE attempts (
    id               text    COLLATE "C" PRIMARY KEY CHECK (id LIKE 'whd\_%'),
    job_id           bigint  NOT NULL,
    webhook_id       text    COLLATE "C" NOT NULL REFERENCES webhooks (id),
    event_id         text    COLLATE "C" NOT NULL,
    event_type       text    NOT NULL,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    status           text    NOT NULL CHECK (status IN ('success', 'failed')),
    status_code      integer CHECK (status_code IS NULL OR status_code BETWEEN 100 AND 999),
    response_time_ms bigint  NOT NULL CHECK (response_time_ms >= 0),
    failure_class    text,
    response_excerpt text    NOT NULL DEFAULT '',
    next_retry_at    bigint,
    created_at       bigint  NOT NULL,
    name_lookup_us   bigint,
    connect_us       bigint,
    tls_us           bigint,
    first_byte_us    bigint,
    total_us         bigint,
    remote_address   text,
    signed_at        bigint,
    signatures       integer,
    header_names     text,
    CHECK ((status = 'success') = (failure_class IS NULL)),
    CHECK (status = 'failed' OR next_retry_at IS NULL)
);
CREATE INDEX attempts_by_webhook ON attempts (webhook_id, id);

-- API keys: only a key's SHA-256 and its prefix are stored.
CREATE TABLE api_keys (
    id           text   COLLATE "C" PRIMARY KEY CHECK (id LIKE 'key\_%'),
    workspace_id text   COLLATE "C" NOT NULL CHECK (length(workspace_id) BETWEEN 1 AND 128),
    prefix       text   NOT NULL UNIQUE CHECK (prefix LIKE 'qr3k\_%'),
    key_hash     text   NOT NULL UNIQUE CHECK (length(key_hash) = 64),
    name         text   NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    created_at   bigint NOT NULL,
    revoked_at   bigint
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, created_at);

-- Settings the daemons share: the key that derives event ids for rows without one.
CREATE TABLE daemon_settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO daemon_settings (name, value) VALUES ('event_id_key', encode(sha256((gen_random_uuid()::text || gen_random_uuid()::text)::bytea), 'hex'));
