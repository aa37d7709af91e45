//! Paying a dossier's fee online (level 4) through VNPay 2.1.0:
//!
//! - `POST /ho-so/{code}/thanh-toan` (from the confirmation page, same browser session) and
//!   `POST /ho-so/xem/{token}/thanh-toan` (the private link): start or retry an attempt, 303 to
//!   the gateway;
//! - `GET /thanh-toan/vnpay/ipn`: the gateway's server-to-server notification, the only place
//!   (with the reconciliation job's verified `querydr`) where an attempt becomes paid; answers
//!   VNPay's JSON `{"RspCode","Message"}`;
//! - `GET /thanh-toan/vnpay/ket-qua`: the return URL; shows the outcome and changes nothing;
//! - `GET /ho-so/xem/{token}/bien-lai`: the electronic receipt (biên lai) of a paid fee, PDF.

use super::lookup::{PrivateLink, by_token};
use crate::error::{AppError, AppResult};
use crate::payment::flow;
use crate::store::StoreError;
use crate::store::dossiers::{self, DossierRow};
use crate::store::payments::{self, GatewayFields, PaymentRow};
use crate::web::AppState;
use crate::web::extract::CitizenPost;
use crate::web::security::no_store;
use crate::web::templates::render_status;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::fees::{FeeLine, format_vnd};
use dvc_domain::payment::PaymentStatus;
use dvc_domain::payment::vnpay::IpnAnswer;
use minijinja::{Value, context};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
pub struct PayForm {
    csrf: Option<String>,
}

/// What the payment pages need of a dossier: its fee and the state of its online payment.
#[derive(Debug, Clone, Copy)]
pub struct FeeFacts<'a> {
    pub id: i64,
    /// The dossier's status (`awaiting_payment`, …).
    pub status: &'a str,
    pub fee_vnd: i64,
    pub payment_status: Option<&'a str>,
    pub fee_quote: Option<&'a str>,
}

impl<'a> From<&'a DossierRow> for FeeFacts<'a> {
    fn from(r: &'a DossierRow) -> Self {
        FeeFacts {
            id: r.id,
            status: &r.status,
            fee_vnd: r.fee_vnd,
            payment_status: r.payment_status.as_deref(),
            fee_quote: r.fee_quote.as_deref(),
        }
    }
}

impl<'a> From<&'a crate::store::sessions::Filed> for FeeFacts<'a> {
    fn from(r: &'a crate::store::sessions::Filed) -> Self {
        FeeFacts {
            id: r.id,
            status: &r.status,
            fee_vnd: r.fee_vnd,
            payment_status: r.payment_status.as_deref(),
            fee_quote: r.fee_quote.as_deref(),
        }
    }
}

/// The fee lines stored with a dossier (how its fee was computed).
pub fn fee_lines(quote: Option<&str>) -> Vec<FeeLine> {
    quote
        .and_then(|q| serde_json::from_str(q).ok())
        .unwrap_or_default()
}

/// What the confirmation and private pages show of a dossier's fee and its payment.
pub async fn view(state: &AppState, row: FeeFacts<'_>) -> AppResult<Value> {
    let lines = fee_lines(row.fee_quote);
    let attempts = if row.payment_status.is_some() {
        payments::for_dossier(&state.db, row.id).await?
    } else {
        vec![]
    };
    let status = row.payment_status.and_then(PaymentStatus::parse);
    let may_pay = state.vnpay.is_some() && flow::may_start(row, &attempts);
    let last = attempts.first();
    Ok(context! {
        total => format_vnd(u64::try_from(row.fee_vnd).unwrap_or(0)),
        owes => row.fee_vnd > 0,
        lines => lines.iter().map(|l| context! { label => l.label.clone(), amount => format_vnd(l.amount_vnd), explanation => l.explanation.clone() }).collect::<Vec<_>>(),
        online => status.is_some(),
        status => status.map(|s| s.as_str()),
        status_label => status.map(|s| s.label()),
        may_pay,
        paid => attempts.iter().any(|p| p.status() == PaymentStatus::Paid || p.status() == PaymentStatus::Refunded),
        txn_ref => last.map(|p| p.txn_ref.clone()),
        awaiting => row.status == "awaiting_payment",
    })
}

async fn go_pay(state: &AppState, row: &DossierRow, ip: &str) -> AppResult<Response> {
    let Some(client) = state.vnpay.as_deref() else {
        return Err(AppError::Conflict(
            "Cổng chưa kết nối tổ chức thanh toán trực tuyến. Ông/Bà vui lòng nộp phí, lệ phí tại Bộ phận Một cửa."
                .into(),
        ));
    };
    let attempts = payments::for_dossier(&state.db, row.id).await?;
    if !flow::may_start(row.into(), &attempts) {
        return Err(AppError::Conflict(
            "Hồ sơ không có khoản phí, lệ phí nào đang chờ thanh toán, hoặc một giao dịch thanh toán đang được xử lý. Ông/Bà vui lòng xem lại tình trạng hồ sơ."
                .into(),
        ));
    }
    let url = flow::start(state, client, row, ip).await?;
    tracing::info!(dossier = %row.code, "payment started");
    Ok(no_store(Redirect::to(&url).into_response()))
}

fn bad_form(_: FormRejection) -> AppError {
    AppError::BadRequest(
        "Dữ liệu gửi lên không đọc được. Ông/Bà hãy tải lại trang rồi bấm “Thanh toán” lại.".into(),
    )
}

/// "Thanh toán" on the private page.
pub async fn retry_private(
    State(state): State<AppState>,
    Path(token): Path<String>,
    citizen: CitizenPost,
    form: Result<Form<PayForm>, FormRejection>,
) -> AppResult<Response> {
    let form = form.map_err(bad_form)?.0;
    citizen.check_csrf(form.csrf.as_deref())?;
    let row = by_token(&state, &token).await?;
    go_pay(&state, &row, &citizen.ip.to_string()).await
}

/// "Thanh toán" on the confirmation page: only from the browser session that filed the dossier.
pub async fn retry_filed(
    State(state): State<AppState>,
    Path(code): Path<String>,
    citizen: CitizenPost,
    form: Result<Form<PayForm>, FormRejection>,
) -> AppResult<Response> {
    let form = form.map_err(bad_form)?.0;
    citizen.check_csrf(form.csrf.as_deref())?;
    if !citizen.session.data.submitted.iter().any(|c| c == &code) {
        return Err(AppError::Forbidden(
            "Chỉ trình duyệt đã nộp hồ sơ này mới thanh toán được từ trang xác nhận. Ông/Bà hãy mở đường dẫn riêng trong thư điện tử để thanh toán."
                .into(),
        ));
    }
    let row = dossiers::find_by_code(&state.db, &code)
        .await?
        .ok_or_else(AppError::not_found)?;
    go_pay(&state, &row, &citizen.ip.to_string()).await
}

/// The query parameters as the gateway sent them (decoded); a repeated key keeps its first value
/// and makes the set invalid for the signature (nothing the gateway sends is repeated).
fn params(raw: Option<String>) -> (BTreeMap<String, String>, bool) {
    let raw = raw.unwrap_or_default();
    let mut map = BTreeMap::new();
    let mut repeated = false;
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if map.contains_key(k.as_ref()) {
            repeated = true;
            continue;
        }
        map.insert(k.into_owned(), v.into_owned());
    }
    (map, repeated)
}

fn ipn_answer(a: IpnAnswer) -> Response {
    let mut r = (StatusCode::OK, a.json()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    no_store(r)
}

fn gateway_fields(r: &dvc_domain::payment::vnpay::Report) -> GatewayFields {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    GatewayFields {
        transaction_no: opt(&r.transaction_no),
        bank_code: opt(&r.bank_code),
        bank_tran_no: opt(&r.bank_tran_no),
        card_type: opt(&r.card_type),
        pay_date: opt(&r.pay_date),
        response_code: opt(&r.response_code),
        transaction_status: opt(&r.transaction_status),
    }
}

/// The IPN: checks in the documented order (97 signature, 01 order, 04 amount, 02 already
/// confirmed), records the outcome with the dossier (00), 99 on anything else.
pub async fn vnpay_ipn(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let Some(client) = state.vnpay.as_deref() else {
        return ipn_answer(IpnAnswer::OrderNotFound);
    };
    let (p, repeated) = params(raw);
    if repeated {
        return ipn_answer(IpnAnswer::InvalidSignature);
    }
    // The signature first: nothing is read for a forged request.
    if client.check_ipn(&p, None) == Err(IpnAnswer::InvalidSignature) {
        return ipn_answer(IpnAnswer::InvalidSignature);
    }
    let txn_ref = p.get("vnp_TxnRef").cloned().unwrap_or_default();
    for _ in 0..3 {
        let stored = match payments::find_with_dossier(&state.db, &txn_ref).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "IPN: cannot read the payment");
                return ipn_answer(IpnAnswer::Unknown);
            }
        };
        let (report, outcome) = match client.check_ipn(&p, stored.as_ref().map(|(s, _)| s)) {
            Ok(x) => x,
            Err(a) => {
                tracing::info!(txn_ref = %txn_ref, code = a.code(), "IPN refused");
                return ipn_answer(a);
            }
        };
        let Some((stored, row)) = stored else {
            return ipn_answer(IpnAnswer::OrderNotFound);
        };
        match flow::record_outcome_on(
            &state,
            &stored,
            &row,
            outcome,
            gateway_fields(&report),
            "ipn",
        )
        .await
        {
            Ok(()) => {
                tracing::info!(txn_ref = %txn_ref, status = outcome.as_str(), "IPN recorded");
                return ipn_answer(IpnAnswer::Confirmed);
            }
            // Someone else (another IPN, querydr) recorded it meanwhile: check again.
            Err(flow::FlowError::Store(StoreError::Conflict(_))) => continue,
            Err(e) => {
                tracing::error!(txn_ref = %txn_ref, error = %e, "IPN: not recorded");
                return ipn_answer(IpnAnswer::Unknown);
            }
        }
    }
    ipn_answer(IpnAnswer::Unknown)
}

/// The return URL: the outcome as recorded (the IPN's), never a state change.
pub async fn vnpay_return(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let client = state.vnpay.as_deref().ok_or_else(AppError::not_found)?;
    let (p, repeated) = params(raw);
    let report = (!repeated).then(|| client.verified_report(&p)).flatten();
    let Some(report) = report else {
        return Ok(no_store(render_status(
            StatusCode::BAD_REQUEST,
            "payment_result.html",
            context! { invalid => true },
        )?));
    };
    let stored = payments::find_with_dossier(&state.db, &report.txn_ref).await?;
    let Some((stored, row)) =
        stored.filter(|(s, _)| Some(report.amount_x100) == s.amount().checked_mul(100))
    else {
        return Ok(no_store(render_status(
            StatusCode::NOT_FOUND,
            "payment_result.html",
            context! { unknown => true },
        )?));
    };
    let status = stored.status();
    Ok(no_store(render_status(
        StatusCode::OK,
        "payment_result.html",
        context! {
            code => row.code.clone(),
            amount => format_vnd(stored.amount()),
            status => status.as_str(), status_label => status.label(),
            gateway_says => gateway_message(&report.response_code),
            txn_ref => stored.txn_ref.clone(),
            retry => status.can_retry(),
        },
    )?))
}

/// The meaning of `vnp_ResponseCode` (VNPay's table).
pub fn gateway_message(code: &str) -> &'static str {
    match code {
        "00" => "Giao dịch thành công",
        "07" => "Trừ tiền thành công, giao dịch bị nghi ngờ",
        "09" => "Thẻ/tài khoản chưa đăng ký dịch vụ InternetBanking",
        "10" => "Xác thực thông tin thẻ/tài khoản không đúng quá 3 lần",
        "11" => "Đã hết hạn chờ thanh toán",
        "12" => "Thẻ/tài khoản bị khóa",
        "13" => "Nhập sai mật khẩu xác thực giao dịch (OTP)",
        "24" => "Khách hàng hủy giao dịch",
        "51" => "Tài khoản không đủ số dư",
        "65" => "Tài khoản đã vượt quá hạn mức giao dịch trong ngày",
        "75" => "Ngân hàng thanh toán đang bảo trì",
        "79" => "Nhập sai mật khẩu thanh toán quá số lần quy định",
        _ => "Giao dịch không thành công",
    }
}

/// The electronic receipt (biên lai) of the dossier's paid fee.
pub async fn receipt(
    State(state): State<AppState>,
    PrivateLink { row, .. }: PrivateLink,
) -> AppResult<Response> {
    let paid: Option<PaymentRow> = payments::for_dossier(&state.db, row.id)
        .await?
        .into_iter()
        .find(|p| matches!(p.status(), PaymentStatus::Paid | PaymentStatus::Refunded));
    let Some(p) = paid else {
        return Err(AppError::NotFound(
            "Hồ sơ chưa có khoản thanh toán trực tuyến nào thành công, nên chưa có biên lai."
                .into(),
        ));
    };
    let catalog = state.catalog();
    let agency = catalog.agency(&row.agency_code);
    let procedure = catalog
        .procedure(&row.procedure_code)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let doc = dvc_pdf::Document::PaymentReceipt {
        header: dvc_pdf::Header {
            agency_parent: agency
                .and_then(|a| a.parent.as_ref())
                .and_then(|c| catalog.agency(c.as_str()))
                .map(|a| a.name.replace(" (mẫu)", ""))
                .unwrap_or_default(),
            agency: agency
                .map(|a| a.name.replace(" (mẫu)", ""))
                .unwrap_or_default(),
            number: format!("BL-{}", p.txn_ref),
            place_date: crate::web::templates::format_datetime(p.paid_at.unwrap_or(p.updated_at)),
        },
        dossier: dvc_pdf::DossierInfo {
            code: row.code.clone(),
            procedure_name: procedure,
            applicant_name: row.applicant_name.clone(),
            applicant_id_number: row.applicant_id_number.clone(),
            applicant_address: String::new(),
            applicant_phone: row.applicant_phone.clone(),
            applicant_email: row.applicant_email.clone(),
        },
        lines: fee_lines(row.fee_quote.as_deref())
            .into_iter()
            .map(|l| dvc_pdf::FeeRow {
                label: l.label,
                explanation: l.explanation,
                amount: format_vnd(l.amount_vnd),
            })
            .collect(),
        total: format_vnd(p.amount()),
        payment: vec![
            (
                "Hình thức thanh toán".into(),
                "Trực tuyến qua cổng thanh toán VNPAY".into(),
            ),
            ("Mã giao dịch (vnp_TxnRef)".into(), p.txn_ref.clone()),
            (
                "Mã giao dịch tại VNPAY".into(),
                p.transaction_no.clone().unwrap_or_default(),
            ),
            ("Ngân hàng".into(), p.bank_code.clone().unwrap_or_default()),
            (
                "Thời điểm thanh toán".into(),
                crate::web::templates::format_datetime(p.paid_at.unwrap_or(p.updated_at)),
            ),
            ("Tình trạng".into(), p.status().label().into()),
        ],
        lookup_url: format!("{}/tra-cuu?ma={}", state.config.base_url(), row.code),
    };
    let bytes = dvc_pdf::render(&doc).map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    Ok(super::lookup::download(
        bytes::Bytes::from(bytes),
        "application/pdf",
        &format!("bien-lai-{}.pdf", row.code),
    ))
}
