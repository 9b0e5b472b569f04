-- qr3-webhookd schema, version 10: Standard Webhooks signatures, secret rotation, custom headers
-- and why an attempt failed.
--
-- A rotated secret stays valid until previous_secret_expires_at: until then every delivery is
-- signed with both (webhook-signature carries one signature per valid secret). headers holds the
-- webhook's own request headers as a JSON array of [name, value] pairs (NULL for none); their
-- values are secrets of the customer's and are never shown again.
ALTER TABLE webhooks ADD COLUMN previous_secret TEXT
    CHECK (previous_secret IS NULL OR length(previous_secret) BETWEEN 16 AND 256);
ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at INTEGER
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL));
ALTER TABLE webhooks ADD COLUMN headers TEXT
    CHECK (headers IS NULL OR (json_valid(headers) AND json_type(headers) = 'array'
                               AND json_array_length(headers) BETWEEN 1 AND 10));

-- Each attempt keeps libcurl's timings (microseconds from the start of the transfer: name
-- lookup done, connected, TLS done, first response byte, end; NULL for a step never reached),
-- the address it connected to, and what a redacted copy of its request headers needs: the
-- webhook-timestamp it was signed at, how many signatures it carried, and the names of the
-- webhook's own headers (NULL for none). Nothing secret is stored.
ALTER TABLE attempts ADD COLUMN name_lookup_us INTEGER;
ALTER TABLE attempts ADD COLUMN connect_us INTEGER;
ALTER TABLE attempts ADD COLUMN tls_us INTEGER;
ALTER TABLE attempts ADD COLUMN first_byte_us INTEGER;
ALTER TABLE attempts ADD COLUMN total_us INTEGER;
ALTER TABLE attempts ADD COLUMN remote_address TEXT;
ALTER TABLE attempts ADD COLUMN signed_at INTEGER;
ALTER TABLE attempts ADD COLUMN signatures INTEGER;
ALTER TABLE attempts ADD COLUMN header_names TEXT;
