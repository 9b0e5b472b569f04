-- qr3-webhookd schema, version 3: the key that derives event ids.
--
-- An outbox row without a producer event id gets an id derived from the row itself (its
-- sequence, time, workspace, type and data) under this database's own random key. Should a
-- power loss undo the ingest of a row whose requests already went out, the row is taken in
-- again under the same id, so receivers can still drop the duplicate by its event id.
CREATE TABLE daemon_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO daemon_settings (name, value) VALUES ('event_id_key', lower(hex(randomblob(32))));
