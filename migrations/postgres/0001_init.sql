-- Initial schema (PostgreSQL). Keep in lockstep with migrations/sqlite/0001_init.sql:
-- same tables, same columns, same meaning. Times are BIGINT milliseconds since the Unix epoch (UTC).

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE agencies (
    code TEXT PRIMARY KEY,
    parent_code TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE procedures (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    field TEXT NOT NULL,
    level BIGINT NOT NULL,
    online_class TEXT NOT NULL,
    data TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    csrf_token TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE drafts (
    session_hash TEXT NOT NULL,
    procedure_code TEXT NOT NULL,
    answers TEXT NOT NULL,
    files TEXT NOT NULL,
    validated BIGINT NOT NULL,
    submit_token TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (session_hash, procedure_code)
);

CREATE TABLE captchas (
    id TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    answer TEXT NOT NULL,
    kind TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE dossier_sequences (
    agency_code TEXT NOT NULL,
    day TEXT NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (agency_code, day)
);

CREATE TABLE dossiers (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    procedure_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    status TEXT NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_email TEXT NOT NULL,
    applicant_phone TEXT NOT NULL,
    applicant_id_number TEXT NOT NULL,
    answers TEXT NOT NULL,
    channel BIGINT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    submitted_at BIGINT NOT NULL,
    received_at BIGINT,
    expected_at BIGINT,
    due_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dossiers_agency_status ON dossiers (agency_code, status);

CREATE TABLE attachments (
    id BIGSERIAL PRIMARY KEY,
    dossier_id BIGINT NOT NULL REFERENCES dossiers (id),
    field_name TEXT NOT NULL,
    document_id TEXT,
    storage_key TEXT NOT NULL UNIQUE,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_dossier ON attachments (dossier_id);

CREATE TABLE dossier_events (
    id BIGSERIAL PRIMARY KEY,
    dossier_id BIGINT NOT NULL REFERENCES dossiers (id),
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    public_note TEXT
);
CREATE INDEX dossier_events_dossier ON dossier_events (dossier_id, id);

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    dossier_id BIGINT,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    sent_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox (sent_at, next_attempt_at);
