-- DVC_PAYMENT=sandbox: the transactions of the stand-in VNPay gateway (src/web/sandbox.rs), in the
-- database rather than one node's memory, so that behind a load balancer the pay page, its
-- buttons, the IPN retries, querydr and refund work whichever node serves them. Test data only:
-- not copied by migrate-data. Keep in lockstep with migrations/sqlite/0015_sandbox_gateway.sql.
CREATE TABLE sandbox_vnpay_txns (
    -- vnp_TxnRef of the pay request.
    txn_ref TEXT PRIMARY KEY,
    -- The verified pay request's parameters (JSON object, keys sorted).
    request TEXT NOT NULL,
    -- Ties the pay page's buttons to this transaction (the last page shown).
    nonce TEXT NOT NULL,
    -- open, paid, cancelled, refunded.
    state TEXT NOT NULL,
    transaction_no TEXT NOT NULL,
    pay_date TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
