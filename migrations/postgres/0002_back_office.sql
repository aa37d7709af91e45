-- Back office: staff, their sessions, workflow position of each dossier, the audit log.
-- Keep in lockstep with migrations/sqlite/0002_back_office.sql.

CREATE TABLE staff (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    title TEXT NOT NULL,
    role TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

ALTER TABLE sessions ADD COLUMN staff_id BIGINT;

ALTER TABLE dossiers ADD COLUMN step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dossiers ADD COLUMN step_started_at BIGINT;
ALTER TABLE dossiers ADD COLUMN assignee_id BIGINT;
ALTER TABLE dossiers ADD COLUMN unit TEXT;
ALTER TABLE dossiers ADD COLUMN supplement_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dossiers ADD COLUMN paused_at BIGINT;
ALTER TABLE dossiers ADD COLUMN resume_status TEXT;
ALTER TABLE dossiers ADD COLUMN finished_at BIGINT;
ALTER TABLE dossiers ADD COLUMN result_key TEXT;
ALTER TABLE dossiers ADD COLUMN result_name TEXT;

ALTER TABLE dossier_events ADD COLUMN step BIGINT;
ALTER TABLE dossier_events ADD COLUMN actor_name TEXT;
ALTER TABLE dossier_events ADD COLUMN actor_title TEXT;
ALTER TABLE dossier_events ADD COLUMN unit TEXT;
ALTER TABLE dossier_events ADD COLUMN details TEXT;

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    ip TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_action_subject ON audit_log (action, subject, at);

-- Secret links to a dossier's private page (the first one is dossiers.secret_hash; later e-mails
-- carry new ones, e.g. to upload a supplement). Only SHA-256 hashes are stored.
CREATE TABLE access_links (
    token_hash TEXT PRIMARY KEY,
    dossier_id BIGINT NOT NULL REFERENCES dossiers (id),
    created_at BIGINT NOT NULL
);
