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

/// A fresh browser: its own cookie jar and connection.
pub fn browser() -> anyhow::Result<Client> {
    Ok(Client::builder()
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

/// The baseline's single durable submission (same fields, same file).
pub async fn baseline_submit(c: &Client, base: &str, pdf: &'static [u8]) -> anyhow::Result<String> {
    let r = c
        .post(format!("{base}/submit"))
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
