//! The VNPay 2.1.0 client: the signed pay URL, the IPN and return-URL checks, `querydr` and
//! `refund` (POST JSON, `|`-joined hashes). The protocol itself is pure, in
//! [`dvc_domain::payment::vnpay`]; this adds the configuration and the HTTP calls.

use super::{Order, PaymentProvider, ProviderError, QueryOutcome, RefundOutcome};
use crate::store::payments::{GatewayFields, PaymentRow};
use dvc_domain::payment::PaymentStatus;
use dvc_domain::payment::vnpay::{self as proto, IpnAnswer, PayRequest, Report, Stored};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::time::Duration;

/// VNPay's documented sandbox addresses (`DVC_PAYMENT=vnpay` without `DVC_VNPAY_*_URL`).
pub const SANDBOX_PAY_URL: &str = "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html";
pub const SANDBOX_API_URL: &str = "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction";

/// The merchant's side of VNPay.
pub struct VnpayClient {
    pub tmn_code: String,
    secret: Vec<u8>,
    pub pay_url: String,
    pub api_url: String,
    /// `<base>/thanh-toan/vnpay/ket-qua`.
    pub return_url: String,
    /// The address of this server given to `querydr` and `refund` (`vnp_IpAddr`).
    pub server_ip: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for VnpayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VnpayClient")
            .field("tmn_code", &self.tmn_code)
            .field("pay_url", &self.pay_url)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl VnpayClient {
    pub fn new(
        tmn_code: String,
        secret: Vec<u8>,
        pay_url: String,
        api_url: String,
        base_url: &str,
        server_ip: String,
    ) -> anyhow::Result<VnpayClient> {
        crate::files::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(VnpayClient {
            tmn_code,
            secret,
            pay_url,
            api_url,
            return_url: format!("{base_url}/thanh-toan/vnpay/ket-qua"),
            server_ip,
            http,
        })
    }

    /// The verified report of a return URL or an IPN; `None` when the signature or a required
    /// field is wrong.
    pub fn verified_report(&self, params: &BTreeMap<String, String>) -> Option<Report> {
        if !proto::verify(&self.secret, params) {
            return None;
        }
        Report::from_params(params).filter(|r| r.tmn_code == self.tmn_code)
    }

    /// The IPN checks ([`proto::check_ipn`]) against the stored attempt.
    pub fn check_ipn(
        &self,
        params: &BTreeMap<String, String>,
        stored: Option<&PaymentRow>,
    ) -> Result<(Report, PaymentStatus), IpnAnswer> {
        proto::check_ipn(&self.secret, &self.tmn_code, params, |txn| {
            stored.filter(|p| p.txn_ref == txn).map(|p| Stored {
                status: p.status(),
                amount_vnd: p.amount(),
            })
        })
    }

    async fn post(
        &self,
        body: &serde_json::Value,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let resp = self
            .http
            .post(&self.api_url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| ProviderError::Http(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ProviderError::Http(e.to_string()))?;
        if !status.is_success() {
            return Err(ProviderError::Http(format!("HTTP {status}")));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| ProviderError::Protocol(e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| ProviderError::Protocol("không phải đối tượng JSON".into()))?;
        Ok(obj
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect())
    }

    fn verify_answer(
        &self,
        fields: &[&str],
        answer: &BTreeMap<String, String>,
    ) -> Result<(), ProviderError> {
        let data = proto::response_data(fields, |k| answer.get(k).cloned().unwrap_or_default());
        let given = answer
            .get("vnp_SecureHash")
            .map(String::as_str)
            .unwrap_or("");
        if proto::hmac_matches(&self.secret, &data, given) {
            Ok(())
        } else {
            Err(ProviderError::Signature)
        }
    }

    fn gateway_fields(answer: &BTreeMap<String, String>) -> GatewayFields {
        let get = |k: &str| answer.get(k).filter(|v| !v.is_empty()).cloned();
        GatewayFields {
            transaction_no: get("vnp_TransactionNo"),
            bank_code: get("vnp_BankCode"),
            bank_tran_no: get("vnp_BankTranNo"),
            card_type: get("vnp_CardType"),
            pay_date: get("vnp_PayDate"),
            response_code: get("vnp_ResponseCode"),
            transaction_status: get("vnp_TransactionStatus"),
        }
    }

    /// `querydr`: the state of an attempt at VNPay, from a verified answer.
    pub async fn querydr(
        &self,
        p: &PaymentRow,
        now_ms: i64,
    ) -> Result<QueryOutcome, ProviderError> {
        let request_id = super::new_txn_ref();
        let create_date = proto::vn_time(now_ms);
        let info = proto::order_info(&format!("Truy van giao dich {}", p.txn_ref));
        let data = proto::querydr_data(
            &request_id,
            &self.tmn_code,
            &p.txn_ref,
            &p.create_date,
            &create_date,
            &self.server_ip,
            &info,
        );
        let body = serde_json::json!({
            "vnp_RequestId": request_id,
            "vnp_Version": proto::VERSION,
            "vnp_Command": "querydr",
            "vnp_TmnCode": self.tmn_code,
            "vnp_TxnRef": p.txn_ref,
            "vnp_OrderInfo": info,
            "vnp_TransactionDate": p.create_date,
            "vnp_CreateDate": create_date,
            "vnp_IpAddr": self.server_ip,
            "vnp_SecureHash": proto::hmac_hex(&self.secret, &data),
        });
        let answer = self.post(&body).await?;
        let code = answer.get("vnp_ResponseCode").cloned().unwrap_or_default();
        if code == "91" {
            return Ok(QueryOutcome::NotFound);
        }
        self.verify_answer(&proto::QUERYDR_RESPONSE_FIELDS, &answer)?;
        if code != "00" {
            return Err(ProviderError::Protocol(format!(
                "querydr {code}: {}",
                answer.get("vnp_Message").cloned().unwrap_or_default()
            )));
        }
        if answer.get("vnp_TxnRef") != Some(&p.txn_ref) {
            return Err(ProviderError::Protocol("querydr: vnp_TxnRef khác".into()));
        }
        let amount_ok = answer
            .get("vnp_Amount")
            .and_then(|a| a.parse::<u64>().ok())
            .is_some_and(|a| Some(a) == p.amount().checked_mul(100));
        let status = answer
            .get("vnp_TransactionStatus")
            .cloned()
            .unwrap_or_default();
        let kind = answer
            .get("vnp_TransactionType")
            .cloned()
            .unwrap_or_default();
        let g = Self::gateway_fields(&answer);
        Ok(match (status.as_str(), kind.as_str()) {
            ("00", "02" | "03") => QueryOutcome::Final(PaymentStatus::Refunded, g),
            ("00", _) if amount_ok => QueryOutcome::Final(PaymentStatus::Paid, g),
            ("00", _) => {
                return Err(ProviderError::Protocol("querydr: số tiền khác".into()));
            }
            ("01", _) => QueryOutcome::Pending,
            ("02", _) => QueryOutcome::Final(PaymentStatus::Failed, g),
            // Reversed, refund in progress, suspected fraud: wait for a final answer.
            _ => QueryOutcome::Pending,
        })
    }

    /// `refund` of the whole amount (transaction type `02`), from a verified answer.
    pub async fn refund_full(
        &self,
        p: &PaymentRow,
        now_ms: i64,
        by: &str,
    ) -> Result<RefundOutcome, ProviderError> {
        let request_id = super::new_txn_ref();
        let create_date = proto::vn_time(now_ms);
        let info = proto::order_info(&format!("Hoan tien giao dich {}", p.txn_ref));
        let amount = p.amount().saturating_mul(100).to_string();
        let transaction_no = p.transaction_no.clone().unwrap_or_else(|| "0".into());
        let create_by = proto::order_info(by);
        let data = proto::refund_data(
            &request_id,
            &self.tmn_code,
            "02",
            &p.txn_ref,
            &amount,
            &transaction_no,
            &p.create_date,
            &create_by,
            &create_date,
            &self.server_ip,
            &info,
        );
        let body = serde_json::json!({
            "vnp_RequestId": request_id,
            "vnp_Version": proto::VERSION,
            "vnp_Command": "refund",
            "vnp_TmnCode": self.tmn_code,
            "vnp_TransactionType": "02",
            "vnp_TxnRef": p.txn_ref,
            "vnp_Amount": amount,
            "vnp_OrderInfo": info,
            "vnp_TransactionNo": transaction_no,
            "vnp_TransactionDate": p.create_date,
            "vnp_CreateBy": create_by,
            "vnp_CreateDate": create_date,
            "vnp_IpAddr": self.server_ip,
            "vnp_SecureHash": proto::hmac_hex(&self.secret, &data),
        });
        let answer = self.post(&body).await?;
        self.verify_answer(&proto::REFUND_RESPONSE_FIELDS, &answer)?;
        let code = answer.get("vnp_ResponseCode").cloned().unwrap_or_default();
        if code == "00" && answer.get("vnp_TxnRef") == Some(&p.txn_ref) {
            Ok(RefundOutcome::Refunded(Self::gateway_fields(&answer)))
        } else {
            Ok(RefundOutcome::Refused(format!(
                "{code}: {}",
                answer.get("vnp_Message").cloned().unwrap_or_default()
            )))
        }
    }
}

impl PaymentProvider for VnpayClient {
    fn name(&self) -> &'static str {
        "vnpay"
    }

    fn pay_url(&self, order: &Order) -> String {
        PayRequest {
            tmn_code: self.tmn_code.clone(),
            amount_vnd: order.amount_vnd,
            txn_ref: order.txn_ref.clone(),
            order_info: order.order_info.clone(),
            return_url: self.return_url.clone(),
            ip_addr: order.client_ip.clone(),
            created_at_ms: order.created_at_ms,
            expire_at_ms: order.expire_at_ms,
        }
        .url(&self.pay_url, &self.secret)
    }

    fn query<'a>(
        &'a self,
        payment: &'a PaymentRow,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<QueryOutcome, ProviderError>> {
        Box::pin(self.querydr(payment, now_ms))
    }

    fn refund<'a>(
        &'a self,
        payment: &'a PaymentRow,
        now_ms: i64,
        by: &'a str,
    ) -> BoxFuture<'a, Result<RefundOutcome, ProviderError>> {
        Box::pin(self.refund_full(payment, now_ms, by))
    }
}
