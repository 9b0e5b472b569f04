-- qr3-webhookd schema, version 4: find failing webhooks without a scan.
--
-- A webhook whose last attempt failed gets one request in flight at a time until it succeeds
-- again, so endpoints that time out cannot hold the slots every other webhook needs.
CREATE INDEX webhooks_failing ON webhooks (id) WHERE consecutive_failures > 0;
