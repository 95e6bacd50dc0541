-- Personal-data columns hold sealed values from now on (store/seal.go):
-- the first byte of a non-empty value gives its format, 0x00 for a value
-- in clear, 0x01 for AES-256-GCM. Values written before carry no such
-- byte: tag them as in clear so they stay readable. Reseal then encrypts
-- them under the configured key.
--
-- Every row holding such a value is rewritten once. Instances of the
-- previous version must be stopped first: they would write untagged values
-- and read sealed ones as if they were in clear.
{{if .Postgres -}}
UPDATE ledger SET canonical = '\x00'::bytea || canonical WHERE length(canonical) > 0;
UPDATE quarantine SET payload = '\x00'::bytea || payload WHERE length(payload) > 0;
UPDATE idempotency SET result = '\x00'::bytea || result WHERE length(result) > 0;

-- A sealed value does not compress: have TOAST store it without trying.
-- (lz4 was set on ledger.canonical by 0001; values tagged in clear above
-- stay compressed until rewritten.)
ALTER TABLE ledger ALTER COLUMN canonical SET STORAGE EXTERNAL;
ALTER TABLE quarantine ALTER COLUMN payload SET STORAGE EXTERNAL;
{{- else -}}
-- secure_delete zeroes the former values in the pages, rather than leaving
-- them in free space (back to SQLite's default at the end).
PRAGMA secure_delete = ON;
UPDATE ledger SET canonical = unhex('00' || hex(canonical)) WHERE length(canonical) > 0;
UPDATE quarantine SET payload = unhex('00' || hex(payload)) WHERE length(payload) > 0;
UPDATE idempotency SET result = unhex('00' || hex(result)) WHERE length(result) > 0;
PRAGMA secure_delete = OFF;
{{- end}}
