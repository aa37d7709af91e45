-- Level 4 results (issue 18): delivery by post and digitally signed electronic results.
-- Keep in lockstep with the other backend's 0009_results.sql.

-- The postal tracking number (số hiệu bưu gửi) of a result sent by the public postal service.
ALTER TABLE dossiers ADD COLUMN postal_tracking TEXT;

-- The signing identity generated at the first start when no PKCS#12 file is configured
-- (DVC_SIGNING_P12): a self-signed demonstration certificate and its key, as a PKCS#12 file
-- (base64) whose password is derived from the audit key (which is not in the database). Shared
-- by every node; `name` is 'default'.
CREATE TABLE signing_identities (
    name TEXT PRIMARY KEY,
    pkcs12_base64 TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
