-- The national public-services portal's own dossier codes (issue 21): a dossier filed on the
-- national portal and taken in through the partner API keeps the portal's code (MaHoSo), which
-- every later push uses instead of ours. Keyed by the dossier's idempotency key, so that the row
-- is written before the filing's transaction (whose first push it must already govern) without
-- touching the filing itself. Keep in lockstep with migrations/postgres/0016_national_codes.sql.
CREATE TABLE national_codes (
    -- dossiers.idempotency_key of the dossier (for a partner filing: 'api:<partner id>:<key>').
    idempotency_key TEXT PRIMARY KEY,
    -- The national portal's code of the dossier: one dossier per code.
    national_code TEXT NOT NULL UNIQUE,
    -- 'filed': given when the dossier was filed through the API; 'answer': read from the
    -- portal's answer to a push (only with the mapping's answer_code_field).
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
