//! Online payments of dossier fees: one row per attempt, with the gateway's fields.
//!
//! A payment's state changes only inside [`super::dossiers::save`], with the dossier's timeline
//! event, its audit entry and the dossier's `payment_status`, all or nothing
//! ([`PaymentWrite`]); the row is updated only from the state it was read in, so two answers
//! from the gateway about the same attempt (IPN twice, IPN and querydr) record it once. That
//! every change of a payment's state goes with its dossier's version is what the save relies on:
//! its version-checked update of the dossier serialises them (the save still checks the payment's
//! state, and reports a conflict, should anything else have changed it).

use super::{Db, StoreResult};
use crate::db_run;
use dvc_domain::payment::PaymentStatus;

/// A payment as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: i64,
    pub dossier_id: i64,
    pub provider: String,
    pub txn_ref: String,
    pub amount_vnd: i64,
    pub status: String,
    pub order_info: String,
    pub created_at: i64,
    pub create_date: String,
    pub expire_at: i64,
    pub updated_at: i64,
    pub client_ip: String,
    pub transaction_no: Option<String>,
    pub bank_code: Option<String>,
    pub bank_tran_no: Option<String>,
    pub card_type: Option<String>,
    pub pay_date: Option<String>,
    pub response_code: Option<String>,
    pub transaction_status: Option<String>,
    pub paid_at: Option<i64>,
    pub checked_at: Option<i64>,
    pub refund_requested_at: Option<i64>,
}

impl PaymentRow {
    /// The stored state; an unknown one reads as failed (never as paid).
    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::parse(&self.status).unwrap_or(PaymentStatus::Failed)
    }

    pub fn amount(&self) -> u64 {
        u64::try_from(self.amount_vnd).unwrap_or(0)
    }
}

const COLUMNS: &str = "id, dossier_id, provider, txn_ref, amount_vnd, status, order_info, created_at, create_date, expire_at, \
    updated_at, client_ip, transaction_no, bank_code, bank_tran_no, card_type, pay_date, response_code, transaction_status, paid_at, \
    checked_at, refund_requested_at";

/// A new attempt, sent to the gateway as `pending`.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub provider: String,
    pub txn_ref: String,
    pub amount_vnd: i64,
    pub order_info: String,
    pub created_at: i64,
    pub create_date: String,
    pub expire_at: i64,
    pub client_ip: String,
}

/// What the gateway reported about an attempt.
#[derive(Debug, Clone, Default)]
pub struct GatewayFields {
    pub transaction_no: Option<String>,
    pub bank_code: Option<String>,
    pub bank_tran_no: Option<String>,
    pub card_type: Option<String>,
    pub pay_date: Option<String>,
    pub response_code: Option<String>,
    pub transaction_status: Option<String>,
}

/// The payment change recorded with a payment event.
#[derive(Debug, Clone)]
pub enum PaymentWrite {
    /// A new attempt (`pending`).
    Start(NewPayment),
    /// The attempt `txn_ref`, read in state `from`, is now `to`.
    Update {
        txn_ref: String,
        from: PaymentStatus,
        to: PaymentStatus,
        gateway: GatewayFields,
    },
    /// The fee due at the result was collected at the desk: no attempt, only the dossier's
    /// `payment_status`.
    Collected,
}

impl PaymentWrite {
    /// The dossier's `payment_status` after the write.
    pub fn dossier_status(&self) -> PaymentStatus {
        match self {
            PaymentWrite::Start(_) => PaymentStatus::Pending,
            PaymentWrite::Update { to, .. } => *to,
            PaymentWrite::Collected => PaymentStatus::Collected,
        }
    }
}

/// The payment `txn_ref` with its dossier, read together (one statement: the IPN and the return
/// page need both).
pub async fn find_with_dossier(
    db: &Db,
    txn_ref: &str,
) -> StoreResult<Option<(PaymentRow, super::dossiers::DossierRow)>> {
    use sqlx::{FromRow, Row};
    if !super::storable_key(txn_ref) {
        return Ok(None);
    }
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let pay: Vec<String> = COLUMNS
            .split(',')
            .map(|c| format!("p.{c} AS pay_{c}", c = c.trim()))
            .collect();
        format!(
            "SELECT {}, {} FROM payments p JOIN dossiers d ON d.id = p.dossier_id WHERE p.txn_ref = $1",
            pay.join(", "),
            super::dossiers::DOSSIER_COLUMNS
                .split(',')
                .map(|c| format!("d.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    macro_rules! payment_from {
        ($row:expr, $($f:ident),*) => {
            PaymentRow { $($f: $row.try_get(concat!("pay_", stringify!($f)))?),* }
        };
    }
    let row = db_run!(db, p => {
        match sqlx::query(sqlx::AssertSqlSafe(SQL.as_str())).bind(txn_ref).fetch_optional(p).await? {
            Some(r) => Some((
                payment_from!(r, id, dossier_id, provider, txn_ref, amount_vnd, status, order_info, created_at,
                    create_date, expire_at, updated_at, client_ip, transaction_no, bank_code, bank_tran_no, card_type,
                    pay_date, response_code, transaction_status, paid_at, checked_at, refund_requested_at),
                super::dossiers::DossierRow::from_row(&r)?,
            )),
            None => None,
        }
    });
    Ok(row)
}

pub async fn find_by_txn_ref(db: &Db, txn_ref: &str) -> StoreResult<Option<PaymentRow>> {
    if !super::storable_key(txn_ref) {
        return Ok(None);
    }
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT {COLUMNS} FROM payments WHERE txn_ref = $1"));
    let row = db_run!(db, p => {
        sqlx::query_as::<_, PaymentRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(txn_ref).fetch_optional(p).await?
    });
    Ok(row)
}

/// A dossier's attempts, newest first.
pub async fn for_dossier(db: &Db, dossier_id: i64) -> StoreResult<Vec<PaymentRow>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {COLUMNS} FROM payments WHERE dossier_id = $1 ORDER BY id DESC")
    });
    let rows = db_run!(db, p => {
        sqlx::query_as::<_, PaymentRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(dossier_id).fetch_all(p).await?
    });
    Ok(rows)
}

/// Attempts still pending that were sent before `before` and not asked about since `before`:
/// the reconciliation job asks the gateway about them (oldest first).
pub async fn pending_to_check(db: &Db, before: i64, limit: i64) -> StoreResult<Vec<PaymentRow>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {COLUMNS} FROM payments WHERE status = 'pending' AND created_at < $1 \
             AND (checked_at IS NULL OR checked_at < $1) ORDER BY created_at LIMIT $2"
        )
    });
    let rows = db_run!(db, p => {
        sqlx::query_as::<_, PaymentRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(before).bind(limit).fetch_all(p).await?
    });
    Ok(rows)
}

/// Paid attempts of dossiers that closed without a result (refused, stopped, withdrawn) and
/// whose refund was not asked for since `before`.
pub async fn to_refund(db: &Db, before: i64, limit: i64) -> StoreResult<Vec<PaymentRow>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let cols: Vec<String> = COLUMNS
            .split(", ")
            .map(|c| format!("p.{}", c.trim()))
            .collect();
        format!(
            "SELECT {} FROM payments p JOIN dossiers d ON d.id = p.dossier_id WHERE p.status = 'paid' \
             AND d.status IN ('refused', 'stopped', 'withdrawn') \
             AND (p.refund_requested_at IS NULL OR p.refund_requested_at < $1) ORDER BY p.id LIMIT $2",
            cols.join(", ")
        )
    });
    let rows = db_run!(db, p => {
        sqlx::query_as::<_, PaymentRow>(sqlx::AssertSqlSafe(SQL.as_str())).bind(before).bind(limit).fetch_all(p).await?
    });
    Ok(rows)
}

/// Notes that the gateway was asked about `txn_ref` at `at` (no state change).
pub async fn mark_checked(db: &Db, txn_ref: &str, at: i64) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("UPDATE payments SET checked_at = $2 WHERE txn_ref = $1").bind(txn_ref).bind(at).execute(p).await?;
    });
    Ok(())
}

/// Notes that a refund of `txn_ref` was asked for at `at` (no state change until confirmed).
pub async fn mark_refund_requested(db: &Db, txn_ref: &str, at: i64) -> StoreResult<()> {
    db_run!(db, p => {
        sqlx::query("UPDATE payments SET refund_requested_at = $2 WHERE txn_ref = $1").bind(txn_ref).bind(at).execute(p).await?;
    });
    Ok(())
}
