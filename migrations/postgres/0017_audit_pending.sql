-- The audit trail's entries waiting to be chained. A business transaction records its audit
-- entries here, keyed (`mac`: the entry's HMAC under the audit key, with sequence 0), without
-- taking the chain's single lock; the sealer (`store::audit::seal`, every node, a fraction of a
-- second later) moves them in `id` order into `audit_log`'s hash chain, many per commit, and
-- deletes them here in the same transaction. Keep in lockstep with the other backend's
-- 0017_audit_pending.sql.
CREATE TABLE audit_pending (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    ip TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT,
    event_id BIGINT,
    event_hash TEXT,
    mac TEXT NOT NULL
);
CREATE INDEX audit_pending_action_subject ON audit_pending (action, subject, at);
