//! The list of tables, for whole-database work (`dichvucong migrate-data`).
//!
//! Every table created by a migration is listed exactly once, either in [`COPIED`] or in
//! [`NOT_COPIED`]; a unit test fails when a migration adds a table that is in neither.
//! A new table is one line here.

/// A table copied by `migrate-data`.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// Has a generated `id` (`BIGSERIAL` / `INTEGER PRIMARY KEY AUTOINCREMENT`): ids are copied as
    /// they are and the PostgreSQL sequence is moved past the largest one.
    pub serial_id: bool,
}

const fn t(name: &'static str) -> Table {
    Table {
        name,
        serial_id: false,
    }
}

const fn serial(name: &'static str) -> Table {
    Table {
        name,
        serial_id: true,
    }
}

/// Copied tables, parents before children (foreign keys hold after each insert).
pub const COPIED: &[Table] = &[
    t("meta"),
    t("agencies"),
    t("procedures"),
    t("procedure_versions"),
    t("dossier_sequences"),
    serial("dossiers"),
    serial("attachments"),
    serial("dossier_events"),
    serial("outbox"),
    serial("staff"),
    t("access_links"),
    serial("citizens"),
    t("audit_log"),
    serial("audit_pending"),
    t("signing_identities"),
    serial("partners"),
    t("api_idempotency"),
    serial("webhooks"),
    t("webhook_agencies"),
    serial("deliveries"),
    serial("payments"),
    t("national_codes"),
];

/// Short-lived state, not worth moving: citizens sign in again, challenges and limits reset.
pub const NOT_COPIED: &[&str] = &[
    "sessions",
    "drafts",
    "captchas",
    "rate_limits",
    "login_throttle",
    "oidc_logins",
    // Statistics: derived from the dossiers; rebuilt on the target (`dichvucong statistics
    // rebuild`, or by the statistics job, which counts every dossier not counted yet).
    "stat_dossier",
    "stat_delta",
    "stat_daily",
    "stat_monthly",
    "stat_queue",
    "partner_tokens",
    // The stand-in gateway of DVC_PAYMENT=sandbox: test transactions, never real payments.
    "sandbox_vnpay_txns",
];
