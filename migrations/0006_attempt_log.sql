-- qr3-webhookd schema, version 6: the delivery log's per-webhook order is kept in bulk.
--
-- An index on attempts (webhook_id, id) put every attempt into the last page of its webhook's
-- part of the index: with a hundred webhooks, each commit rewrote about one index page per
-- attempt, three quarters of all the bytes the daemon wrote. Now an attempt is noted in
-- attempt_log_tail, in the order recorded (an append to one page), and the daemon moves the
-- tail into attempt_log, sorted by webhook, a few times a second: each webhook's page is then
-- written once per move instead of once per attempt. A webhook's delivery log reads both.
CREATE TABLE attempt_log (
    webhook_id TEXT NOT NULL,
    id         TEXT NOT NULL,
    PRIMARY KEY (webhook_id, id)
) WITHOUT ROWID;
CREATE TABLE attempt_log_tail (
    seq        INTEGER PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    id         TEXT NOT NULL
);
INSERT INTO attempt_log (webhook_id, id) SELECT webhook_id, id FROM attempts ORDER BY webhook_id, id;
DROP INDEX attempts_by_webhook;
