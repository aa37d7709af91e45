//! `DVC_PAYMENT=sandbox`: a stand-in VNPay 2.1.0 gateway inside the binary, under
//! `/sandbox/vnpay/`, speaking the protocol from the gateway's side, so that a payment can be
//! tried locally with the same client code as the real gateway:
//!
//! - `GET /sandbox/vnpay/paymentv2/vpcpay.html?<signed pay request>`: checks the request (version,
//!   command, merchant code, amount, expiry, signature) and shows a page with "Thanh toán" and
//!   "Hủy giao dịch";
//! - either button: the transaction's result is signed, sent to the merchant's IPN URL
//!   (`<base>/thanh-toan/vnpay/ipn`) server to server, retried in the background until the
//!   merchant answers `00` or `02`, and the browser is redirected (303) to `vnp_ReturnUrl` with
//!   the same signed parameters;
//! - `POST /sandbox/vnpay/merchant_webapi/api/transaction`: `querydr` and `refund` with their
//!   `|`-joined hashes, checked and answered signed.
//!
//! Transactions are kept in the database ([`crate::store::sandbox`]), not in a node's memory:
//! behind a load balancer the pay page, its buttons, the IPN retries (sent to the public base
//! URL), `querydr` and `refund` work whichever node serves them. Refused when `DVC_BASE_URL` is
//! https: it is not a gateway.

use crate::store::sandbox::{self as store, TxnState};
use crate::web::AppState;
use crate::web::security::no_store;
use crate::web::templates::render_status;
use axum::Json;
use axum::extract::{Form, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::payment::vnpay as proto;
use minijinja::context;
use std::collections::BTreeMap;
use std::time::Duration;

/// The test merchant used when `DVC_VNPAY_TMN_CODE` / `DVC_VNPAY_HASH_SECRET` are not set.
pub const TEST_TMN_CODE: &str = "DVCTEST1";
pub const TEST_HASH_SECRET: &str = "DVCSANDBOXSECRETKHONGDUNGTHATXXXXXXXXXXX";

/// The stand-in gateway's state.
pub struct Sandbox {
    tmn_code: String,
    secret: Vec<u8>,
    ipn_url: String,
    http: reqwest::Client,
    /// Delay before the first background IPN retry (doubles each time).
    retry_base: Duration,
}

impl Sandbox {
    pub fn new(tmn_code: &str, secret: &[u8], base_url: &str) -> anyhow::Result<Sandbox> {
        crate::files::install_tls_provider();
        Ok(Sandbox {
            tmn_code: tmn_code.to_string(),
            secret: secret.to_vec(),
            ipn_url: format!("{base_url}/thanh-toan/vnpay/ipn"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            retry_base: Duration::from_secs(2),
        })
    }

    /// Calls the merchant's IPN once; `Some(code)` is the merchant's `RspCode`.
    async fn call_ipn(&self, query: &str) -> Option<String> {
        let url = format!("{}?{query}", self.ipn_url);
        let resp = self.http.get(url).send().await.ok()?;
        let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.ok()?).ok()?;
        body.get("RspCode")?.as_str().map(str::to_string)
    }
}

fn sandbox(state: &AppState) -> Result<&Sandbox, crate::error::AppError> {
    state
        .sandbox
        .as_deref()
        .ok_or_else(crate::error::AppError::not_found)
}

fn parse_query(raw: Option<String>) -> BTreeMap<String, String> {
    let raw = raw.unwrap_or_default();
    url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

const UNAVAILABLE: &str = "Hệ thống cổng thanh toán thử nghiệm tạm thời gián đoạn. Mã lỗi 99.";

fn error_page(message: &str) -> Response {
    match render_status(
        StatusCode::BAD_REQUEST,
        "sandbox_vnpay.html",
        context! { error => message },
    ) {
        Ok(r) => no_store(r),
        Err(e) => e.into_response(),
    }
}

/// The pay page.
pub async fn pay_page(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let sb = match sandbox(&state) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let p = parse_query(raw);
    if !proto::verify(&sb.secret, &p) {
        return error_page("Sai chữ ký (vnp_SecureHash). Mã lỗi 97.");
    }
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    if get("vnp_Version") != proto::VERSION || get("vnp_Command") != "pay" {
        return error_page("Sai phiên bản hoặc lệnh (vnp_Version, vnp_Command). Mã lỗi 03.");
    }
    if get("vnp_TmnCode") != sb.tmn_code {
        return error_page("Website chưa được phê duyệt (vnp_TmnCode). Mã lỗi 02.");
    }
    let amount = get("vnp_Amount");
    let amount_ok = !amount.is_empty()
        && amount.len() <= 12
        && amount.bytes().all(|b| b.is_ascii_digit())
        && amount.ends_with("00")
        && amount != "0";
    let ref_ok = (1..=100).contains(&get("vnp_TxnRef").len());
    if !amount_ok || get("vnp_CurrCode") != "VND" || !ref_ok {
        return error_page(
            "Sai định dạng dữ liệu (vnp_Amount, vnp_CurrCode, vnp_TxnRef). Mã lỗi 03.",
        );
    }
    let now = state.clock.now_ms();
    let expired = proto::parse_vn_time(&get("vnp_ExpireDate")).is_none_or(|x| x <= now);
    if expired || proto::parse_vn_time(&get("vnp_CreateDate")).is_none() {
        return error_page(
            "Giao dịch đã quá thời gian chờ thanh toán (vnp_ExpireDate). Mã lỗi 11.",
        );
    }
    let txn_ref = get("vnp_TxnRef");
    let nonce = crate::web::security::random_token(16);
    match store::open(&state.db, &txn_ref, &p, &nonce, now).await {
        Ok(true) => {}
        Ok(false) => return error_page("Giao dịch đã tồn tại (vnp_TxnRef). Mã lỗi 01."),
        Err(e) => {
            tracing::error!(error = %e, "sandbox gateway: cannot store the transaction");
            return error_page(UNAVAILABLE);
        }
    }
    let amount_vnd = amount.parse::<u64>().unwrap_or(0) / 100;
    match render_status(
        StatusCode::OK,
        "sandbox_vnpay.html",
        context! {
            tmn_code => sb.tmn_code.clone(), txn_ref, nonce,
            amount => dvc_domain::fees::format_vnd(amount_vnd),
            order_info => get("vnp_OrderInfo"),
        },
    ) {
        Ok(r) => no_store(r),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct Choice {
    txn_ref: Option<String>,
    nonce: Option<String>,
    action: Option<String>,
}

/// "Thanh toán" or "Hủy giao dịch": the signed result goes to the IPN, then the browser to the
/// return URL.
pub async fn choose(
    State(state): State<AppState>,
    form: Result<Form<Choice>, axum::extract::rejection::FormRejection>,
) -> Response {
    let sb = match sandbox(&state) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let Ok(Form(c)) = form else {
        return error_page("Dữ liệu gửi lên không đọc được. Mở lại trang thanh toán. Mã lỗi 03.");
    };
    let txn_ref = c.txn_ref.unwrap_or_default();
    let pay = c.action.as_deref() == Some("pay");
    let now = state.clock.now_ms();
    let mut txn = match store::find(&state.db, &txn_ref).await {
        Ok(Some(t)) => t,
        Ok(None) => return error_page("Không tìm thấy giao dịch. Mã lỗi 91."),
        Err(e) => {
            tracing::error!(error = %e, "sandbox gateway: cannot read the transaction");
            return error_page(UNAVAILABLE);
        }
    };
    let nonce = c.nonce.unwrap_or_default();
    if txn.state != TxnState::Open || !crate::web::security::ct_eq(&txn.nonce, &nonce) {
        return error_page("Giao dịch đã được xử lý. Mã lỗi 01.");
    }
    txn.state = if pay {
        TxnState::Paid
    } else {
        TxnState::Cancelled
    };
    txn.transaction_no = format!("{}", 14_000_000 + (now.rem_euclid(1_000_000)));
    txn.pay_date = proto::vn_time(now);
    // Once: a second press, here or on another node, finds it no longer open.
    match store::finish(
        &state.db,
        &txn_ref,
        &nonce,
        txn.state,
        &txn.transaction_no,
        &txn.pay_date,
        now,
    )
    .await
    {
        Ok(true) => {}
        Ok(false) => return error_page("Giao dịch đã được xử lý. Mã lỗi 01."),
        Err(e) => {
            tracing::error!(error = %e, "sandbox gateway: cannot record the choice");
            return error_page(UNAVAILABLE);
        }
    }
    let get = |k: &str| txn.request.get(k).cloned().unwrap_or_default();
    let mut result: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        result.insert(k.to_string(), v);
    };
    put("vnp_TmnCode", sb.tmn_code.clone());
    put("vnp_Amount", get("vnp_Amount"));
    put("vnp_BankCode", if pay { "NCB" } else { "VNPAY" }.into());
    if pay {
        put("vnp_BankTranNo", format!("VNP{}", txn.transaction_no));
        put("vnp_CardType", "ATM".into());
    }
    put("vnp_OrderInfo", get("vnp_OrderInfo"));
    put("vnp_PayDate", txn.pay_date.clone());
    put("vnp_ResponseCode", if pay { "00" } else { "24" }.into());
    put(
        "vnp_TransactionNo",
        if pay {
            txn.transaction_no.clone()
        } else {
            "0".into()
        },
    );
    put(
        "vnp_TransactionStatus",
        if pay { "00" } else { "02" }.into(),
    );
    put("vnp_TxnRef", txn_ref.clone());
    let query = proto::signed_query(&sb.secret, &result);
    // The IPN, server to server: once now, then in the background until the merchant answers
    // 00 (confirmed) or 02 (already confirmed).
    let answered = matches!(sb.call_ipn(&query).await.as_deref(), Some("00" | "02"));
    if !answered {
        let state2 = state.clone();
        let query2 = query.clone();
        tokio::spawn(async move {
            let Some(sb) = state2.sandbox.as_deref() else {
                return;
            };
            let mut delay = sb.retry_base;
            for _ in 0..5 {
                tokio::time::sleep(delay).await;
                if matches!(sb.call_ipn(&query2).await.as_deref(), Some("00" | "02")) {
                    return;
                }
                delay *= 2;
            }
            tracing::warn!("sandbox gateway: the merchant never confirmed the IPN");
        });
    }
    let return_url = get("vnp_ReturnUrl");
    let sep = if return_url.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{return_url}{sep}{query}")).into_response()
}

fn field(body: &serde_json::Value, k: &str) -> String {
    match body.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// `querydr` and `refund`.
pub async fn api(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let sb = match sandbox(&state) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Json(
            serde_json::json!({"vnp_ResponseCode": "03", "vnp_Message": "Invalid request format"}),
        )
        .into_response();
    };
    let f = |k: &str| field(&body, k);
    let command = f("vnp_Command");
    let data = match command.as_str() {
        "querydr" => proto::querydr_data(
            &f("vnp_RequestId"),
            &f("vnp_TmnCode"),
            &f("vnp_TxnRef"),
            &f("vnp_TransactionDate"),
            &f("vnp_CreateDate"),
            &f("vnp_IpAddr"),
            &f("vnp_OrderInfo"),
        ),
        "refund" => proto::refund_data(
            &f("vnp_RequestId"),
            &f("vnp_TmnCode"),
            &f("vnp_TransactionType"),
            &f("vnp_TxnRef"),
            &f("vnp_Amount"),
            &f("vnp_TransactionNo"),
            &f("vnp_TransactionDate"),
            &f("vnp_CreateBy"),
            &f("vnp_CreateDate"),
            &f("vnp_IpAddr"),
            &f("vnp_OrderInfo"),
        ),
        _ => {
            return Json(
                serde_json::json!({"vnp_ResponseCode": "03", "vnp_Message": "Invalid command"}),
            )
            .into_response();
        }
    };
    let short = |code: &str, msg: &str| {
        Json(serde_json::json!({"vnp_ResponseId": crate::web::security::random_token(8), "vnp_Command": command, "vnp_ResponseCode": code, "vnp_Message": msg})).into_response()
    };
    if f("vnp_Version") != proto::VERSION {
        return short("03", "Invalid version");
    }
    if !proto::hmac_matches(&sb.secret, &data, &f("vnp_SecureHash")) {
        return short("97", "Invalid checksum");
    }
    if f("vnp_TmnCode") != sb.tmn_code {
        return short("02", "Invalid TmnCode");
    }
    let txn_ref = f("vnp_TxnRef");
    let mut t = match store::find(&state.db, &txn_ref).await {
        Ok(Some(t)) => t,
        Ok(None) => return short("91", "Transaction not found"),
        Err(e) => {
            tracing::error!(error = %e, "sandbox gateway: cannot read the transaction");
            return short("99", "Unknown error");
        }
    };
    if command == "refund" {
        if t.state != TxnState::Paid {
            return short(
                "95",
                "Transaction is not successful at VNPAY, refund refused",
            );
        }
        if f("vnp_Amount") != t.request.get("vnp_Amount").cloned().unwrap_or_default() {
            return short("03", "Invalid amount");
        }
        match store::refund(&state.db, &txn_ref, state.clock.now_ms()).await {
            Ok(true) => t.state = TxnState::Refunded,
            // Refunded meanwhile by another request.
            Ok(false) => return short("94", "Duplicate refund request"),
            Err(e) => {
                tracing::error!(error = %e, "sandbox gateway: cannot record the refund");
                return short("99", "Unknown error");
            }
        }
    }
    let get = |k: &str| t.request.get(k).cloned().unwrap_or_default();
    let (tx_type, tx_status) = match (&t.state, command.as_str()) {
        (TxnState::Refunded, "refund") => ("02", "05"),
        (TxnState::Refunded, _) => ("02", "00"),
        (TxnState::Paid, _) => ("01", "00"),
        (TxnState::Cancelled, _) => ("01", "02"),
        (TxnState::Open, _) => ("01", "01"),
    };
    let mut a: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        a.insert(k.to_string(), v);
    };
    put("vnp_ResponseId", crate::web::security::random_token(8));
    put("vnp_Command", command.clone());
    put("vnp_ResponseCode", "00".into());
    put(
        "vnp_Message",
        if command == "refund" {
            "Refund success"
        } else {
            "QueryDR Success"
        }
        .into(),
    );
    put("vnp_TmnCode", sb.tmn_code.clone());
    put("vnp_TxnRef", txn_ref.clone());
    put("vnp_Amount", get("vnp_Amount"));
    put("vnp_BankCode", "NCB".into());
    put("vnp_PayDate", t.pay_date.clone());
    put("vnp_TransactionNo", t.transaction_no.clone());
    put("vnp_TransactionType", tx_type.into());
    put("vnp_TransactionStatus", tx_status.into());
    put("vnp_OrderInfo", get("vnp_OrderInfo"));
    let fields: &[&str] = if command == "refund" {
        &proto::REFUND_RESPONSE_FIELDS
    } else {
        put("vnp_PromotionCode", String::new());
        put("vnp_PromotionAmount", String::new());
        &proto::QUERYDR_RESPONSE_FIELDS
    };
    let hash = proto::hmac_hex(
        &sb.secret,
        &proto::response_data(fields, |k| a.get(k).cloned().unwrap_or_default()),
    );
    a.insert("vnp_SecureHash".into(), hash);
    Json(a).into_response()
}
