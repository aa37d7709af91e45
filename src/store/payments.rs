//! Online payments of dossier fees: one row per attempt, with the gateway's fields.
//!
//! A payment's state changes only inside [`super::dossiers::save`], with the dossier's timeline
//! event, its audit entry and the dossier's `payment_status`, in one transaction
//! ([`PaymentWrite`]); the row is updated only from the state it was read in, so two answers
//! from the gateway about the same attempt (IPN twice, IPN and querydr) record it once.

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

/// Writes `w` for dossier `dossier_id` inside the transaction `$tx` (either backend); a row no
/// longer in the state it was read in is a conflict. The dossier's `payment_status`
/// ([`PaymentWrite::dossier_status`]) is written by `dossiers::save` with the dossier's row.
#[macro_export]
macro_rules! payment_write {
    ($tx:ident, $dossier_id:expr, $w:expr, $now:expr) => {{
        use $crate::store::payments::PaymentWrite;
        let w: &PaymentWrite = $w;
        match w {
            PaymentWrite::Start(p) => {
                sqlx::query(
                    "INSERT INTO payments (dossier_id, provider, txn_ref, amount_vnd, status, order_info, created_at, create_date, \
                     expire_at, updated_at, client_ip) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $6, $9)",
                )
                .bind($dossier_id).bind(&p.provider).bind(&p.txn_ref).bind(p.amount_vnd).bind(&p.order_info)
                .bind(p.created_at).bind(&p.create_date).bind(p.expire_at).bind(&p.client_ip)
                .execute(&mut *$tx).await?;
            }
            PaymentWrite::Update { txn_ref, from, to, gateway: g } => {
                let paid_at: Option<i64> = (*to == dvc_domain::payment::PaymentStatus::Paid).then_some($now);
                let r = sqlx::query(
                    "UPDATE payments SET status = $3, updated_at = $4, transaction_no = COALESCE($5, transaction_no), \
                     bank_code = COALESCE($6, bank_code), bank_tran_no = COALESCE($7, bank_tran_no), card_type = COALESCE($8, card_type), \
                     pay_date = COALESCE($9, pay_date), response_code = COALESCE($10, response_code), \
                     transaction_status = COALESCE($11, transaction_status), paid_at = COALESCE($12, paid_at) \
                     WHERE txn_ref = $1 AND status = $2 AND dossier_id = $13",
                )
                .bind(txn_ref).bind(from.as_str()).bind(to.as_str()).bind($now).bind(&g.transaction_no).bind(&g.bank_code)
                .bind(&g.bank_tran_no).bind(&g.card_type).bind(&g.pay_date).bind(&g.response_code).bind(&g.transaction_status)
                .bind(paid_at).bind($dossier_id)
                .execute(&mut *$tx).await?;
                if r.rows_affected() != 1 {
                    return Err($crate::store::StoreError::Conflict(
                        "Giao dịch thanh toán vừa được cập nhật.".into(),
                    ));
                }
            }
            // The dossier's `payment_status` is set by the update of the dossier itself.
            PaymentWrite::Collected => {}
        }
    }};
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
