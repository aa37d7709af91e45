-- Integrations (issue 21): partner systems with OAuth2 client credentials, their bearer tokens,
-- idempotent filings, webhooks and the deliveries outbox (which also carries the national
-- portal's synchronisation). Keep in lockstep with the other backend's 0012_partners.sql.

-- A partner system (a ministry's software, a post-office counter, a kiosk, the national portal).
-- Only an Argon2id hash of the client secret is stored. `scopes`: comma-separated.
CREATE TABLE partners (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Short-lived bearer tokens with the scopes granted: only the SHA-256 of the token is stored.
CREATE TABLE partner_tokens (
    token_hash TEXT PRIMARY KEY,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX partner_tokens_expiry ON partner_tokens (expires_at);

-- An Idempotency-Key of a partner and the SHA-256 of the request it came with, written before
-- the filing: the same key with another request is refused (422); with the same request it
-- answers the dossier filed under `dossiers.idempotency_key` = 'api:<partner id>:<key>'.
CREATE TABLE api_idempotency (
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (partner_id, idem_key)
);

-- Where events go: a partner's webhook (target 'webhook'), or the national portal (target
-- 'dvcqg', one row, all agencies). `event_kinds`: comma-separated workflow event names, or '*'.
-- The signing secret is derived from `secret_salt` with the server's audit key and never stored.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id BIGINT REFERENCES partners (id),
    target TEXT NOT NULL,
    url TEXT NOT NULL,
    event_kinds TEXT NOT NULL,
    secret_salt TEXT NOT NULL,
    all_agencies BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);

-- The agencies (the partner's agency and its sub-units) whose events a webhook receives.
CREATE TABLE webhook_agencies (
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    agency_code TEXT NOT NULL,
    PRIMARY KEY (webhook_id, agency_code)
);
CREATE INDEX webhook_agencies_agency ON webhook_agencies (agency_code);

-- The deliveries outbox: one row per (webhook, event), written in the transaction that records
-- the event; claimed with a lease, delivered in order per (webhook, dossier), retried with
-- backoff, given up (failed_at) after days and then resent by an administrator.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    dossier_id BIGINT NOT NULL REFERENCES dossiers (id),
    event_id BIGINT NOT NULL REFERENCES dossier_events (id),
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    delivered_at BIGINT,
    failed_at BIGINT,
    last_status BIGINT,
    last_error TEXT
);
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX deliveries_order ON deliveries (webhook_id, dossier_id, id);
