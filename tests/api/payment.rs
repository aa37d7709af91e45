//! Level 4: fees computed from the declaration and paid online through the VNPay 2.1.0 protocol,
//! against the stand-in gateway inside the binary (`DVC_PAYMENT=sandbox`), which the same client
//! code talks to as to the real one.

use crate::helpers::{AGENCY, TestApp, extract, location};
use dichvucong::config::PaymentMode;
use dvc_domain::payment::vnpay;
use reqwest::multipart;
use std::collections::BTreeMap;

/// Cấp Giấy xác nhận tình trạng hôn nhân: 10.000 đồng per copy, paid at filing.
const XNTTHN: &str = "1.004873";
const TEST_SECRET: &[u8] = dichvucong::web::sandbox::TEST_HASH_SECRET.as_bytes();
const TEST_TMN: &str = dichvucong::web::sandbox::TEST_TMN_CODE;

async fn sandbox_app() -> TestApp {
    TestApp::builder()
        .payment(PaymentMode::Sandbox)
        .spawn()
        .await
}

fn xntthn_form(csrf: &str, copies: &str) -> multipart::Form {
    let mut form = multipart::Form::new().text("csrf", csrf.to_string());
    for (k, v) in [
        ("agency_code", AGENCY),
        ("applicant_full_name", "Lê Văn Nam"),
        ("applicant_birth_date", "1990-03-02"),
        ("applicant_id_number", "031090007777"),
        ("applicant_phone", "0912345679"),
        ("applicant_email", "nam.le@example.vn"),
        (
            "applicant_address",
            "Số 5 phố Lạch Tray, phường Ngô Quyền, Hải Phòng",
        ),
        ("doi_tuong", "ban_than"),
        ("tinh_trang_hon_nhan", "chua_ket_hon"),
        ("muc_dich_su_dung", "giao_dich_tai_san"),
        ("so_ban", copies),
        ("cam_doan", "co"),
    ] {
        form = form.text(k, v.to_string());
    }
    form
}

/// Fills the declaration, checks the fee on the review page and sends it: the 303 answer.
pub async fn file_xntthn(app: &TestApp, copies: &str) -> (reqwest::Response, String) {
    let csrf = app.open_form(XNTTHN).await;
    let r = app
        .post_declaration(XNTTHN, xntthn_form(&csrf, copies))
        .await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let (csrf, token, _, review) = app.review(XNTTHN).await;
    let r = app
        .send(XNTTHN, &[("csrf", &csrf), ("submit_token", &token)])
        .await;
    (r, review)
}

pub fn query_of(url: &str) -> BTreeMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn path_of<'a>(app: &TestApp, url: &'a str) -> &'a str {
    url.strip_prefix(app.base.as_str()).unwrap_or(url)
}

async fn status_json(app: &TestApp, code: &str) -> serde_json::Value {
    let r = app.get(&format!("/api/v1/dossiers/{code}/status")).await;
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.expect("json")
}

/// At the sandbox gateway: opens the pay page and presses `action` (`pay` or `cancel`); returns
/// the return URL the browser is sent to.
pub async fn at_gateway(app: &TestApp, pay_url: &str, action: &str) -> String {
    let (status, page) = app.get_text(path_of(app, pay_url)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Thanh toán") && page.contains("Hủy giao dịch"),
        "{page}"
    );
    let txn_ref = extract(&page, "name=\"txn_ref\" value=\"").expect("txn_ref");
    let nonce = extract(&page, "name=\"nonce\" value=\"").expect("nonce");
    let r = app
        .client
        .post(app.url("/sandbox/vnpay/paymentv2/xu-ly"))
        .form(&[
            ("txn_ref", txn_ref.as_str()),
            ("nonce", &nonce),
            ("action", action),
        ])
        .send()
        .await
        .expect("POST gateway");
    assert_eq!(r.status().as_u16(), 303);
    location(&r)
}

async fn ipn(app: &TestApp, params: &BTreeMap<String, String>) -> serde_json::Value {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let r = app.get(&format!("/thanh-toan/vnpay/ipn?{q}")).await;
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.expect("IPN json")
}

fn resign(mut p: BTreeMap<String, String>) -> BTreeMap<String, String> {
    p.remove("vnp_SecureHash");
    let h = vnpay::sign(TEST_SECRET, &p);
    p.insert("vnp_SecureHash".into(), h);
    p
}

/// "Trả kết quả" with a result PDF (khai sinh is full-online: an electronic result).
async fn give_result(
    app: &TestApp,
    official: &crate::back_office::Official,
    code: &str,
) -> reqwest::Response {
    let form = multipart::Form::new()
        .text("csrf", official.csrf.clone())
        .part(
            "result_file",
            multipart::Part::bytes(crate::helpers::result_pdf())
                .file_name("giay-khai-sinh.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
        );
    official
        .client
        .post(app.url(&format!("/can-bo/ho-so/{code}/thao-tac/tra-ket-qua")))
        .multipart(form)
        .send()
        .await
        .expect("return result")
}

async fn event_actions(app: &TestApp, code: &str) -> Vec<String> {
    let row = dichvucong::store::dossiers::find_by_code(&app.state.db, code)
        .await
        .expect("read")
        .expect("dossier");
    dichvucong::store::dossiers::events(&app.state.db, row.id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn payment_file_redirect_sandbox_pay_ipn_paid_and_hostile_callbacks_change_nothing() {
    let app = sandbox_app().await;
    let (r, review) = file_xntthn(&app, "2").await;
    // The review page shows the amount and how it was computed.
    assert!(
        review.contains("2 bản × 10.000 đồng = 20.000 đồng"),
        "{review}"
    );
    assert!(review.contains("20.000 đồng"));
    // "Gửi thông tin" → 303 to the gateway with every vnp_* parameter, signed.
    assert_eq!(r.status().as_u16(), 303);
    let pay_url = location(&r);
    assert!(
        pay_url.starts_with(&format!(
            "{}/sandbox/vnpay/paymentv2/vpcpay.html?",
            app.base
        )),
        "{pay_url}"
    );
    let p = query_of(&pay_url);
    for (k, v) in [
        ("vnp_Version", "2.1.0"),
        ("vnp_Command", "pay"),
        ("vnp_TmnCode", TEST_TMN),
        ("vnp_Amount", "2000000"),
        ("vnp_CurrCode", "VND"),
        ("vnp_Locale", "vn"),
        ("vnp_OrderType", "other"),
    ] {
        assert_eq!(p.get(k).map(String::as_str), Some(v), "{k} in {pay_url}");
    }
    assert_eq!(
        p.get("vnp_ReturnUrl"),
        Some(&format!("{}/thanh-toan/vnpay/ket-qua", app.base))
    );
    for k in ["vnp_CreateDate", "vnp_ExpireDate"] {
        let v = p.get(k).expect(k);
        assert!(
            v.len() == 14 && v.bytes().all(|b| b.is_ascii_digit()),
            "{k}={v}"
        );
    }
    assert!(p.get("vnp_ExpireDate") > p.get("vnp_CreateDate"));
    assert!(
        p.contains_key("vnp_TxnRef")
            && p.contains_key("vnp_IpAddr")
            && p.contains_key("vnp_OrderInfo")
    );
    assert_eq!(p.get("vnp_SecureHash").map(String::len), Some(128));
    assert!(
        vnpay::verify(TEST_SECRET, &p),
        "signature over the sorted, encoded params"
    );
    let txn_ref = p.get("vnp_TxnRef").cloned().unwrap_or_default();

    // Chờ thanh toán: not processed, no appointment, the payment pending.
    let code = {
        let row = dichvucong::store::payments::find_by_txn_ref(&app.state.db, &txn_ref)
            .await
            .expect("read")
            .expect("payment row");
        dichvucong::store::dossiers::find_by_id(&app.state.db, row.dossier_id)
            .await
            .expect("read")
            .expect("dossier")
            .code
    };
    let s = status_json(&app, &code).await;
    assert_eq!(s["status"], "awaiting_payment", "{s}");
    assert_eq!(s["status_label"], "Chờ thanh toán");
    assert_eq!(s["payment"]["status"], "pending");
    assert_eq!(s["payment"]["amount_vnd"], 20000);
    assert!(s["expected_at"].is_null(), "the clock has not started: {s}");
    assert!(!s.to_string().contains("Lê Văn Nam"));

    // The return URL before the IPN would only show; a forged "paid" return changes nothing.
    let mut forged = p.clone();
    forged.insert("vnp_ResponseCode".into(), "00".into());
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(forged.iter())
        .finish();
    let (st, _) = app
        .get_text(&format!("/thanh-toan/vnpay/ket-qua?{q}"))
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        status_json(&app, &code).await["payment"]["status"],
        "pending"
    );

    // Pay at the gateway: the IPN marks it paid; the return page shows it.
    let back = at_gateway(&app, &pay_url, "pay").await;
    assert!(
        back.starts_with(&format!("{}/thanh-toan/vnpay/ket-qua?", app.base)),
        "{back}"
    );
    let (st, page) = app.get_text(path_of(&app, &back)).await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("Đã thanh toán thành công"), "{page}");
    let s = status_json(&app, &code).await;
    assert_eq!(s["status"], "submitted", "{s}");
    assert_eq!(s["payment"]["status"], "paid");
    assert!(
        s["expected_at"].is_string(),
        "the clock starts when paid: {s}"
    );
    let actions = event_actions(&app, &code).await;
    assert_eq!(
        actions,
        ["file", "payment", "pay"],
        "every payment change on the timeline"
    );

    // The IPN the gateway sent (same signed parameters as the return URL).
    let sent = query_of(&back);
    assert!(vnpay::verify(TEST_SECRET, &sent));
    // Replayed: already confirmed.
    assert_eq!(ipn(&app, &sent).await["RspCode"], "02");
    // Reordered (the same set in another order): still the same, already confirmed.
    let reordered: Vec<(String, String)> = sent.clone().into_iter().rev().collect();
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(reordered.iter())
        .finish();
    let r: serde_json::Value = app
        .get(&format!("/thanh-toan/vnpay/ipn?{q}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["RspCode"], "02");
    // Forged: a value changed without the secret.
    let mut bad = sent.clone();
    bad.insert("vnp_ResponseCode".into(), "24".into());
    let a = ipn(&app, &bad).await;
    assert_eq!(a["RspCode"], "97");
    assert_eq!(a["Message"], "Invalid signature");
    // Truncated: a parameter dropped, or the hash cut.
    let mut dropped = sent.clone();
    dropped.remove("vnp_BankCode");
    assert_eq!(ipn(&app, &dropped).await["RspCode"], "97");
    let mut cut = sent.clone();
    let h = cut.get("vnp_SecureHash").cloned().unwrap_or_default();
    cut.insert("vnp_SecureHash".into(), h[..64].to_string());
    assert_eq!(ipn(&app, &cut).await["RspCode"], "97");
    // Unknown order (validly signed).
    let mut unknown = sent.clone();
    unknown.insert("vnp_TxnRef".into(), "KHONGCOGIAODICHNAY".into());
    let a = ipn(&app, &resign(unknown)).await;
    assert_eq!(
        (a["RspCode"].as_str(), a["Message"].as_str()),
        (Some("01"), Some("Order not found"))
    );
    // Amount off by one đồng (validly signed).
    let mut off = sent.clone();
    off.insert("vnp_Amount".into(), "2000100".into());
    let a = ipn(&app, &resign(off)).await;
    assert_eq!(
        (a["RspCode"].as_str(), a["Message"].as_str()),
        (Some("04"), Some("Invalid amount"))
    );
    // A failure report for the already paid attempt (validly signed): already confirmed.
    let mut late_fail = sent.clone();
    late_fail.insert("vnp_ResponseCode".into(), "24".into());
    assert_eq!(ipn(&app, &resign(late_fail)).await["RspCode"], "02");
    // The TxnRef of another dossier (still pending) with this dossier's amount: refused, and
    // neither changes.
    let other = app.shallow_clone();
    let (r, _) = file_xntthn(&other, "3").await;
    let other_txn = query_of(&location(&r))
        .get("vnp_TxnRef")
        .cloned()
        .unwrap_or_default();
    let mut swapped = sent.clone();
    swapped.insert("vnp_TxnRef".into(), other_txn.clone());
    assert_eq!(ipn(&app, &resign(swapped)).await["RspCode"], "04");
    let other_row = dichvucong::store::payments::find_by_txn_ref(&app.state.db, &other_txn)
        .await
        .expect("read")
        .expect("other payment");
    assert_eq!(other_row.status, "pending");
    // Nothing changed.
    assert_eq!(status_json(&app, &code).await["payment"]["status"], "paid");
    assert_eq!(event_actions(&app, &code).await.len(), 3);

    // The private link: the fee, how it was computed, and the receipt (biên lai) PDF.
    let mail = app
        .mailbox
        .wait_for(&code, 10)
        .await
        .expect("confirmation mail");
    assert!(mail.contains("20.000 đồng"), "{mail}");
    // (the confirmation, or the payment's e-mail with the receipt's address first)
    let link = mail
        .lines()
        .find(|l| l.contains("/ho-so/xem/") && !l.contains("/bien-lai"))
        .expect("private link")
        .trim()
        .trim_start_matches(app.base.as_str())
        .to_string();
    let (st, page) = app.get_text(&link).await;
    assert_eq!(st, 200);
    assert!(
        page.contains("2 bản × 10.000 đồng = 20.000 đồng") && page.contains("Đã thanh toán"),
        "{page}"
    );
    let r = app.get(&format!("{link}/bien-lai")).await;
    assert_eq!(r.status().as_u16(), 200);
    let pdf = r.bytes().await.expect("pdf");
    assert!(pdf.starts_with(b"%PDF"));
}

#[tokio::test]
async fn payment_cancelled_at_the_gateway_is_retried_from_the_private_link_with_a_new_txn_ref() {
    let app = sandbox_app().await;
    let (r, _) = file_xntthn(&app, "1").await;
    let pay_url = location(&r);
    let first = query_of(&pay_url)
        .get("vnp_TxnRef")
        .cloned()
        .unwrap_or_default();
    // "Hủy giao dịch": the IPN records the cancellation; the return page says so.
    let back = at_gateway(&app, &pay_url, "cancel").await;
    let (st, page) = app.get_text(path_of(&app, &back)).await;
    assert_eq!(st, 200);
    assert!(
        page.contains("Thanh toán chưa thành công") && page.contains("Khách hàng hủy giao dịch"),
        "{page}"
    );
    let back_q = query_of(&back);
    let code = {
        let p = dichvucong::store::payments::find_by_txn_ref(&app.state.db, &first)
            .await
            .expect("read")
            .expect("payment");
        assert_eq!(p.status, "cancelled");
        dichvucong::store::dossiers::find_by_id(&app.state.db, p.dossier_id)
            .await
            .expect("read")
            .expect("dossier")
            .code
    };
    let s = status_json(&app, &code).await;
    assert_eq!(
        (s["status"].as_str(), s["payment"]["status"].as_str()),
        (Some("awaiting_payment"), Some("cancelled"))
    );
    // The cancelled attempt's IPN again: already confirmed.
    assert_eq!(ipn(&app, &back_q).await["RspCode"], "02");

    // Retry from the private link: a new attempt, a new TxnRef.
    let mail = app.mailbox.wait_for(&code, 10).await.expect("mail");
    let link = mail
        .lines()
        .find(|l| l.contains("/ho-so/xem/"))
        .expect("private link")
        .trim()
        .trim_start_matches(app.base.as_str())
        .to_string();
    let (_, page) = app.get_text(&link).await;
    assert!(page.contains("Thanh toán 10.000 đồng qua VNPAY"), "{page}");
    let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf");
    let r = app
        .client
        .post(app.url(&format!("{link}/thanh-toan")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("retry");
    assert_eq!(r.status().as_u16(), 303);
    let retry_url = location(&r);
    let second = query_of(&retry_url)
        .get("vnp_TxnRef")
        .cloned()
        .unwrap_or_default();
    assert_ne!(first, second);
    // While it is pending, no third attempt.
    let r = app
        .client
        .post(app.url(&format!("{link}/thanh-toan")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("second retry");
    assert_eq!(r.status().as_u16(), 409);
    // Without the session's CSRF token: refused.
    let r = app
        .shallow_clone()
        .client
        .post(app.url(&format!("{link}/thanh-toan")))
        .form(&[("csrf", "khong-dung")])
        .send()
        .await
        .expect("forged retry");
    assert!(r.status().is_client_error());
    let back = at_gateway(&app, &retry_url, "pay").await;
    let (_, page) = app.get_text(path_of(&app, &back)).await;
    assert!(page.contains("Đã thanh toán thành công"), "{page}");
    let s = status_json(&app, &code).await;
    assert_eq!(
        (s["status"].as_str(), s["payment"]["status"].as_str()),
        (Some("submitted"), Some("paid"))
    );
    assert_eq!(
        event_actions(&app, &code).await,
        ["file", "payment", "payment", "payment", "pay"]
    );
}

#[tokio::test]
async fn payment_reconciliation_asks_querydr_and_a_refused_paid_dossier_is_refunded() {
    let app = sandbox_app().await;
    let (r, _) = file_xntthn(&app, "1").await;
    let pay_url = location(&r);
    let txn_ref = query_of(&pay_url)
        .get("vnp_TxnRef")
        .cloned()
        .unwrap_or_default();
    let _ = at_gateway(&app, &pay_url, "pay").await;
    let p = dichvucong::store::payments::find_by_txn_ref(&app.state.db, &txn_ref)
        .await
        .expect("read")
        .expect("payment");
    assert_eq!(p.status, "paid");
    // querydr, signed both ways, agrees with the IPN.
    let client = app.state.vnpay.as_deref().expect("client");
    match client.querydr(&p, app.state.clock.now_ms()).await {
        Ok(dichvucong::payment::QueryOutcome::Final(s, g)) => {
            assert_eq!(s, dvc_domain::payment::PaymentStatus::Paid);
            assert!(g.transaction_no.is_some());
        }
        other => panic!("querydr: {other:?}"),
    }
    // Refused by the one-stop desk after payment: the refund job asks the gateway and records
    // the verified refund.
    let row = dichvucong::store::dossiers::find_by_id(&app.state.db, p.dossier_id)
        .await
        .expect("read")
        .expect("dossier");
    let dossier = row.to_domain().expect("domain");
    let cal = dvc_domain::calendar::WorkingCalendar::shipped();
    let policy = dvc_domain::calendar::DeadlinePolicy::new(
        &cal,
        dvc_domain::calendar::WorkWeek::default(),
        dvc_domain::calendar::DeadlineRule::days(3),
    );
    let rules = dvc_domain::workflow::Rules {
        deadline: &policy,
        steps: 4,
        electronic_result_required: false,
        max_extensions: 1,
        agency_name: "UBND",
        extra_time: &[],
        fee: dvc_domain::workflow::Fee::default(),
    };
    let now = app.state.clock.now_ms();
    let events = dvc_domain::workflow::decide(
        &dossier,
        &dvc_domain::workflow::Command::Refuse {
            reason: "Không thuộc thẩm quyền".into(),
        },
        dvc_domain::workflow::Actor::Staff {
            id: 1,
            role: dvc_domain::staff::Role::Reception,
        },
        &rules,
        now,
    )
    .expect("refuse");
    let next = events
        .iter()
        .fold(dossier, |d, e| dvc_domain::workflow::evolve(&d, e));
    dichvucong::store::dossiers::save(
        &app.state.db,
        &app.state.audit_key,
        &row,
        &dichvucong::store::dossiers::Decision {
            events: &events,
            next: &next,
            actor: &dichvucong::store::dossiers::Actor {
                id: "motcua@hongbang.gov.vn".into(),
                name: None,
                title: None,
                ip: "127.0.0.1".into(),
            },
            mail: None,
            access_link: None,
            attachments: vec![],
            payment: None,
        },
    )
    .await
    .expect("save refusal");
    assert_eq!(
        dichvucong::payment::flow::refund_closed(&app.state).await,
        1
    );
    let s = status_json(&app, &row.code).await;
    assert_eq!(
        (s["status"].as_str(), s["payment"]["status"].as_str()),
        (Some("refused"), Some("refunded"))
    );
    // The citizen is told, by e-mail, of the payment and then of the refund.
    let paid_mail = app
        .mailbox
        .wait_for(
            &format!(
                "đã thanh toán 10.000 đồng phí, lệ phí cho hồ sơ {}",
                row.code
            ),
            10,
        )
        .await
        .expect("payment e-mail");
    assert!(paid_mail.contains("/bien-lai"), "{paid_mail}");
    let refund_mail = app
        .mailbox
        .wait_for("đã hoàn trả Ông/Bà Lê Văn Nam 10.000 đồng", 10)
        .await
        .expect("refund e-mail");
    assert!(
        refund_mail.contains(&row.code) && refund_mail.contains(&txn_ref),
        "{refund_mail}"
    );
    // An IPN after the refund: already confirmed, nothing changes.
    let mut late = BTreeMap::new();
    for (k, v) in [
        ("vnp_TmnCode", TEST_TMN),
        ("vnp_TxnRef", txn_ref.as_str()),
        ("vnp_Amount", "1000000"),
        ("vnp_ResponseCode", "00"),
        ("vnp_TransactionStatus", "00"),
        ("vnp_TransactionNo", "14000001"),
        ("vnp_PayDate", "20261204100000"),
    ] {
        late.insert(k.to_string(), v.to_string());
    }
    assert_eq!(ipn(&app, &resign(late)).await["RspCode"], "02");
    assert_eq!(
        status_json(&app, &row.code).await["payment"]["status"],
        "refunded"
    );
    // Nothing left to refund or reconcile.
    assert_eq!(
        dichvucong::payment::flow::refund_closed(&app.state).await,
        0
    );
    assert_eq!(dichvucong::payment::flow::reconcile(&app.state).await, 0);
}

#[tokio::test]
async fn payment_off_files_as_before_and_the_fee_is_shown() {
    let app = TestApp::spawn().await;
    let (r, review) = file_xntthn(&app, "3").await;
    assert!(
        review.contains("3 bản × 10.000 đồng = 30.000 đồng"),
        "{review}"
    );
    assert_eq!(r.status().as_u16(), 303);
    let loc = location(&r);
    assert!(loc.ends_with("/da-nop"), "{loc}");
    let code = crate::helpers::code_from_confirmation(&loc);
    let s = status_json(&app, &code).await;
    assert_eq!(s["status"], "submitted");
    assert!(s["payment"].is_null());
    let (_, page) = app.get_text(&loc).await;
    assert!(
        page.contains("30.000 đồng") && !page.contains("qua VNPAY"),
        "{page}"
    );
    // No gateway routes without DVC_PAYMENT.
    assert_eq!(
        app.get("/sandbox/vnpay/paymentv2/vpcpay.html")
            .await
            .status()
            .as_u16(),
        404
    );
    let a: serde_json::Value = app
        .get("/thanh-toan/vnpay/ipn?vnp_TxnRef=X")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(a["RspCode"], "01");
}

#[tokio::test]
async fn payment_sandbox_is_refused_with_an_https_base_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dir = std::env::temp_dir().join(format!("dvc-test-{}", uuid::Uuid::new_v4().simple()));
    let config = dichvucong::config::Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.clone(),
        database_url: Some(format!("sqlite://{}", dir.join("t.db").display())),
        base_url: Some("https://dichvucong.example.vn".into()),
        smtp_url: None,
        mail_from: "Cổng <no-reply@dichvucong.test>".into(),
        captcha: dichvucong::config::CaptchaMode::Off,
        log_format: dichvucong::config::LogFormat::Text,
        rate_submit_per_hour: 10,
        rate_lookup_per_minute: 10,
        trust_proxy: false,
        sample_catalog: true,
        storage_url: None,
        max_extensions: 1,
        max_in_flight: 10,
        idle_timeout_secs: 5,
        audit_key: None,
        audit_key_file: None,
        clamd_url: None,
        clamd_timeout_secs: 10,
        login: None,
        oidc_issuer: None,
        oidc_client_id: String::new(),
        oidc_client_secret: String::new(),
        oidc_scopes: "profile email phone".into(),
        oidc_claim_id_number: "citizen_id".into(),
        oidc_claim_full_name: "name".into(),
        oidc_claim_birth_date: "birthdate".into(),
        oidc_claim_phone: "phone_number".into(),
        oidc_claim_email: "email".into(),
        oidc_claim_level: "identity_level".into(),
        oidc_level2_value: "2".into(),
        draft_retention_days: 30,
        draft_reminder_days: 3,
        signing_p12: None,
        signing_p12_dir: None,
        signing_password: None,
        api_token_ttl_secs: 900,
        rate_api_per_minute: 600,
        webhook_allow_insecure: false,
        delivery_timeout_secs: 2,
        dvcqg_url: None,
        dvcqg_username: None,
        dvcqg_password: None,
        dvcqg_unit: None,
        dvcqg_mapping: None,
        payment: PaymentMode::Sandbox,
        vnpay_tmn_code: None,
        vnpay_hash_secret: None,
        vnpay_pay_url: None,
        vnpay_api_url: None,
    };
    let e = dichvucong::web::launch(config, listener)
        .await
        .err()
        .expect("refused");
    assert!(format!("{e:#}").contains("sandbox"), "{e:#}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn payment_left_pending_is_expired_by_reconciliation_through_querydr_then_retried() {
    // Monday 7 December 2026, 09:00 in Hà Nội.
    let t0: jiff::Timestamp = "2026-12-07T02:00:00Z".parse().expect("time");
    let app = TestApp::builder()
        .payment(PaymentMode::Sandbox)
        .manual_clock(t0)
        .spawn()
        .await;
    let (r, _) = file_xntthn(&app, "1").await;
    let pay_url = location(&r);
    let txn_ref = query_of(&pay_url)
        .get("vnp_TxnRef")
        .cloned()
        .unwrap_or_default();
    // Opened at the gateway, never finished (the browser was closed).
    let (st, _) = app.get_text(path_of(&app, &pay_url)).await;
    assert_eq!(st, 200);
    // Within the pay window nothing is asked.
    assert_eq!(dichvucong::payment::flow::reconcile(&app.state).await, 0);
    app.clock().advance(std::time::Duration::from_secs(31 * 60));
    // querydr: still not finished at the gateway, past its deadline: expired.
    assert_eq!(dichvucong::payment::flow::reconcile(&app.state).await, 1);
    let p = dichvucong::store::payments::find_by_txn_ref(&app.state.db, &txn_ref)
        .await
        .expect("read")
        .expect("payment");
    assert_eq!(p.status, "expired");
    assert!(p.checked_at.is_some());
    let code = dichvucong::store::dossiers::find_by_id(&app.state.db, p.dossier_id)
        .await
        .expect("read")
        .expect("dossier")
        .code;
    let s = status_json(&app, &code).await;
    assert_eq!(
        (s["status"].as_str(), s["payment"]["status"].as_str()),
        (Some("awaiting_payment"), Some("expired"))
    );
    // The gateway page of the expired attempt is refused; a new attempt can be made from the
    // confirmation page of the same browser.
    let (st, page) = app.get_text(path_of(&app, &pay_url)).await;
    assert_eq!(st, 400, "{page}");
    let (_, page) = app.get_text(&format!("/ho-so/{code}/da-nop")).await;
    let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf on the confirmation page");
    let r = app
        .client
        .post(app.url(&format!("/ho-so/{code}/thanh-toan")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("retry");
    assert_eq!(r.status().as_u16(), 303);
    let back = at_gateway(&app, &location(&r), "pay").await;
    let (_, page) = app.get_text(path_of(&app, &back)).await;
    assert!(page.contains("Đã thanh toán thành công"), "{page}");
    assert_eq!(status_json(&app, &code).await["payment"]["status"], "paid");
}

#[tokio::test]
async fn payment_at_the_result_late_khai_sinh_is_paid_once_the_result_is_ready() {
    use dvc_domain::staff::Role;
    // With the national portal's stand-in: the result waiting for its fee is pushed as 6.
    let national = crate::partners::stand_in().await;
    let app = TestApp::builder()
        .payment(PaymentMode::Sandbox)
        .dvcqg(&national.url)
        .spawn()
        .await;
    let pushed = |status: &'static str| {
        let national = national.clone();
        move || {
            let national = national.clone();
            async move {
                national.pushes().into_iter().find(|c| {
                    c["service"] == "DongBoHoSoMC" && c["data"][0]["TrangThaiHoSo"] == status
                })
            }
        }
    };
    // Registered ~11 months after the birth (late: charged), two extra copies.
    let csrf = app.open_form(crate::helpers::PROC).await;
    let form = crate::helpers::form_with(
        &csrf,
        &[
            ("tre_ngay_sinh", Some("2026-01-10")),
            ("so_ban_sao", Some("2")),
        ],
        Some((crate::helpers::valid_pdf(), "giay-chung-sinh.pdf")),
    );
    let r = app.post_declaration(crate::helpers::PROC, form).await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let (csrf, token, _, review) = app.review(crate::helpers::PROC).await;
    assert!(
        review.contains("Lệ phí đăng ký khai sinh")
            && review.contains("2 bản × 8.000 đồng = 16.000 đồng"),
        "{review}"
    );
    assert!(review.contains("24.000 đồng"), "{review}");
    let r = app
        .send(
            crate::helpers::PROC,
            &[("csrf", &csrf), ("submit_token", &token)],
        )
        .await;
    // Paid at the result: filed as usual.
    let loc = location(&r);
    assert!(loc.ends_with("/da-nop"), "{loc}");
    let code = crate::helpers::code_from_confirmation(&loc);
    let s = status_json(&app, &code).await;
    assert_eq!(
        (s["status"].as_str(), s["payment"]["status"].as_str()),
        (Some("submitted"), Some("created"))
    );
    assert_eq!(s["payment"]["amount_vnd"], 24000);
    let mail = app.mailbox.wait_for(&code, 10).await.expect("mail");
    let link = mail
        .lines()
        .find(|l| l.contains("/ho-so/xem/"))
        .expect("private link")
        .trim()
        .trim_start_matches(app.base.as_str())
        .to_string();
    let (_, page) = app.get_text(&link).await;
    assert!(
        page.contains("24.000 đồng") && !page.contains("qua VNPAY</button>"),
        "not payable before the result"
    );

    // Through the back office to "Đã có kết quả".
    let reception = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    app.create_staff(
        "chuyenvien@hongbang.gov.vn",
        "Lê Văn Chuyên",
        Role::Specialist,
        AGENCY,
    )
    .await;
    let (_, specialist) = app
        .login("chuyenvien@hongbang.gov.vn", "mật khẩu đủ dài 123")
        .await;
    let leader = app
        .official("lanhdao@hongbang.gov.vn", Role::Leader, AGENCY)
        .await;
    assert_eq!(
        reception
            .act(&app, &code, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    let (_, detail) = reception.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    let specialist_id = detail
        .split("<option value=\"")
        .filter_map(|p| p.split_once('"'))
        .find(|(_, rest)| rest.contains("Lê Văn Chuyên"))
        .map(|(id, _)| id.to_string())
        .expect("specialist option");
    assert_eq!(
        reception
            .act(
                &app,
                &code,
                "chuyen-xu-ly",
                &[("assignee_id", &specialist_id)]
            )
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        specialist
            .act(&app, &code, "trinh-phe-duyet", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        leader
            .act(&app, &code, "phe-duyet", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(status_json(&app, &code).await["status"], "result_ready");
    // The result waits for its fee: 6 "Yêu cầu thực hiện nghĩa vụ tài chính", fee collected
    // at the result (HinhThucThu 4), not paid yet.
    assert!(
        crate::helpers::wait_until(15, || async { pushed("6")().await.is_some() }).await,
        "{:?}",
        national.national()
    );
    let six = pushed("6")().await.expect("6");
    let d = &six["data"][0];
    assert_eq!(d["DanhSachLePhi"][0]["HinhThucThu"], "4", "{d}");
    assert!(d.get("DuocThanhToanTrucTuyen").is_none(), "{d}");

    // Unpaid: "Trả kết quả" is refused, saying what is owed.
    let r = give_result(&app, &reception, &code).await;
    assert_eq!(r.status().as_u16(), 409);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("công dân chưa nộp 24.000 đồng phí, lệ phí phải nộp khi nhận kết quả"),
        "{body}"
    );
    assert_eq!(status_json(&app, &code).await["status"], "result_ready");

    // Now payable from the private link, which says what is owed.
    let (_, page) = app.get_text(&link).await;
    assert!(page.contains("Thanh toán 24.000 đồng qua VNPAY"), "{page}");
    assert!(
        page.contains("Ông/Bà cần nộp 24.000 đồng phí, lệ phí trước khi nhận kết quả")
            && page.contains("Thanh toán trực tuyến"),
        "{page}"
    );
    let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf");
    let r = app
        .client
        .post(app.url(&format!("{link}/thanh-toan")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("pay");
    assert_eq!(r.status().as_u16(), 303);
    let pay_url = location(&r);
    assert_eq!(
        query_of(&pay_url).get("vnp_Amount").map(String::as_str),
        Some("2400000")
    );
    // While the attempt is pending, the desk does not collect it and the result waits.
    let r = reception
        .act(&app, &code, "da-thu-phi", &[("receipt_number", "BL-1")])
        .await;
    assert_eq!(r.status().as_u16(), 409);
    assert_eq!(
        give_result(&app, &reception, &code).await.status().as_u16(),
        409
    );
    let back = at_gateway(&app, &pay_url, "pay").await;
    let txn_ref = query_of(&back)
        .get("vnp_TxnRef")
        .cloned()
        .unwrap_or_default();
    let s = status_json(&app, &code).await;
    assert_eq!(
        (s["status"].as_str(), s["payment"]["status"].as_str()),
        (Some("result_ready"), Some("paid"))
    );
    // Paid: back to 9 "Đã xử lý xong", paid online through our gateway.
    assert!(
        crate::helpers::wait_until(15, || async { pushed("9")().await.is_some() }).await,
        "{:?}",
        national.national()
    );
    let nine = pushed("9")().await.expect("9");
    assert_eq!(nine["data"][0]["DuocThanhToanTrucTuyen"], "2", "{nine}");
    assert_eq!(
        nine["data"][0]["ThongTinThanhToan"]["SoTien"], 24_000,
        "{nine}"
    );
    // The confirmation e-mail, written with the payment by the verified IPN: amount, dossier,
    // transaction, and the receipt (biên lai) behind a private link.
    let paid_mail = app
        .mailbox
        .wait_for(
            &format!("đã thanh toán 24.000 đồng phí, lệ phí cho hồ sơ {code}"),
            10,
        )
        .await
        .expect("payment e-mail");
    assert!(
        paid_mail.contains("Ông/Bà Nguyễn Thị Hoa") && paid_mail.contains(&txn_ref),
        "{paid_mail}"
    );
    let receipt = paid_mail
        .lines()
        .find(|l| l.contains("/bien-lai"))
        .expect("receipt link")
        .trim()
        .trim_start_matches(app.base.as_str())
        .to_string();
    let r = app.get(&receipt).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.expect("pdf").starts_with(b"%PDF"));
    // Paid: the page no longer asks, and the result is handed over.
    let (_, page) = app.get_text(&link).await;
    assert!(!page.contains("Ông/Bà cần nộp"), "{page}");
    assert_eq!(
        give_result(&app, &reception, &code).await.status().as_u16(),
        303
    );
    assert_eq!(status_json(&app, &code).await["status"], "done");
}

#[tokio::test]
async fn payment_sandbox_gateway_works_whichever_node_serves_it() {
    // Two nodes of one deployment (one database, one data directory), each with its sandbox
    // gateway: behind a load balancer the citizen's requests and the gateway's calls reach
    // either.
    let a = sandbox_app().await;
    let b = TestApp::builder()
        .payment(PaymentMode::Sandbox)
        .node_of(&a)
        .spawn()
        .await;
    let (r, _) = file_xntthn(&a, "1").await;
    let pay_url = location(&r);
    let txn_ref = query_of(&pay_url)
        .get("vnp_TxnRef")
        .cloned()
        .unwrap_or_default();
    // The pay page is shown by B…
    let (st, page) = b.get_text(path_of(&a, &pay_url)).await;
    assert_eq!(st, 200, "{page}");
    let nonce = extract(&page, "name=\"nonce\" value=\"").expect("nonce");
    let press = |app: &TestApp| {
        app.client
            .post(app.url("/sandbox/vnpay/paymentv2/xu-ly"))
            .form(&[
                ("txn_ref", txn_ref.clone()),
                ("nonce", nonce.clone()),
                ("action", "pay".to_string()),
            ])
            .send()
    };
    // …and "Thanh toán" is handled by A: the IPN confirms it, the browser goes to the return URL.
    let r = press(&a).await.expect("pay");
    assert_eq!(r.status().as_u16(), 303);
    let back = location(&r);
    let code = {
        let p = dichvucong::store::payments::find_by_txn_ref(&a.state.db, &txn_ref)
            .await
            .expect("read")
            .expect("payment");
        assert_eq!(p.status, "paid");
        dichvucong::store::dossiers::find_by_id(&a.state.db, p.dossier_id)
            .await
            .expect("read")
            .expect("dossier")
            .code
    };
    assert_eq!(status_json(&b, &code).await["payment"]["status"], "paid");
    // The same button again, on B: already processed, nothing sent twice.
    let r = press(&b).await.expect("second press");
    assert_eq!(r.status().as_u16(), 400);
    assert!(
        r.text().await.expect("body").contains("đã được xử lý"),
        "a finished transaction is finished on every node"
    );
    // The gateway's IPN retried to B: already confirmed there.
    assert_eq!(ipn(&b, &query_of(&back)).await["RspCode"], "02");
    // querydr answered by B's gateway, refund by A's, each from the shared state.
    let p = dichvucong::store::payments::find_by_txn_ref(&b.state.db, &txn_ref)
        .await
        .expect("read")
        .expect("payment");
    let on_b = b.state.vnpay.as_deref().expect("client of B");
    match on_b.querydr(&p, b.state.clock.now_ms()).await {
        Ok(dichvucong::payment::QueryOutcome::Final(s, _)) => {
            assert_eq!(s, dvc_domain::payment::PaymentStatus::Paid)
        }
        other => panic!("querydr on B: {other:?}"),
    }
    let on_a = a.state.vnpay.as_deref().expect("client of A");
    match on_a.refund_full(&p, a.state.clock.now_ms(), "test").await {
        Ok(dichvucong::payment::RefundOutcome::Refunded(_)) => {}
        other => panic!("refund on A: {other:?}"),
    }
    // Refunded once: B's gateway refuses a second refund.
    let again = on_b.refund_full(&p, b.state.clock.now_ms(), "test").await;
    assert!(
        !matches!(again, Ok(dichvucong::payment::RefundOutcome::Refunded(_))),
        "{again:?}"
    );
}

/// A payment row changed behind its dossier's back (never done by the portal: every change of a
/// payment goes with its dossier's version) makes the recording of a gateway answer read before
/// it a conflict, and nothing of that recording is saved: not the dossier, its timeline, its
/// audit entry, its e-mail nor the payment row. Both backends (SQLite refuses the update;
/// PostgreSQL's one-statement save rolls back whole).
#[tokio::test]
async fn payment_changed_under_its_dossier_is_a_conflict_and_nothing_of_the_answer_is_saved() {
    use dichvucong::store::{StoreError, dossiers, payments};
    let app = sandbox_app().await;
    let (r, _) = file_xntthn(&app, "2").await;
    assert_eq!(r.status().as_u16(), 303);
    let pay_url = location(&r);
    let txn_ref = query_of(&pay_url)["vnp_TxnRef"].clone();
    let stale = payments::find_by_txn_ref(&app.state.db, &txn_ref)
        .await
        .expect("read")
        .expect("payment");
    assert_eq!(stale.status, "pending");
    let before = dossiers::find_by_id(&app.state.db, stale.dossier_id)
        .await
        .expect("read")
        .expect("dossier");
    let counts = |db: dichvucong::store::Db, id: i64| async move {
        let q = "SELECT (SELECT COUNT(*) FROM dossier_events WHERE dossier_id = $1) \
                 + 1000 * (SELECT COUNT(*) FROM outbox WHERE dossier_id = $1) \
                 + 1000000 * (SELECT COUNT(*) FROM audit_pending) + 1000000 * (SELECT COUNT(*) FROM audit_log)";
        let n: i64 = db_count(&db, q, id).await;
        n
    };
    let counted = counts(app.state.db.clone(), before.id).await;
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query("UPDATE payments SET status = 'failed' WHERE txn_ref = $1")
            .bind(&txn_ref).execute(p).await.expect("update");
    });
    let r = dichvucong::payment::flow::record_outcome(
        &app.state,
        &stale,
        dvc_domain::payment::PaymentStatus::Paid,
        payments::GatewayFields::default(),
        "test",
    )
    .await;
    assert!(
        matches!(
            r,
            Err(dichvucong::payment::flow::FlowError::Store(
                StoreError::Conflict(_)
            ))
        ),
        "{r:?}"
    );
    let after = dossiers::find_by_id(&app.state.db, before.id)
        .await
        .expect("read")
        .expect("dossier");
    assert_eq!(after.version, before.version);
    assert_eq!(after.status, before.status);
    assert_eq!(after.payment_status, before.payment_status);
    assert_eq!(counts(app.state.db.clone(), before.id).await, counted);
    let now = payments::find_by_txn_ref(&app.state.db, &txn_ref)
        .await
        .expect("read")
        .expect("payment");
    assert_eq!(now.status, "failed");
    assert_eq!(now.paid_at, None);
}

async fn db_count(db: &dichvucong::store::Db, sql: &'static str, id: i64) -> i64 {
    let (n,): (i64,) = dichvucong::db_run!(db, p => {
        sqlx::query_as(sql).bind(id).fetch_one(p).await.expect("count")
    });
    n
}
