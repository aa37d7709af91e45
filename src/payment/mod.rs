//! Online payment of dossier fees through a payment provider.
//!
//! [`PaymentProvider`] is what the portal needs of a provider: the address to send the citizen
//! to for an attempt, the state of an attempt (`querydr` for VNPay), and a refund. VNPay 2.1.0
//! ([`vnpay`]) implements it; the national portal's payment platform and PayGov (see
//! `docs/payments.md`) are further implementations beside it. Each provider's callback (VNPay's
//! IPN and return URL) has its own route, because each signs and names its fields its own way;
//! what they record goes through the same workflow command ([`dvc_domain::workflow::Command::RecordPayment`]).
//!
//! The sandbox (`DVC_PAYMENT=sandbox`, [`crate::web::sandbox`]) is a stand-in VNPay gateway: the
//! same client code talks to it.

pub mod flow;
pub mod vnpay;

use crate::store::payments::{GatewayFields, PaymentRow};
use dvc_domain::payment::PaymentStatus;
use futures_util::future::BoxFuture;

/// One attempt to send to the provider.
#[derive(Debug, Clone)]
pub struct Order {
    pub txn_ref: String,
    pub amount_vnd: u64,
    /// What is paid, in words (the provider may strip diacritics).
    pub order_info: String,
    pub client_ip: String,
    pub created_at_ms: i64,
    pub expire_at_ms: i64,
}

/// What the provider says of an attempt.
#[derive(Debug, Clone)]
pub enum QueryOutcome {
    /// A final state, with the provider's fields.
    Final(PaymentStatus, GatewayFields),
    /// Not finished at the provider yet.
    Pending,
    /// The provider does not know the attempt (never reached it).
    NotFound,
}

/// What the provider says of a refund.
#[derive(Debug, Clone)]
pub enum RefundOutcome {
    Refunded(GatewayFields),
    /// Refused or not possible now, with the provider's code and message.
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("không kết nối được tổ chức thanh toán: {0}")]
    Http(String),
    #[error("câu trả lời của tổ chức thanh toán có chữ ký không hợp lệ")]
    Signature,
    #[error("câu trả lời của tổ chức thanh toán không đúng giao thức: {0}")]
    Protocol(String),
}

/// A payment provider.
pub trait PaymentProvider: Send + Sync {
    /// The name stored with each attempt (`vnpay`).
    fn name(&self) -> &'static str;
    /// Where the citizen's browser is sent to pay `order`.
    fn pay_url(&self, order: &Order) -> String;
    /// Asks the provider for the state of an attempt.
    fn query<'a>(
        &'a self,
        payment: &'a PaymentRow,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<QueryOutcome, ProviderError>>;
    /// Asks the provider to refund a paid attempt in full; `by` names who asked.
    fn refund<'a>(
        &'a self,
        payment: &'a PaymentRow,
        now_ms: i64,
        by: &'a str,
    ) -> BoxFuture<'a, Result<RefundOutcome, ProviderError>>;
}

/// A fresh merchant reference: 20 characters of `[A-Z0-9]` (VNPay: unique per day; here unique
/// for ever, by the database's unique key).
pub fn new_txn_ref() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
