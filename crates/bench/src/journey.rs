//! What one virtual user does: the complete citizen journey on the portal (as
//! tests/api/helpers.rs drives it), the single request of the baseline, and the lookups.

use anyhow::{Context, bail};
use reqwest::redirect::Policy;
use reqwest::{Client, multipart};
use std::sync::{Arc, Mutex};

pub const PROC: &str = "1.001193";
/// The communes of the sample catalogue that receive birth registrations. Submissions rotate
/// over them: a dossier code numbers an agency's dossiers of the day on 4 digits (at most 9,999
/// per agency and day), which one agency alone would exhaust during a full run.
pub const AGENCIES: [&str; 4] = [
    "000.00.02.H31",
    "000.00.03.H31",
    "000.00.04.H31",
    "000.00.05.H31",
];

fn next_agency() -> &'static str {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    AGENCIES[NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % AGENCIES.len()]
}

/// A 100 KB PDF (valid header and trailer), shared by every upload.
pub fn pdf_100k() -> &'static [u8] {
    let mut v = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    let trailer = b"\n%%EOF\n";
    let fill = 100 * 1024 - v.len() - trailer.len();
    v.extend(std::iter::repeat_n(b'x', fill));
    v.extend_from_slice(trailer);
    Vec::leak(v)
}

pub fn answers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("agency_code", next_agency()),
        ("applicant_full_name", "Nguyễn Thị Hoa"),
        ("applicant_birth_date", "1992-05-14"),
        ("applicant_id_number", "031192004567"),
        ("applicant_phone", "0912345678"),
        ("applicant_email", "hoa.nguyen@example.vn"),
        (
            "applicant_address",
            "Số 12 phố Điện Biên Phủ, phường Hồng Bàng, Hải Phòng",
        ),
        ("tre_ho_ten", "Trần Minh An"),
        ("tre_gioi_tinh", "nam"),
        ("tre_ngay_sinh", "2026-11-20"),
        ("tre_noi_sinh", "Bệnh viện Phụ sản Hải Phòng"),
        ("yeu_to_nuoc_ngoai", "khong"),
        ("tre_dan_toc", "Kinh"),
        ("tre_quoc_tich", "viet_nam"),
        ("tre_que_quan", "Xã Kiến Thụy, thành phố Hải Phòng"),
        ("me_ho_ten", "Nguyễn Thị Hoa"),
        ("me_so_dinh_danh", "031192004567"),
        ("me_ngay_sinh", "1992-05-14"),
        ("me_dan_toc", "Kinh"),
        ("me_quoc_tich", "viet_nam"),
        (
            "me_noi_cu_tru",
            "Số 12 phố Điện Biên Phủ, phường Hồng Bàng, Hải Phòng",
        ),
        ("cha_ho_ten", "Trần Văn Bình"),
        ("cha_so_dinh_danh", "031090001234"),
        ("quan_he", "me"),
        ("cam_doan", "co"),
    ]
}

/// The declaration as a browser sends it: CSRF token first, the answers, then the file.
pub fn form(csrf: Option<&str>, pdf: &'static [u8]) -> multipart::Form {
    let mut form = multipart::Form::new();
    if let Some(c) = csrf {
        form = form.text("csrf", c.to_string());
    }
    for (k, v) in answers() {
        form = form.text(k, v);
    }
    let part = multipart::Part::bytes(pdf)
        .file_name("giay-chung-sinh.pdf")
        .mime_str("application/pdf")
        .expect("mime");
    form.part("tep_giay_chung_sinh", part)
}

/// The text between `prefix` and the next `"`.
pub fn extract(body: &str, prefix: &str) -> Option<String> {
    let start = body.find(prefix)? + prefix.len();
    let end = body[start..].find('"')?;
    Some(body[start..start + end].to_string())
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn code_from(loc: &str) -> anyhow::Result<String> {
    loc.strip_prefix("/ho-so/")
        .and_then(|s| s.strip_suffix("/da-nop"))
        .map(str::to_string)
        .with_context(|| format!("not a confirmation URL: {loc:?}"))
}

/// A fresh browser: its own cookie jar, connection and client address (sent in
/// `X-Forwarded-For`, which the portal trusts in the benchmark like behind a reverse proxy).
pub fn browser() -> anyhow::Result<Client> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ip = std::net::Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        reqwest::header::HeaderValue::from_str(&ip.to_string())?,
    );
    Ok(Client::builder()
        .default_headers(headers)
        .cookie_store(true)
        .redirect(Policy::none())
        .pool_max_idle_per_host(1)
        .build()?)
}

/// A client for lookups: keep-alive connections, no cookies.
pub fn shared_client() -> anyhow::Result<Client> {
    Ok(Client::builder()
        .redirect(Policy::none())
        .pool_max_idle_per_host(256)
        .build()?)
}

async fn expect(
    r: reqwest::Response,
    status: u16,
    step: &str,
) -> anyhow::Result<reqwest::Response> {
    if r.status().as_u16() != status {
        let s = r.status();
        let body: String = r
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        bail!("{step}: HTTP {s} (expected {status}): {body}");
    }
    Ok(r)
}

/// The whole journey on the portal: form → declaration with the PDF → review → send →
/// confirmation page. Returns the dossier code.
pub async fn portal_journey(base: &str, pdf: &'static [u8]) -> anyhow::Result<String> {
    portal_journey_timed(base, pdf, &mut None).await
}

/// [`portal_journey`], recording how long each of the 5 requests took when `steps` is given.
pub async fn portal_journey_timed(
    base: &str,
    pdf: &'static [u8],
    steps: &mut Option<Vec<std::time::Duration>>,
) -> anyhow::Result<String> {
    let mut t = std::time::Instant::now();
    let mut lap = |steps: &mut Option<Vec<std::time::Duration>>| {
        if let Some(s) = steps {
            s.push(t.elapsed());
        }
        t = std::time::Instant::now();
    };
    let c = browser()?;
    let url = |p: &str| format!("{base}{p}");
    let r = c
        .get(url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .send()
        .await?;
    let body = expect(r, 200, "form").await?.text().await?;
    let csrf = extract(&body, "name=\"csrf\" value=\"").context("no csrf in form")?;
    lap(steps);
    let r = c
        .post(url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .multipart(form(Some(&csrf), pdf))
        .send()
        .await?;
    expect(r, 303, "declaration").await?;
    lap(steps);
    let r = c
        .get(url(&format!("/thu-tuc/{PROC}/nop-ho-so/kiem-tra")))
        .send()
        .await?;
    let body = expect(r, 200, "review").await?.text().await?;
    let csrf = extract(&body, "name=\"csrf\" value=\"").context("no csrf in review")?;
    let token =
        extract(&body, "name=\"submit_token\" value=\"").context("no submit token in review")?;
    lap(steps);
    let r = c
        .post(url(&format!("/thu-tuc/{PROC}/nop-ho-so/gui")))
        .form(&[("csrf", csrf.as_str()), ("submit_token", token.as_str())])
        .send()
        .await?;
    let r = expect(r, 303, "send").await?;
    let loc = location(&r);
    let code = code_from(&loc)?;
    lap(steps);
    let r = c.get(url(&loc)).send().await?;
    expect(r, 200, "confirmation").await?.bytes().await?;
    lap(steps);
    Ok(code)
}

/// The same journey on the baseline (five requests, a fresh browser): form → declaration with
/// the PDF (durable draft) → review → send (durable dossier) → confirmation page.
pub async fn baseline_journey(base: &str, pdf: &'static [u8]) -> anyhow::Result<String> {
    let c = browser()?;
    let url = |p: &str| format!("{base}{p}");
    let r = c.get(url("/j/form")).send().await?;
    let body = expect(r, 200, "baseline form").await?.text().await?;
    let csrf = extract(&body, "name=\"csrf\" value=\"").context("no token in baseline form")?;
    let r = c
        .post(url("/j/form"))
        .multipart(form(Some(&csrf), pdf))
        .send()
        .await?;
    let review = location(&expect(r, 303, "baseline declaration").await?);
    let r = c.get(url(&review)).send().await?;
    let body = expect(r, 200, "baseline review").await?.text().await?;
    let csrf = extract(&body, "name=\"csrf\" value=\"").context("no csrf in baseline review")?;
    let token = extract(&body, "name=\"submit_token\" value=\"")
        .context("no submit token in baseline review")?;
    let r = c
        .post(url("/j/send"))
        .form(&[("csrf", csrf.as_str()), ("submit_token", token.as_str())])
        .send()
        .await?;
    let loc = location(&expect(r, 303, "baseline send").await?);
    let code = code_from(&loc)?;
    let r = c.get(url(&loc)).send().await?;
    expect(r, 200, "baseline confirmation")
        .await?
        .bytes()
        .await?;
    Ok(code)
}

/// The baseline's single durable submission (same fields, same file); with `all`, with the
/// records the portal writes for a filing through its API (`/submit-all`).
pub async fn baseline_submit(
    c: &Client,
    base: &str,
    pdf: &'static [u8],
    all: bool,
) -> anyhow::Result<String> {
    let path = if all { "/submit-all" } else { "/submit" };
    let r = c
        .post(format!("{base}{path}"))
        .multipart(form(None, pdf))
        .send()
        .await?;
    let r = expect(r, 303, "baseline submit").await?;
    code_from(&location(&r))
}

/// One filing through the partner API, as a partner system sends it: `multipart/form-data` with
/// the answers as JSON in a part named `dossier` and the PDF in a part named after its field,
/// a fresh `Idempotency-Key`; the dossier code of the 201.
pub async fn api_submit(
    c: &Client,
    base: &str,
    token: &str,
    pdf: &'static [u8],
) -> anyhow::Result<String> {
    let mut given = serde_json::Map::new();
    let mut agency = "";
    for (k, v) in answers() {
        if k == "agency_code" {
            agency = v;
        } else {
            given.insert(k.into(), v.into());
        }
    }
    let meta =
        serde_json::json!({ "procedure_code": PROC, "agency_code": agency, "answers": given });
    let form = multipart::Form::new()
        .part(
            "dossier",
            multipart::Part::text(meta.to_string()).mime_str("application/json")?,
        )
        .part(
            "tep_giay_chung_sinh",
            multipart::Part::bytes(pdf)
                .file_name("giay-chung-sinh.pdf")
                .mime_str("application/pdf")?,
        );
    let r = c
        .post(format!("{base}/api/v1/dossiers"))
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().simple().to_string())
        .multipart(form)
        .send()
        .await?;
    let r = expect(r, 201, "API filing").await?;
    let v: serde_json::Value = r.json().await?;
    v["code"]
        .as_str()
        .map(str::to_string)
        .context("no code in the API's answer")
}

/// GET that must answer 200; the body is read in full.
pub async fn get_ok(c: &Client, url: String) -> anyhow::Result<()> {
    let r = c.get(url).send().await?;
    expect(r, 200, "GET").await?.bytes().await?;
    Ok(())
}

/// Codes that reached a client, shared between tasks.
#[derive(Clone, Default)]
pub struct Codes(pub Arc<Mutex<Vec<String>>>);

impl Codes {
    pub fn push(&self, c: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push(c);
        }
    }
    pub fn count(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or(0)
    }
    pub fn all(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// The merchant pair both servers are given for the paid journey (the portal through
/// `DVC_VNPAY_TMN_CODE` / `DVC_VNPAY_HASH_SECRET` with `DVC_PAYMENT=sandbox`; the baseline has
/// the same constants).
pub const PAY_TMN_CODE: &str = "DVCBENCH";
pub const PAY_HASH_SECRET: &str = "DVCBENCHSECRETKHONGDUNGTHATXXXXXXXXXXXXXX";

/// Cấp Giấy xác nhận tình trạng hôn nhân: a fee due at filing (2 copies: 20.000 đồng).
pub const PAID_PROC: &str = "1.004873";

fn paid_form(csrf: Option<&str>, pdf: &'static [u8]) -> multipart::Form {
    let mut form = multipart::Form::new();
    if let Some(c) = csrf {
        form = form.text("csrf", c.to_string());
    }
    for (k, v) in [
        ("agency_code", next_agency()),
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
        ("so_ban", "2"),
        ("cam_doan", "co"),
    ] {
        form = form.text(k, v);
    }
    // The same 100 KB file as the other journeys (here a power of attorney).
    let part = multipart::Part::bytes(pdf)
        .file_name("uy-quyen.pdf")
        .mime_str("application/pdf")
        .expect("mime");
    form.part("tep_uy_quyen", part)
}

/// What the gateway sends back for the pay URL `pay_url` (paid): the signed query string of the
/// IPN and of the return URL.
fn gateway_answer(pay_url: &str) -> anyhow::Result<String> {
    use dvc_domain::payment::vnpay;
    let q = pay_url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let req: std::collections::BTreeMap<String, String> = url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| req.get(k).cloned().unwrap_or_default();
    if get("vnp_TxnRef").is_empty() {
        bail!("no vnp_TxnRef in the pay URL {pay_url:?}");
    }
    let mut r = std::collections::BTreeMap::new();
    for k in ["vnp_TmnCode", "vnp_Amount", "vnp_OrderInfo", "vnp_TxnRef"] {
        r.insert(k.to_string(), get(k));
    }
    for (k, v) in [
        ("vnp_BankCode", "NCB"),
        ("vnp_BankTranNo", "VNP14000001"),
        ("vnp_CardType", "ATM"),
        ("vnp_PayDate", "20261204100000"),
        ("vnp_ResponseCode", "00"),
        ("vnp_TransactionNo", "14000001"),
        ("vnp_TransactionStatus", "00"),
    ] {
        r.insert(k.to_string(), v.to_string());
    }
    Ok(vnpay::signed_query(PAY_HASH_SECRET.as_bytes(), &r))
}

async fn ipn_ok(c: &Client, url: String, step: &str) -> anyhow::Result<()> {
    let r = c.get(url).send().await?;
    let body = expect(r, 200, step).await?.text().await?;
    if !body.contains("\"RspCode\":\"00\"") {
        bail!("{step}: {body}");
    }
    Ok(())
}

/// The paid journey on the portal (6 requests): form → declaration with the PDF → review → send
/// (303 to the gateway) → the gateway's IPN (signed here, as VNPay would) → the return page.
pub async fn portal_paid_journey(base: &str, pdf: &'static [u8]) -> anyhow::Result<()> {
    let c = browser()?;
    let url = |p: &str| format!("{base}{p}");
    let r = c
        .get(url(&format!("/thu-tuc/{PAID_PROC}/nop-ho-so")))
        .send()
        .await?;
    let body = expect(r, 200, "paid form").await?.text().await?;
    let csrf = extract(&body, "name=\"csrf\" value=\"").context("no csrf in form")?;
    let r = c
        .post(url(&format!("/thu-tuc/{PAID_PROC}/nop-ho-so")))
        .multipart(paid_form(Some(&csrf), pdf))
        .send()
        .await?;
    expect(r, 303, "paid declaration").await?;
    let r = c
        .get(url(&format!("/thu-tuc/{PAID_PROC}/nop-ho-so/kiem-tra")))
        .send()
        .await?;
    let body = expect(r, 200, "paid review").await?.text().await?;
    let csrf = extract(&body, "name=\"csrf\" value=\"").context("no csrf in review")?;
    let token = extract(&body, "name=\"submit_token\" value=\"").context("no submit token")?;
    let r = c
        .post(url(&format!("/thu-tuc/{PAID_PROC}/nop-ho-so/gui")))
        .form(&[("csrf", csrf.as_str()), ("submit_token", token.as_str())])
        .send()
        .await?;
    let pay_url = location(&expect(r, 303, "paid send").await?);
    let answer = gateway_answer(&pay_url)?;
    ipn_ok(
        &c,
        url(&format!("/thanh-toan/vnpay/ipn?{answer}")),
        "portal IPN",
    )
    .await?;
    let r = c
        .get(url(&format!("/thanh-toan/vnpay/ket-qua?{answer}")))
        .send()
        .await?;
    expect(r, 200, "portal return page").await?.bytes().await?;
    Ok(())
}

/// The same on the baseline: form → declaration (durable draft) → review → send (dossier and
/// payment in one durable transaction, 303 to the signed pay URL) → IPN (signature checked,
/// payment and dossier updated in one durable transaction) → return page. With `all`, the send and
/// the IPN also write the records the portal writes with them (`/j/send-paid-all`, `/j/ipn-all`).
pub async fn baseline_paid_journey(
    base: &str,
    pdf: &'static [u8],
    all: bool,
) -> anyhow::Result<()> {
    let (send, ipn) = if all {
        ("/j/send-paid-all", "/j/ipn-all")
    } else {
        ("/j/send-paid", "/j/ipn")
    };
    let c = browser()?;
    let url = |p: &str| format!("{base}{p}");
    let r = c.get(url("/j/form")).send().await?;
    let body = expect(r, 200, "baseline paid form").await?.text().await?;
    let csrf = extract(&body, "name=\"csrf\" value=\"").context("no token in baseline form")?;
    let r = c
        .post(url("/j/form"))
        .multipart(paid_form(Some(&csrf), pdf))
        .send()
        .await?;
    let review = location(&expect(r, 303, "baseline paid declaration").await?);
    let r = c.get(url(&review)).send().await?;
    let body = expect(r, 200, "baseline paid review").await?.text().await?;
    let csrf = extract(&body, "name=\"csrf\" value=\"").context("no csrf in baseline review")?;
    let token = extract(&body, "name=\"submit_token\" value=\"").context("no submit token")?;
    let r = c
        .post(url(send))
        .form(&[("csrf", csrf.as_str()), ("submit_token", token.as_str())])
        .send()
        .await?;
    let pay_url = location(&expect(r, 303, "baseline paid send").await?);
    let answer = gateway_answer(&pay_url)?;
    ipn_ok(&c, url(&format!("{ipn}?{answer}")), "baseline IPN").await?;
    let r = c.get(url(&format!("/j/return?{answer}"))).send().await?;
    expect(r, 200, "baseline return page")
        .await?
        .bytes()
        .await?;
    Ok(())
}
