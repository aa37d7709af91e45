-- The deliveries still to send, in id order: a busy worker claims past the last id it claimed
-- (`store::partners::claim_deliveries`) and, on PostgreSQL, no longer passes over the delivered
-- row versions autovacuum has not removed yet. Keep in lockstep with the other backend's
-- 0019_deliveries_pending_id.sql.
CREATE INDEX deliveries_pending_id ON deliveries (id) WHERE delivered_at IS NULL AND failed_at IS NULL;
