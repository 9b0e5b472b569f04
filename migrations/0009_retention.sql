-- qr3-webhookd schema, version 9: bounded transactions and retention.
--
-- An event that matches more webhooks than one transaction makes jobs for (so that producers
-- never wait long for the write lock) keeps its place in fanout_after, the id of the last
-- webhook it got a job for; the next transactions go on from there. NULL once every matching
-- webhook has its job.
ALTER TABLE events ADD COLUMN fanout_after TEXT;
CREATE INDEX events_fanning_out ON events (dispatched_at) WHERE fanout_after IS NOT NULL;

-- Retention removes old attempts and finished jobs in small batches, each table on its own (the
-- attempts by their time-ordered id, the jobs in id order), so an attempt no longer requires its
-- job row: the reference is edited out in place, as in 0007 and 0008.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'job_id           INTEGER NOT NULL REFERENCES jobs (id),', 'job_id           INTEGER NOT NULL,')
WHERE type = 'table' AND name = 'attempts';
PRAGMA writable_schema = OFF;

-- Enabling, disabling or deleting a webhook changes the state of its jobs: holds the queued
-- ones, releases the held ones, cancels them. A webhook with a million held deliveries would hold
-- the write lock for seconds, so the first thousand change in the transaction that changes the
-- webhook, and the housekeeping changes the rest a thousand at a time while jobs_to_settle is 1.
ALTER TABLE webhooks ADD COLUMN jobs_to_settle INTEGER NOT NULL DEFAULT 0;
CREATE INDEX webhooks_settling ON webhooks (id) WHERE jobs_to_settle = 1;

-- Every claim reads the failing webhooks: only active ones, so that webhooks disabled (or deleted)
-- with failures on their count, which accumulate over months, are not read again and again.
DROP INDEX webhooks_failing;
CREATE INDEX webhooks_failing ON webhooks (id) WHERE consecutive_failures > 0 AND is_active = 1 AND deleted_at IS NULL;
