//! The transactions of the stand-in VNPay gateway (`DVC_PAYMENT=sandbox`,
//! [`crate::web::sandbox`]), shared by every node: one row per `vnp_TxnRef`. Each change of state
//! is one conditional statement, so two nodes answering for the same transaction at once (a
//! double click, an IPN retry and a refund) change it once.

use super::{Db, StoreResult};
use crate::db_run;

/// Where a sandbox transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// Shown to the citizen, no button pressed yet.
    Open,
    Paid,
    Cancelled,
    Refunded,
}

impl TxnState {
    pub fn as_str(self) -> &'static str {
        match self {
            TxnState::Open => "open",
            TxnState::Paid => "paid",
            TxnState::Cancelled => "cancelled",
            TxnState::Refunded => "refunded",
        }
    }

    /// The stored state; an unknown one reads as open (never as paid).
    fn parse(s: &str) -> TxnState {
        match s {
            "paid" => TxnState::Paid,
            "cancelled" => TxnState::Cancelled,
            "refunded" => TxnState::Refunded,
            _ => TxnState::Open,
        }
    }
}

/// A sandbox transaction as stored.
#[derive(Debug, Clone)]
pub struct SandboxTxn {
    pub txn_ref: String,
    /// The verified pay request's parameters.
    pub request: std::collections::BTreeMap<String, String>,
    pub nonce: String,
    pub state: TxnState,
    pub transaction_no: String,
    pub pay_date: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    txn_ref: String,
    request: String,
    nonce: String,
    state: String,
    transaction_no: String,
    pay_date: String,
}

/// Shows the pay page of `request` (its `vnp_TxnRef` is `txn_ref`) with a fresh `nonce`: a new
/// transaction, or the same request again while it is still open (the page reloaded; the latest
/// page's buttons count). `false` when `txn_ref` is taken by another request or already
/// finished.
pub async fn open(
    db: &Db,
    txn_ref: &str,
    request: &std::collections::BTreeMap<String, String>,
    nonce: &str,
    now: i64,
) -> StoreResult<bool> {
    let request =
        serde_json::to_string(request).map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
    let n = db_run!(db, p => {
        sqlx::query(
            "INSERT INTO sandbox_vnpay_txns (txn_ref, request, nonce, state, transaction_no, pay_date, created_at, updated_at) \
             VALUES ($1, $2, $3, 'open', '', '', $4, $4) \
             ON CONFLICT (txn_ref) DO UPDATE SET nonce = excluded.nonce, updated_at = excluded.updated_at \
             WHERE sandbox_vnpay_txns.state = 'open' AND sandbox_vnpay_txns.request = excluded.request",
        )
        .bind(txn_ref).bind(&request).bind(nonce).bind(now).execute(p).await?.rows_affected()
    });
    Ok(n == 1)
}

pub async fn find(db: &Db, txn_ref: &str) -> StoreResult<Option<SandboxTxn>> {
    if !super::storable_key(txn_ref) {
        return Ok(None);
    }
    let row: Option<Row> = db_run!(db, p => {
        sqlx::query_as(
            "SELECT txn_ref, request, nonce, state, transaction_no, pay_date FROM sandbox_vnpay_txns WHERE txn_ref = $1",
        )
        .bind(txn_ref).fetch_optional(p).await?
    });
    let Some(r) = row else {
        return Ok(None);
    };
    let request = serde_json::from_str(&r.request).map_err(|e| {
        super::StoreError::Corrupt(format!("sandbox transaction {}: {e}", r.txn_ref))
    })?;
    Ok(Some(SandboxTxn {
        txn_ref: r.txn_ref,
        request,
        nonce: r.nonce,
        state: TxnState::parse(&r.state),
        transaction_no: r.transaction_no,
        pay_date: r.pay_date,
    }))
}

/// "Thanh toán" or "Hủy giao dịch" on the page showing `nonce`: the open transaction becomes
/// `to` with the gateway's transaction number and pay date. `false` when it is no longer open
/// or another page's buttons were pressed.
pub async fn finish(
    db: &Db,
    txn_ref: &str,
    nonce: &str,
    to: TxnState,
    transaction_no: &str,
    pay_date: &str,
    now: i64,
) -> StoreResult<bool> {
    let n = db_run!(db, p => {
        sqlx::query(
            "UPDATE sandbox_vnpay_txns SET state = $3, transaction_no = $4, pay_date = $5, updated_at = $6 \
             WHERE txn_ref = $1 AND nonce = $2 AND state = 'open'",
        )
        .bind(txn_ref).bind(nonce).bind(to.as_str()).bind(transaction_no).bind(pay_date).bind(now)
        .execute(p).await?.rows_affected()
    });
    Ok(n == 1)
}

/// A paid transaction is refunded; `false` when it is not (or no longer) paid.
pub async fn refund(db: &Db, txn_ref: &str, now: i64) -> StoreResult<bool> {
    let n = db_run!(db, p => {
        sqlx::query(
            "UPDATE sandbox_vnpay_txns SET state = 'refunded', updated_at = $2 WHERE txn_ref = $1 AND state = 'paid'",
        )
        .bind(txn_ref).bind(now).execute(p).await?.rows_affected()
    });
    Ok(n == 1)
}
