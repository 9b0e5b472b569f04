-- qr3-webhookd schema, version 2: API keys for the public webhooks API.
-- A key is shown to its owner once; only its SHA-256 (lower-case hex) is stored. The prefix
-- (`qr3k_` and the key's next 8 characters) is not secret: it names the key in listings and
-- revocations. A revoked key is kept, so listings show when it stopped working.
CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY CHECK (id LIKE 'key\_%' ESCAPE '\'),
    workspace_id TEXT    NOT NULL CHECK (length(workspace_id) BETWEEN 1 AND 128),
    prefix       TEXT    NOT NULL UNIQUE CHECK (prefix LIKE 'qr3k\_%' ESCAPE '\'),
    key_hash     TEXT    NOT NULL UNIQUE CHECK (length(key_hash) = 64),
    name         TEXT    NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, created_at);
