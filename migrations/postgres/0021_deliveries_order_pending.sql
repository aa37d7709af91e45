-- The order rule of webhook deliveries (a dossier's events reach a receiver one at a time, in
-- order: `store::partners::claim_deliveries`) probes for an older undelivered delivery of the
-- same webhook and dossier. Without statistics on the table (a new installation, a table that
-- grew within the last minute) PostgreSQL probed `deliveries_pending_id`, whose condition the
-- probe implies, and read the whole backlog once per claimed row (measured: 42,000 buffers and
-- 13 ms for one claim of 64 with 1,300 pending; 0.36 ms of database time per API filing).
-- Now:
-- * `deliveries_order` indexes only undelivered deliveries (the probe: three conditions on a
--   small index; the national sync's "still waiting" count uses it too);
-- * `deliveries_pending_id` also requires `next_attempt_at IS NOT NULL` (the column is NOT
--   NULL): the claim's scan implies it by its `next_attempt_at <= $2`, the probe does not, so the
--   probe can no longer use it (on either backend: both prove `IS NOT NULL` from a comparison).
-- Keep in lockstep with the other backend's 0021_deliveries_order_pending.sql.
DROP INDEX deliveries_order;
CREATE INDEX deliveries_order ON deliveries (webhook_id, dossier_id, id) WHERE delivered_at IS NULL;
DROP INDEX deliveries_pending_id;
CREATE INDEX deliveries_pending_id ON deliveries (id)
    WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at IS NOT NULL;
