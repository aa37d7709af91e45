-- Level 4: online payment of fees. Keep in lockstep with migrations/postgres/0008_payments.sql.

-- How the dossier's fee was computed (JSON: the lines of dvc_domain::fees::Quote), shown on the
-- confirmation, the private page and the receipt. fee_vnd and payment_status (0007) go with it.
ALTER TABLE dossiers ADD COLUMN fee_quote TEXT;

-- Every attempt to pay a dossier's fee online, with the gateway's fields. Its state changes only
-- together with a timeline event of the dossier (store::dossiers::save), in one transaction.
CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dossier_id BIGINT NOT NULL REFERENCES dossiers(id),
    -- vnpay (later: the national portal's platform, PayGov).
    provider TEXT NOT NULL,
    -- The merchant reference sent to the gateway (vnp_TxnRef), unique.
    txn_ref TEXT NOT NULL UNIQUE,
    amount_vnd BIGINT NOT NULL,
    -- created, pending, paid, failed, cancelled, expired, refunded.
    status TEXT NOT NULL,
    order_info TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- vnp_CreateDate as sent (GMT+7), which querydr and refund name as vnp_TransactionDate.
    create_date TEXT NOT NULL,
    expire_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    client_ip TEXT NOT NULL,
    -- As the gateway reported them (IPN or querydr).
    transaction_no TEXT,
    bank_code TEXT,
    bank_tran_no TEXT,
    card_type TEXT,
    pay_date TEXT,
    response_code TEXT,
    transaction_status TEXT,
    paid_at BIGINT,
    -- When the reconciliation job last asked the gateway (querydr), and when a refund was asked.
    checked_at BIGINT,
    refund_requested_at BIGINT
);
CREATE INDEX payments_dossier ON payments (dossier_id);
CREATE INDEX payments_status ON payments (status, created_at);
