-- qr3-webhookd schema, version 5: leased jobs leave the due index.
--
-- A claim used to move a job's due entry to the lease's expiry, and recording its attempt
-- removed that entry again: two index writes per delivery that told nothing new. The due index
-- now holds only jobs nobody holds. A claim deletes the entry, a retry or a hand-back inserts it
-- again, and a claim whose lease ran out is found through jobs_leased, which holds every claim
-- by its expiry.
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (available_at, id, webhook_id) WHERE state = 'pending' AND lease_owner IS NULL;
