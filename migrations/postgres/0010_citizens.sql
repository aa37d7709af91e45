-- Citizens signed in with OpenID Connect (the national electronic identity, VNeID-shaped). Keep
-- in lockstep with the other backend's 0010_citizens.sql.

-- One row per identity at one provider: keyed by the issuer and its subject ("sub"), never by an
-- e-mail address. The other columns are the claims at the last sign-in; id_number is the
-- personal identification number the provider vouched for (empty when it gave none).
CREATE TABLE citizens (
    id BIGSERIAL PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    id_number TEXT NOT NULL,
    full_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    phone TEXT NOT NULL,
    email TEXT NOT NULL,
    level BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX citizens_id_number ON citizens (id_number);

-- A sign-in in progress: the state (only its SHA-256), bound to the browser session that
-- started it, with the nonce and PKCE verifier; taken once by the callback.
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A citizen session (NULL: anonymous or an official's session, which keeps staff_id).
ALTER TABLE sessions ADD COLUMN citizen_id BIGINT;

-- The signed-in citizen who filed the dossier (NULL: filed without signing in), and which answers
-- came from the identity (field names, comma-separated; their count is reused_answers).
ALTER TABLE dossiers ADD COLUMN citizen_id BIGINT;
ALTER TABLE dossiers ADD COLUMN reused_fields TEXT NOT NULL DEFAULT '';
CREATE INDEX dossiers_citizen ON dossiers (citizen_id);
CREATE INDEX dossiers_applicant_id_number ON dossiers (applicant_id_number);

-- Drafts of signed-in citizens are keyed 'citizen:<id>' instead of a session: kept until they are
-- DVC_DRAFT_RETENTION_DAYS old, with one reminder e-mail before (reminded_at).
ALTER TABLE drafts ADD COLUMN reminded_at BIGINT;
