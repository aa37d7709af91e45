//! The partner API (issue 21): partners created with the real command line, OAuth2 client
//! credentials, filing with attachments and Idempotency-Key, reading, the change feed, agency
//! scope (403), revoked and expired tokens (401), signed webhooks to a receiver that fails for a
//! while, and the national portal's synchronisation against a stand-in endpoint.

use crate::back_office::OTHER_AGENCY;
use crate::helpers::*;
use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::Engine;
use dvc_domain::staff::Role;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The province: its partner sees every commune's dossiers.
const PROVINCE: &str = "000.00.00.H31";

/// A partner created with `dichvucong partner create`: (id, client_id, client_secret).
pub async fn create_partner(
    app: &TestApp,
    name: &str,
    agency: &str,
    scope: &str,
) -> (i64, String, String) {
    create_partner_in(app.database_url(), app.dir.clone(), name, agency, scope).await
}

/// [`create_partner`] in the installation at (database URL, data directory).
pub async fn create_partner_in(
    url: String,
    dir: std::path::PathBuf,
    name: &str,
    agency: &str,
    scope: &str,
) -> (i64, String, String) {
    let args: Vec<String> = [
        "partner", "create", "--name", name, "--agency", agency, "--scope", scope,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_dichvucong"))
            .args(&args)
            .env("DVC_DATABASE_URL", url)
            .env("DVC_DATA_DIR", dir)
            .output()
    })
    .await
    .expect("join")
    .expect("run dichvucong partner create");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {stdout}"))
            .to_string()
    };
    let id = stdout
        .split("số ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("partner id");
    (id, line("client_id="), line("client_secret="))
}

pub async fn revoke_partner(app: &TestApp, id: i64) {
    let (url, dir) = (app.database_url(), app.dir.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_dichvucong"))
            .args(["partner", "revoke", &id.to_string()])
            .env("DVC_DATABASE_URL", url)
            .env("DVC_DATA_DIR", dir)
            .output()
    })
    .await
    .expect("join")
    .expect("run dichvucong partner revoke");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bearer token, with HTTP Basic client authentication.
pub async fn token(app: &TestApp, client_id: &str, secret: &str) -> String {
    token_at(&app.client, &app.base, client_id, secret).await
}

pub async fn token_at(
    client: &reqwest::Client,
    base: &str,
    client_id: &str,
    secret: &str,
) -> String {
    let r = client
        .post(format!("{base}/api/v1/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["token_type"], "Bearer");
    v["access_token"].as_str().expect("token").to_string()
}

/// The khai sinh filing as JSON, with the birth certificate in base64.
pub fn filing(agency: &str, overrides: &[(&str, &str)]) -> Value {
    let mut given = serde_json::Map::new();
    for (k, v) in answers() {
        if k != "agency_code" {
            given.insert(k.into(), json!(v));
        }
    }
    for (k, v) in overrides {
        given.insert((*k).into(), json!(v));
    }
    json!({
        "procedure_code": PROC,
        "agency_code": agency,
        "answers": given,
        "attachments": {
            "tep_giay_chung_sinh": {
                "file_name": "giay-chung-sinh.pdf",
                "content_base64": base64::engine::general_purpose::STANDARD.encode(valid_pdf()),
            }
        }
    })
}

async fn file(app: &TestApp, token: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut rb = app
        .client
        .post(app.url("/api/v1/dossiers"))
        .bearer_auth(token)
        .json(body);
    if let Some(k) = key {
        rb = rb.header("Idempotency-Key", k);
    }
    rb.send().await.expect("file")
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Follows the change feed from the start, `limit` at a time, until a page is empty.
async fn follow_feed(app: &TestApp, token: &str, limit: usize) -> Vec<Value> {
    let mut after = String::new();
    let mut all = Vec::new();
    loop {
        let (s, page) = get_json(
            app,
            token,
            &format!("/api/v1/events?after={after}&limit={limit}"),
        )
        .await;
        assert_eq!(s, 200, "{page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= limit);
        if items.is_empty() {
            return all;
        }
        after = page["next_cursor"].as_str().expect("cursor").to_string();
        all.extend(items);
    }
}

#[tokio::test]
async fn partner_files_retries_reads_and_follows_the_feed() {
    let app = TestApp::spawn().await;
    let (_, id, secret) = create_partner(
        &app,
        "Bưu điện tỉnh",
        PROVINCE,
        "dossiers:write,dossiers:read,events:read",
    )
    .await;
    let token = token(&app, &id, &secret).await;
    // Client authentication with form fields works too.
    let r = app
        .client
        .post(app.url("/api/v1/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "dossiers:read"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["scope"], "dossiers:read");
    let read_only = v["access_token"].as_str().expect("token").to_string();

    // Filed with an attachment (JSON, base64) → 201 and the code.
    let body = filing(AGENCY, &[]);
    let r = file(&app, &token, &body, Some("lan-1")).await;
    assert_eq!(r.status().as_u16(), 201);
    let first: Value = r.json().await.expect("json");
    let code = first["code"].as_str().expect("code").to_string();
    assert!(code.starts_with(AGENCY), "{code}");
    // The same request again with the same key: the same dossier, nothing new filed.
    let r = file(&app, &token, &body, Some("lan-1")).await;
    assert_eq!(r.status().as_u16(), 200);
    let again: Value = r.json().await.expect("json");
    assert_eq!(again["code"], code.as_str());
    // Another request with that key: 422.
    let other = filing(AGENCY, &[("tre_ho_ten", "Trần Minh Bình")]);
    let r = file(&app, &token, &other, Some("lan-1")).await;
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.expect("json");
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .contains("Idempotency-Key")
    );
    assert_eq!(
        dichvucong::store::dossiers::count(&app.state.db)
            .await
            .expect("count"),
        1
    );
    // A refused request does not use up its key: corrected, it is filed under that key.
    let wrong = filing(AGENCY, &[("applicant_id_number", "12")]);
    let r = file(&app, &token, &wrong, Some("lan-2")).await;
    assert_eq!(r.status().as_u16(), 422);
    let r = file(&app, &token, &other, Some("lan-2")).await;
    assert_eq!(r.status().as_u16(), 201);
    let code_b = r.json::<Value>().await.expect("json")["code"]
        .as_str()
        .expect("code")
        .to_string();
    assert_eq!(
        dichvucong::store::dossiers::count(&app.state.db)
            .await
            .expect("count"),
        2
    );
    // A token without dossiers:write may not file.
    let r = file(&app, &read_only, &other, None).await;
    assert_eq!(r.status().as_u16(), 403);

    // Validated like the web form: one problem entry per field, the form's Vietnamese messages.
    let bad = filing(
        AGENCY,
        &[("applicant_id_number", "12"), ("tre_ngay_sinh", "")],
    );
    let mut bad = bad;
    bad["attachments"] = json!({});
    let r = file(&app, &token, &bad, None).await;
    assert_eq!(r.status().as_u16(), 422);
    let p: Value = r.json().await.expect("json");
    let errors = p["errors"].as_array().expect("errors");
    let fields: Vec<&str> = errors.iter().filter_map(|e| e["field"].as_str()).collect();
    for f in [
        "applicant_id_number",
        "tre_ngay_sinh",
        "tep_giay_chung_sinh",
    ] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    // The same message as the web form shows for the same answer.
    let csrf = app.open_form(PROC).await;
    let (_, page) = {
        let r = app
            .post_declaration(
                PROC,
                form_with(
                    &csrf,
                    &[("applicant_id_number", Some("12"))],
                    Some((valid_pdf(), "a.pdf")),
                ),
            )
            .await;
        (
            r.status().as_u16(),
            r.text().await.expect("page").replace("&#x2f;", "/"),
        )
    };
    let msg = errors
        .iter()
        .find(|e| e["field"] == "applicant_id_number")
        .and_then(|e| e["message"].as_str())
        .expect("message");
    assert!(page.contains(msg), "web form does not show {msg}");
    // Not a PDF or image: refused by content, like the web form.
    let mut fake = filing(AGENCY, &[]);
    fake["attachments"]["tep_giay_chung_sinh"]["content_base64"] =
        json!(base64::engine::general_purpose::STANDARD.encode(b"MZ\x90\x00 not a pdf"));
    let r = file(&app, &token, &fake, None).await;
    assert_eq!(r.status().as_u16(), 422);

    // Multipart: the JSON in a part named "dossier", the file in a part named after its field.
    let mut meta = filing(AGENCY, &[]);
    meta.as_object_mut().expect("object").remove("attachments");
    let form = reqwest::multipart::Form::new()
        .part(
            "dossier",
            reqwest::multipart::Part::text(meta.to_string())
                .mime_str("application/json")
                .expect("mime"),
        )
        .part(
            "tep_giay_chung_sinh",
            reqwest::multipart::Part::bytes(valid_pdf()).file_name("gcs.pdf"),
        );
    let r = app
        .client
        .post(app.url("/api/v1/dossiers"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("multipart");
    assert_eq!(r.status().as_u16(), 201);
    let second: Value = r.json().await.expect("json");
    let code2 = second["code"].as_str().expect("code").to_string();

    // Read back in full.
    let (s, d) = get_json(&app, &token, &format!("/api/v1/dossiers/{code}")).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["applicant_id_number"], "031192004567");
    assert_eq!(d["answers"]["tre_ho_ten"][0], "Trần Minh An");
    assert_eq!(d["attachments"].as_array().expect("files").len(), 1);
    assert_eq!(d["attachments"][0]["content_type"], "application/pdf");
    assert_eq!(d["timeline"][0]["type"], "file");
    assert!(d["synced_at"].is_null());
    // The applicant got the same confirmation e-mail as from the web form.
    assert!(app.mailbox.wait_for(&code, 10).await.is_some());

    // A reception official receives the first dossier: a second event.
    let officer = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let r = officer.act(&app, &code, "tiep-nhan", &[]).await;
    assert_eq!(r.status().as_u16(), 303);

    // The feed: every event, in order, resumable from any cursor.
    let mut events = Vec::new();
    for _ in 0..150 {
        events = follow_feed(&app, &token, 1).await;
        if events.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kinds: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["dossier_code"].as_str().unwrap_or("").to_string(),
                e["type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (code.clone(), "file".into()),
            (code_b.clone(), "file".into()),
            (code2.clone(), "file".into()),
            (code.clone(), "receive".into())
        ]
    );
    let ids: Vec<i64> = events
        .iter()
        .map(|e| e["id"].as_str().and_then(|i| i.parse().ok()).expect("id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // Resumed after the first event: the rest.
    let (_, page) = get_json(
        &app,
        &token,
        &format!("/api/v1/events?after={}&limit=10", ids[0]),
    )
    .await;
    assert_eq!(page["items"].as_array().expect("items").len(), 3);
    let (s, _) = get_json(&app, &token, "/api/v1/events?limit=0").await;
    assert_eq!(s, 400);
    let (s, _) = get_json(&app, &token, "/api/v1/events?after=abc").await;
    assert_eq!(s, 400);

    // Every call is in the audit trail under the partner's name.
    app.seal_audit().await;
    let entries = dichvucong::store::audit::page(&app.state.db, 0, 1000)
        .await
        .expect("audit");
    let mine = entries
        .iter()
        .filter(|e| e.entry.actor == format!("partner:{id}"))
        .count();
    assert!(mine >= 10, "{mine} audited calls");
    assert!(
        entries
            .iter()
            .any(|e| e.entry.action == "api_file" && e.entry.subject == code)
    );
    // A filing is audited once: the three filed get their `api_file` entry (in the filing's own
    // statement), every other outcome of the call (the retry's 200, the refusals) an `api_call`.
    let filed = entries
        .iter()
        .filter(|e| e.entry.action == "api_file")
        .count();
    let other = entries
        .iter()
        .filter(|e| e.entry.action == "api_call" && e.entry.subject.ends_with("/dossiers"))
        .count();
    // Every call is named by the path the partner sent (the router nests `/api`).
    let calls: Vec<&str> = entries
        .iter()
        .filter(|e| e.entry.action == "api_call")
        .map(|e| e.entry.subject.as_str())
        .collect();
    assert!(calls.iter().all(|s| s.contains(" /api/v1/")), "{calls:?}");
    assert_eq!(filed, 3);
    assert_eq!(
        other, 6,
        "the retry, four refusals and the read-only partner's 403"
    );
}

#[tokio::test]
async fn another_agencys_partner_is_refused_everywhere() {
    let app = TestApp::spawn().await;
    let (_, a_id, a_secret) = create_partner(
        &app,
        "Phường Hồng Bàng",
        AGENCY,
        "dossiers:write,dossiers:read,events:read,webhooks",
    )
    .await;
    let (_, b_id, b_secret) = create_partner(
        &app,
        "Phường Thành Đông",
        OTHER_AGENCY,
        "dossiers:write,dossiers:read,events:read,webhooks",
    )
    .await;
    let a = token(&app, &a_id, &a_secret).await;
    let b = token(&app, &b_id, &b_secret).await;
    let r = file(&app, &a, &filing(AGENCY, &[]), None).await;
    assert_eq!(r.status().as_u16(), 201);
    let code = r.json::<Value>().await.expect("json")["code"]
        .as_str()
        .expect("code")
        .to_string();
    // B may not read it, nor file to A's agency.
    let (s, p) = get_json(&app, &b, &format!("/api/v1/dossiers/{code}")).await;
    assert_eq!(s, 403, "{p}");
    assert!(p["detail"].as_str().expect("detail").contains("phạm vi"));
    let r = file(&app, &b, &filing(AGENCY, &[]), None).await;
    assert_eq!(r.status().as_u16(), 403);
    // B's feed does not show A's dossier; A's does.
    let (_, page) = get_json(&app, &b, "/api/v1/events").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 0);
    assert!(
        wait_until(10, || async {
            let (_, page) = get_json(&app, &a, "/api/v1/events").await;
            page["items"].as_array().is_some_and(|i| i.len() == 1)
        })
        .await
    );
    // A's partner cannot read the province's other communes either (a commune has no sub-units).
    let r = file(&app, &a, &filing(OTHER_AGENCY, &[]), None).await;
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn revoked_or_expired_tokens_are_refused() {
    let app = TestApp::builder()
        .manual_clock(jiff::Timestamp::now())
        .spawn()
        .await;
    let (pid, id, secret) = create_partner(&app, "Ki-ốt", AGENCY, "dossiers:read").await;
    // No token, a made-up one.
    let r = app
        .client
        .get(app.url("/api/v1/events"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("h")
            .starts_with("Bearer")
    );
    let (s, _) = get_json(&app, "khong-phai-ma-that", "/api/v1/events").await;
    assert_eq!(s, 401);
    // A token without events:read: 403 insufficient_scope.
    let t = token(&app, &id, &secret).await;
    let (s, p) = get_json(&app, &t, "/api/v1/events").await;
    assert_eq!(s, 403, "{p}");
    // Wrong secret, unknown client, unsupported grant, scope beyond the partner's: RFC 6749 errors.
    let oauth = |form: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url("/api/v1/oauth/token"))
                .form(&form)
                .send()
                .await
                .expect("token");
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.expect("json"))
        }
    };
    let (s, e) = oauth(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", id.clone()),
        ("client_secret", "sai".into()),
    ])
    .await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    let (s, e) = oauth(vec![
        ("grant_type", "password".into()),
        ("client_id", id.clone()),
        ("client_secret", secret.clone()),
    ])
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (s, e) = oauth(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", id.clone()),
        ("client_secret", secret.clone()),
        ("scope", "dossiers:write".into()),
    ])
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_scope")));
    let (s, e) = oauth(vec![
        ("client_id", id.clone()),
        ("client_secret", secret.clone()),
    ])
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")));
    // Expired: after its lifetime (900 s) the token is refused.
    let (s, _) = get_json(&app, &t, "/api/v1/dossiers/000.01.00.H31-261205-0001").await;
    assert_eq!(s, 404);
    app.clock().advance(Duration::from_secs(901));
    let (s, _) = get_json(&app, &t, "/api/v1/dossiers/000.01.00.H31-261205-0001").await;
    assert_eq!(s, 401);
    // Revoked: a live token stops working at once, and no new one is issued.
    let t = token(&app, &id, &secret).await;
    let (s, _) = get_json(&app, &t, "/api/v1/dossiers/000.01.00.H31-261205-0001").await;
    assert_eq!(s, 404);
    revoke_partner(&app, pid).await;
    let (s, _) = get_json(&app, &t, "/api/v1/dossiers/000.01.00.H31-261205-0001").await;
    assert_eq!(s, 401);
    let r = app
        .client
        .post(app.url("/api/v1/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status().as_u16(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("h")
            .starts_with("Basic")
    );
}

#[tokio::test]
async fn partner_calls_are_rate_limited() {
    let app = TestApp::builder().rate_api(5).spawn().await;
    let (_, id, secret) = create_partner(&app, "Ki-ốt", AGENCY, "events:read").await;
    let t = token(&app, &id, &secret).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(get_json(&app, &t, "/api/v1/events").await.0);
    }
    assert_eq!(statuses[..5], [200; 5]);
    assert_eq!(statuses[6], 429);
}

// ---------------------------------------------------------------------------------------------
// A stand-in receiver: a partner's webhook endpoint and the national portal's adapter.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Ok,
    /// 503 (webhook) or `error_code: 99` (national portal).
    Fail,
    /// Answers after this long (longer than the portal's timeout: a time-out).
    Slow(u64),
    /// Webhook: records the delivery as received, then never answers (the sender dies or times
    /// out before it learns the outcome).
    RecordThenHang,
}

#[derive(Clone)]
pub struct StandIn {
    pub url: String,
    mode: Arc<Mutex<Mode>>,
    /// Webhook deliveries answered 2xx: (headers, body).
    pub hooks: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// Every attempt, whatever the answer.
    pub attempts: Arc<Mutex<u64>>,
    /// National portal service calls answered with success (their JSON bodies).
    pub national: Arc<Mutex<Vec<Value>>>,
}

impl StandIn {
    pub fn set(&self, m: Mode) {
        *self.mode.lock().expect("mode") = m;
    }
    fn mode(&self) -> Mode {
        *self.mode.lock().expect("mode")
    }
    pub fn hooks(&self) -> Vec<(HeaderMap, Bytes)> {
        self.hooks.lock().expect("hooks").clone()
    }
    pub fn national(&self) -> Vec<Value> {
        self.national.lock().expect("national").clone()
    }
    /// The pushes (`DongBoHoSoMC`, `CapNhatTienDoHoSoMC`), without the lookups.
    pub fn pushes(&self) -> Vec<Value> {
        self.national()
            .into_iter()
            .filter(|c| c["service"] != "TraCuuHoSo")
            .collect()
    }
    /// The lookups (`TraCuuHoSo`) received.
    pub fn lookups(&self) -> Vec<Value> {
        self.national()
            .into_iter()
            .filter(|c| c["service"] == "TraCuuHoSo")
            .collect()
    }
    pub fn attempts(&self) -> u64 {
        *self.attempts.lock().expect("attempts")
    }
}

/// Starts the stand-in on a free port: `POST /hook` (webhooks), `POST /auth` and
/// `POST /integration` (the national portal's adapter, §3.1 of the research notes). It answers
/// `TraCuuHoSo` as OpenCPS reads it: `result` lists the dossier when a `DongBoHoSoMC` carried
/// its `MaHoSo` before.
pub async fn stand_in() -> StandIn {
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let s = StandIn {
        url: format!("http://{addr}"),
        mode: Arc::new(Mutex::new(Mode::Ok)),
        hooks: Default::default(),
        attempts: Default::default(),
        national: Default::default(),
    };
    let hook = {
        let s = s.clone();
        move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                *s.attempts.lock().expect("attempts") += 1;
                match s.mode() {
                    Mode::Ok => {
                        s.hooks.lock().expect("hooks").push((headers, body));
                        axum::http::StatusCode::NO_CONTENT
                    }
                    Mode::Fail => axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    Mode::Slow(secs) => {
                        tokio::time::sleep(Duration::from_secs(secs)).await;
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    }
                    Mode::RecordThenHang => {
                        s.hooks.lock().expect("hooks").push((headers, body));
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        axum::http::StatusCode::NO_CONTENT
                    }
                }
            }
        }
    };
    let auth = |body: Bytes| async move {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        if v["username"] == "dvc-test" && v["password"] == "mat-khau-thu" {
            axum::Json(json!({ "session": "phien-1", "error_code": 0 }))
        } else {
            axum::Json(json!({ "error_code": 1, "message": "sai tài khoản" }))
        }
    };
    let integration = {
        let s = s.clone();
        move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                *s.attempts.lock().expect("attempts") += 1;
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let known = v["session"] == "phien-1"
                    && headers.get("dstcode").is_some_and(|d| d == "000.00.00.H31");
                match s.mode() {
                    Mode::Ok if known && v["service"] == "TraCuuHoSo" => {
                        let mut calls = s.national.lock().expect("national");
                        let found: Vec<Value> = calls
                            .iter()
                            .filter(|c| {
                                c["service"] == "DongBoHoSoMC"
                                    && c["data"][0]["MaHoSo"] == v["mahoso"]
                            })
                            .map(|c| json!({ "MaHoSo": c["data"][0]["MaHoSo"] }))
                            .take(1)
                            .collect();
                        calls.push(v);
                        axum::Json(json!({ "error_code": "00", "result": found }))
                    }
                    Mode::Ok if known => {
                        // A code of its own for a new dossier, in a member no documented answer
                        // has (read only with the mapping's answer_code_field).
                        let own = (v["service"] == "DongBoHoSoMC" && v["isUpdating"] == "False")
                            .then(|| {
                                format!("QG-{}", v["data"][0]["MaHoSo"].as_str().unwrap_or(""))
                            });
                        s.national.lock().expect("national").push(v);
                        axum::Json(
                            json!({ "error_code": "00", "message": "Thành công", "MaHoSoQG": own }),
                        )
                    }
                    Mode::Ok => {
                        axum::Json(json!({ "error_code": 401, "message": "phiên không hợp lệ" }))
                    }
                    Mode::Fail => {
                        axum::Json(json!({ "error_code": 99, "message": "Lỗi hệ thống" }))
                    }
                    Mode::Slow(secs) => {
                        tokio::time::sleep(Duration::from_secs(secs)).await;
                        axum::Json(json!({ "error_code": "00" }))
                    }
                    Mode::RecordThenHang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        axum::Json(json!({ "error_code": "00" }))
                    }
                }
            }
        }
    };
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .route("/auth", post(auth))
        .route("/integration", post(integration));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    s
}

#[tokio::test]
async fn webhook_urls_must_be_public_https() {
    let app = TestApp::builder().webhook_insecure(false).spawn().await;
    let (_, id, secret) = create_partner(&app, "Bộ", AGENCY, "webhooks").await;
    let t = token(&app, &id, &secret).await;
    for (url, needle) in [
        ("http://example.vn/hook", "https"),
        ("https://127.0.0.1/hook", "mạng nội bộ"),
        ("https://localhost/hook", "mạng nội bộ"),
        ("https://169.254.169.254/latest", "mạng nội bộ"),
        ("https://[::1]/hook", "mạng nội bộ"),
        ("https://10.0.0.8/hook", "mạng nội bộ"),
        ("https://user:pw@example.vn/hook", "mật khẩu"),
        ("khong-phai-url", "URL đầy đủ"),
    ] {
        let r = app
            .client
            .post(app.url("/api/v1/webhooks"))
            .bearer_auth(&t)
            .json(&json!({ "url": url }))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 422, "{url}");
        let p: Value = r.json().await.expect("json");
        assert_eq!(p["errors"][0]["field"], "url");
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .expect("m")
                .contains(needle),
            "{url}: {p}"
        );
    }
    let r = app
        .client
        .post(app.url("/api/v1/webhooks"))
        .bearer_auth(&t)
        .json(&json!({ "url": "https://127.0.0.2/x", "events": ["khong-co"] }))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 422);
}

/// Registers a webhook of a new partner for `AGENCY` at the stand-in: (bearer token, secret).
async fn webhook(app: &TestApp, s: &StandIn, events: Value) -> (String, String) {
    let (_, id, secret) =
        create_partner(app, "Hệ thống của Bộ", PROVINCE, "dossiers:write,webhooks").await;
    let t = token(app, &id, &secret).await;
    let r = app
        .client
        .post(app.url("/api/v1/webhooks"))
        .bearer_auth(&t)
        .json(&json!({ "url": format!("{}/hook", s.url), "events": events }))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status().as_u16(), 201);
    let v: Value = r.json().await.expect("json");
    let whsec = v["secret"].as_str().expect("secret").to_string();
    assert!(whsec.starts_with("whsec_"));
    (t, whsec)
}

#[tokio::test]
async fn webhooks_are_signed_and_a_receiver_down_for_a_while_gets_every_event_in_order() {
    let app = TestApp::builder()
        .manual_clock(jiff::Timestamp::now())
        .spawn()
        .await;
    let s = stand_in().await;
    let (t, whsec) = webhook(&app, &s, json!([])).await;
    // The receiver is down (503), then slow (beyond the portal's 2-s timeout).
    s.set(Mode::Fail);
    let mut codes = Vec::new();
    for _ in 0..3 {
        let r = file(&app, &t, &filing(AGENCY, &[]), None).await;
        assert_eq!(r.status().as_u16(), 201);
        codes.push(
            r.json::<Value>().await.expect("json")["code"]
                .as_str()
                .expect("code")
                .to_string(),
        );
    }
    let officer = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    for c in &codes {
        assert_eq!(
            officer
                .act(&app, c, "tiep-nhan", &[])
                .await
                .status()
                .as_u16(),
            303
        );
    }
    assert!(wait_until(10, || async { s.attempts() >= 3 }).await);
    s.set(Mode::Slow(4));
    app.clock().advance(Duration::from_secs(60));
    // While the receiver hangs, the portal answers as usual (deliveries are in the background).
    let r = file(&app, &t, &filing(AGENCY, &[]), None).await;
    assert_eq!(r.status().as_u16(), 201);
    codes.push(
        r.json::<Value>().await.expect("json")["code"]
            .as_str()
            .expect("code")
            .to_string(),
    );
    assert!(s.hooks().is_empty());
    // Back up: with time passing, every event arrives.
    s.set(Mode::Ok);
    let expected = 7; // four filings, three receptions
    assert!(
        wait_until(30, || async {
            app.clock().advance(Duration::from_secs(120));
            let got: std::collections::BTreeSet<String> = s
                .hooks()
                .iter()
                .filter_map(|(h, _)| {
                    h.get("dvc-event-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                })
                .collect();
            got.len() >= expected
        })
        .await,
        "{} deliveries",
        s.hooks().len()
    );
    // Signed by the documented rule; per dossier in order; the event id in the header and body.
    let now = app.clock().now_ms() / 1000;
    let mut per_dossier: std::collections::BTreeMap<String, Vec<(i64, String)>> =
        Default::default();
    for (h, body) in s.hooks() {
        let sig = h["dvc-signature"].to_str().expect("sig");
        assert!(
            dvc_domain::integration::verify_webhook_signature(
                &whsec,
                sig,
                &body,
                now,
                3 * 24 * 3600
            ),
            "bad signature {sig}"
        );
        assert!(!dvc_domain::integration::verify_webhook_signature(
            "whsec_khac",
            sig,
            &body,
            now,
            3 * 24 * 3600
        ));
        let v: Value = serde_json::from_slice(&body).expect("json body");
        assert_eq!(
            h["dvc-event-id"].to_str().expect("id"),
            v["id"].as_str().expect("id")
        );
        let id: i64 = v["id"].as_str().and_then(|i| i.parse().ok()).expect("id");
        per_dossier
            .entry(v["dossier_code"].as_str().expect("code").to_string())
            .or_default()
            .push((id, v["type"].as_str().expect("type").to_string()));
    }
    for c in &codes {
        let seen = per_dossier
            .get(c)
            .unwrap_or_else(|| panic!("nothing for {c}"));
        // Duplicates may come (at least once); the first arrival of each event is in order.
        let mut firsts: Vec<(i64, String)> = Vec::new();
        for e in seen {
            if !firsts.contains(e) {
                firsts.push(e.clone());
            }
        }
        assert!(
            firsts.windows(2).all(|w| w[0].0 < w[1].0),
            "{c}: {firsts:?}"
        );
        assert_eq!(firsts[0].1, "file");
    }
    assert_eq!(
        per_dossier[&codes[0]]
            .iter()
            .filter(|e| e.1 == "receive")
            .count()
            .min(1),
        1
    );
}

#[tokio::test]
async fn national_portal_receives_every_status_change() {
    let s = stand_in().await;
    let app = TestApp::builder()
        .manual_clock(jiff::Timestamp::now())
        .dvcqg(&s.url)
        .spawn()
        .await;
    // Filed on the web by a citizen: pushed as status 1, new to the national portal.
    let code = app.submit_birth_registration().await;
    assert!(
        wait_until(15, || async { s.pushes().len() >= 2 }).await,
        "{:?}",
        s.national()
    );
    // Asked first whether the national portal has it (a push repeated after a crash).
    let lookups = s.lookups();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    assert_eq!(lookups[0]["mahoso"], code.as_str());
    assert_eq!(s.national()[0]["service"], "TraCuuHoSo");
    let calls = s.pushes();
    assert_eq!(calls[0]["service"], "DongBoHoSoMC");
    assert_eq!(calls[0]["madonvi"], "000.00.00.H31");
    assert_eq!(calls[0]["isUpdating"], "False");
    let d = &calls[0]["data"][0];
    assert_eq!(d["MaHoSo"], code.as_str());
    assert_eq!(d["MaTTHC"], PROC);
    assert_eq!(d["TrangThaiHoSo"], "1");
    assert_eq!(d["KenhThucHien"], "2");
    assert_eq!(d["ChuHoSo"], "Nguyễn Thị Hoa");
    let date = d["NgayNopHoSo"].as_str().expect("date");
    assert_eq!(date.len(), 14);
    assert!(date.chars().all(|c| c.is_ascii_digit()));
    let vn = app
        .clock()
        .now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").expect("tz"))
        .strftime("%Y%m%d")
        .to_string();
    assert!(date.starts_with(&vn), "{date} is not Vietnam time ({vn})");
    assert_eq!(d["TaiLieuNop"].as_array().expect("files").len(), 1);
    assert_eq!(calls[1]["service"], "CapNhatTienDoHoSoMC");
    assert_eq!(calls[1]["data"][0]["TrangThai"], "1");
    assert_eq!(calls[1]["data"][0]["MaHoSo"], code.as_str());
    let synced = |app: &TestApp, code: String| {
        let db = app.state.db.clone();
        async move {
            let row = dichvucong::store::dossiers::find_by_code(&db, &code)
                .await
                .expect("db")
                .expect("row");
            dichvucong::store::partners::sync_state(&db, row.id)
                .await
                .expect("sync")
        }
    };
    assert!(wait_until(5, || async { synced(&app, code.clone()).await.0.is_some() }).await);
    // The statistics count it at once (indicator 3.3's sync rate).
    let stats: serde_json::Value = app
        .get(&format!("/api/v1/statistics?agency={AGENCY}"))
        .await
        .json()
        .await
        .expect("statistics");
    assert_eq!(stats["counts"]["synced"], 1, "{stats}");
    // The back office shows it.
    let officer = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let (_, page) = officer.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(
        page.contains("Đã đồng bộ với Cổng Dịch vụ công quốc gia"),
        "{page}"
    );

    // The national portal fails: the change waits, the dossier shows as not synced, then goes
    // through once the portal answers again.
    s.set(Mode::Fail);
    assert_eq!(
        officer
            .act(&app, &code, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    assert!(
        wait_until(10, || async {
            synced(&app, code.clone()).await.1 >= 1 && s.attempts() >= 3
        })
        .await,
        "{:?} {}",
        synced(&app, code.clone()).await,
        s.attempts()
    );
    let (_, page) = officer.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(page.contains("Chưa đồng bộ"), "{page}");
    // Slow (beyond the 2-s timeout): still not synced, and the portal keeps answering.
    s.set(Mode::Slow(4));
    app.clock().advance(Duration::from_secs(60));
    let (st, _) = app.get_text(&format!("/tra-cuu?ma={code}")).await;
    assert_eq!(st, 200);
    s.set(Mode::Ok);
    assert!(
        wait_until(30, || async {
            app.clock().advance(Duration::from_secs(120));
            s.pushes()
                .iter()
                .any(|c| c["service"] == "CapNhatTienDoHoSoMC" && c["data"][0]["TrangThai"] == "2")
        })
        .await,
        "{:?}",
        s.national()
    );
    let update = s
        .pushes()
        .into_iter()
        .find(|c| c["service"] == "DongBoHoSoMC" && c["data"][0]["TrangThaiHoSo"] == "2")
        .expect("status 2 pushed");
    assert_eq!(update["isUpdating"], "True");
    // Synced once already: no second lookup.
    assert_eq!(s.lookups().len(), 1);
    assert!(wait_until(5, || async { synced(&app, code.clone()).await.1 == 0 }).await);
    // The sync rate (QĐ 766 indicator 1.4) on the administrators' Tích hợp page.
    let admin = app
        .official("quantri@hongbang.gov.vn", Role::Admin, AGENCY)
        .await;
    let (_, page) = admin.get(&app, "/can-bo/quan-tri/tich-hop").await;
    assert!(page.contains("Tỷ lệ đồng bộ"), "{page}");
    assert!(page.contains("100,0%") && page.contains("(1/1"), "{page}");
}

/// The `DongBoHoSoMC` records pushed so far for `code`, in order.
fn dossier_pushes(s: &StandIn, code: &str) -> Vec<Value> {
    s.pushes()
        .into_iter()
        .filter(|c| c["service"] == "DongBoHoSoMC" && c["data"][0]["MaHoSo"] == code)
        .collect()
}

#[tokio::test]
async fn national_portal_gets_status_6_until_the_fee_is_paid_then_the_payment_fields() {
    let s = stand_in().await;
    let app = TestApp::builder()
        .payment(dichvucong::config::PaymentMode::Sandbox)
        .dvcqg(&s.url)
        .spawn()
        .await;
    // Cấp Giấy xác nhận tình trạng hôn nhân, 2 copies: 20.000 đồng paid at filing.
    let (r, _) = crate::payment::file_xntthn(&app, "2").await;
    assert_eq!(r.status().as_u16(), 303);
    let pay_url = location(&r);
    let txn_ref = crate::payment::query_of(&pay_url)
        .get("vnp_TxnRef")
        .cloned()
        .expect("txn_ref");
    let payment = dichvucong::store::payments::find_by_txn_ref(&app.state.db, &txn_ref)
        .await
        .expect("read")
        .expect("payment");
    let row = dichvucong::store::dossiers::find_by_id(&app.state.db, payment.dossier_id)
        .await
        .expect("read")
        .expect("dossier");
    let code = row.code.clone();
    assert_eq!(row.status, "awaiting_payment");
    // Waiting for the fee: 6 "Yêu cầu thực hiện nghĩa vụ tài chính", with the fee lines.
    assert!(
        wait_until(15, || async { !dossier_pushes(&s, &code).is_empty() }).await,
        "{:?}",
        s.national()
    );
    let first = &dossier_pushes(&s, &code)[0];
    assert_eq!(first["isUpdating"], "False");
    let d = &first["data"][0];
    assert_eq!(d["TrangThaiHoSo"], "6", "{d}");
    let fees = d["DanhSachLePhi"].as_array().expect("DanhSachLePhi");
    assert!(!fees.is_empty(), "{d}");
    assert_eq!(
        fees.iter()
            .map(|f| f["Gia"].as_u64().unwrap_or(0))
            .sum::<u64>(),
        20_000,
        "{d}"
    );
    for f in fees {
        assert_eq!(f["HinhThucThu"], "1", "paid at filing: {f}");
        assert!(f["TenPhiLePhi"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(f["LoaiPhiLePhi"] == "1" || f["LoaiPhiLePhi"] == "2");
    }
    assert!(
        d.get("DuocThanhToanTrucTuyen").is_none(),
        "not paid yet: {d}"
    );
    assert_eq!(d["ThongTinThanhToan"]["TrangThaiThanhToan"], "0", "{d}");
    assert!(
        wait_until(10, || async {
            s.pushes().iter().any(|c| {
                c["service"] == "CapNhatTienDoHoSoMC"
                    && c["data"][0]["MaHoSo"] == code.as_str()
                    && c["data"][0]["TrangThai"] == "6"
            })
        })
        .await,
        "{:?}",
        s.national()
    );
    // Wait until every change so far is acknowledged, then lose that acknowledgement, as a
    // crash between the push and its record would: the next push asks the portal first and
    // updates the dossier instead of creating it again.
    let synced = || async {
        dichvucong::store::partners::sync_state(&app.state.db, row.id)
            .await
            .expect("sync")
    };
    assert!(wait_until(15, || async { synced().await.1 == 0 }).await);
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query("UPDATE dossiers SET synced_at = NULL WHERE id = $1").bind(row.id).execute(p).await.expect("unsync");
    });
    let lookups_before = s.lookups().len();

    // Paid at the gateway (the IPN): back to its own status, 1, with the payment fields.
    let back = crate::payment::at_gateway(&app, &pay_url, "pay").await;
    let (st, page) = app.get_text(crate::payment::path_of(&app, &back)).await;
    assert_eq!(st, 200, "{page}");
    assert!(
        wait_until(15, || async {
            dossier_pushes(&s, &code)
                .iter()
                .any(|c| c["data"][0]["TrangThaiHoSo"] == "1")
        })
        .await,
        "{:?}",
        s.national()
    );
    let paid = dossier_pushes(&s, &code)
        .into_iter()
        .find(|c| c["data"][0]["TrangThaiHoSo"] == "1")
        .expect("pushed as 1");
    assert_eq!(s.lookups().len(), lookups_before + 1, "asked again");
    assert_eq!(
        paid["isUpdating"], "True",
        "found by TraCuuHoSo: no duplicate"
    );
    let d = &paid["data"][0];
    assert_eq!(
        d["DuocThanhToanTrucTuyen"], "2",
        "paid through our gateway: {d}"
    );
    let info = &d["ThongTinThanhToan"];
    assert_eq!(info["TrangThaiThanhToan"], "1", "{d}");
    assert_eq!(info["SoTien"], 20_000, "{d}");
    assert_eq!(info["MaThamChieu"], txn_ref.as_str(), "{d}");
    assert!(
        info["MaGiaoDich"].as_str().is_some_and(|t| !t.is_empty()),
        "the gateway's transaction number: {d}"
    );
    let at = info["ThoiGianThanhToan"].as_str().expect("date");
    assert!(
        at.len() == 14 && at.bytes().all(|b| b.is_ascii_digit()),
        "{at}"
    );
    assert!(
        d["DanhSachLePhi"]
            .as_array()
            .is_some_and(|f| f.iter().any(|l| l["Gia"].as_u64() > Some(0))),
        "{d}"
    );
    assert!(
        wait_until(10, || async {
            s.pushes().iter().any(|c| {
                c["service"] == "CapNhatTienDoHoSoMC"
                    && c["data"][0]["MaHoSo"] == code.as_str()
                    && c["data"][0]["TrangThai"] == "1"
            })
        })
        .await,
        "{:?}",
        s.national()
    );
}

#[tokio::test]
async fn a_dossier_filed_with_a_national_code_keeps_it_in_every_push() {
    let s = stand_in().await;
    let app = TestApp::builder()
        .manual_clock(jiff::Timestamp::now())
        .dvcqg(&s.url)
        .spawn()
        .await;
    let (_, id, secret) = create_partner(
        &app,
        "Cổng Dịch vụ công quốc gia",
        PROVINCE,
        "dossiers:write,dossiers:read",
    )
    .await;
    let token = token(&app, &id, &secret).await;
    const NATIONAL: &str = "G22.99-261205-0042";
    let mut body = filing(AGENCY, &[]);
    body["national_code"] = json!(NATIONAL);
    let r = file(&app, &token, &body, Some("dvcqg-1")).await;
    assert_eq!(r.status().as_u16(), 201);
    let code = r.json::<Value>().await.expect("json")["code"]
        .as_str()
        .expect("code")
        .to_string();
    assert_ne!(code, NATIONAL);
    let (st, read) = get_json(&app, &token, &format!("/api/v1/dossiers/{code}")).await;
    assert_eq!(st, 200, "{read}");
    assert_eq!(read["national_code"], NATIONAL);
    // Sent again by the national portal under another key: the same dossier.
    let r = file(&app, &token, &body, Some("dvcqg-2")).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json")["code"],
        code.as_str()
    );
    assert_eq!(
        dichvucong::store::dossiers::count(&app.state.db)
            .await
            .expect("count"),
        1
    );
    // Another partner cannot file a dossier under that national code.
    let (_, id_b, secret_b) = create_partner(&app, "Bưu điện", AGENCY, "dossiers:write").await;
    let token_b = token_at(&app.client, &app.base, &id_b, &secret_b).await;
    let r = file(&app, &token_b, &body, Some("buu-dien-1")).await;
    assert_eq!(r.status().as_u16(), 409);
    let p: Value = r.json().await.expect("json");
    assert_eq!(p["error"]["code"], "national_code_used", "{p}");
    // A malformed national code is a field error.
    let mut bad = filing(AGENCY, &[]);
    bad["national_code"] = json!("G22 99; DROP");
    let r = file(&app, &token, &bad, Some("dvcqg-3")).await;
    assert_eq!(r.status().as_u16(), 422);
    let p: Value = r.json().await.expect("json");
    assert!(p["errors"].to_string().contains("national_code"), "{p}");

    // Pushed under the national code, as an update (the national portal has it), no lookup.
    assert!(
        wait_until(15, || async { s.pushes().len() >= 2 }).await,
        "{:?}",
        s.national()
    );
    let officer = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    assert_eq!(
        officer
            .act(&app, &code, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    assert!(
        wait_until(15, || async {
            s.pushes()
                .iter()
                .any(|c| c["service"] == "CapNhatTienDoHoSoMC" && c["data"][0]["TrangThai"] == "2")
        })
        .await,
        "{:?}",
        s.national()
    );
    let pushes = s.pushes();
    assert!(pushes.len() >= 4, "{pushes:?}");
    for c in &pushes {
        assert_eq!(c["data"][0]["MaHoSo"], NATIONAL, "{c}");
        if c["service"] == "DongBoHoSoMC" {
            assert_eq!(c["isUpdating"], "True", "{c}");
        }
    }
    assert!(
        !serde_json::to_string(&s.national())
            .expect("json")
            .contains(&code),
        "our code never sent"
    );
    assert!(s.lookups().is_empty());
}

#[tokio::test]
async fn a_code_the_national_portal_answers_with_is_kept_when_the_mapping_names_it() {
    let s = stand_in().await;
    let mapping = std::env::temp_dir().join(format!(
        "dvc-dvcqg-mapping-{}-{}.toml",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    ));
    std::fs::write(
        &mapping,
        "answer_code_field = \"MaHoSoQG\"\nlookup = false\n[statuses]\nreceived = 4\n",
    )
    .expect("write mapping");
    let app = TestApp::builder()
        .dvcqg(&s.url)
        .dvcqg_mapping(mapping.clone())
        .spawn()
        .await;
    let code = app.submit_birth_registration().await;
    assert!(
        wait_until(15, || async { s.pushes().len() >= 2 }).await,
        "{:?}",
        s.national()
    );
    // Lookup turned off: no TraCuuHoSo; created under our code.
    assert!(s.lookups().is_empty());
    assert_eq!(s.pushes()[0]["data"][0]["MaHoSo"], code.as_str());
    assert_eq!(s.pushes()[0]["isUpdating"], "False");
    let officer = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    assert_eq!(
        officer
            .act(&app, &code, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    // Then under the code the portal answered with, with the mapped status (received → 4).
    let own = format!("QG-{code}");
    assert!(
        wait_until(15, || async {
            s.pushes().iter().any(|c| {
                c["service"] == "CapNhatTienDoHoSoMC" && c["data"][0]["MaHoSo"] == own.as_str()
            })
        })
        .await,
        "{:?}",
        s.national()
    );
    let update = s
        .pushes()
        .into_iter()
        .find(|c| c["service"] == "DongBoHoSoMC" && c["data"][0]["MaHoSo"] == own.as_str())
        .expect("pushed under the portal's code");
    assert_eq!(update["isUpdating"], "True");
    assert_eq!(update["data"][0]["TrangThaiHoSo"], "4");
    let _ = std::fs::remove_file(&mapping);
}

#[tokio::test]
async fn attachment_links_download_the_file_and_fail_once_expired_or_altered() {
    let s = stand_in().await;
    let app = TestApp::builder()
        .manual_clock(jiff::Timestamp::now())
        .dvcqg(&s.url)
        .spawn()
        .await;
    let code = app.submit_birth_registration().await;
    assert!(
        wait_until(15, || async { !dossier_pushes(&s, &code).is_empty() }).await,
        "{:?}",
        s.national()
    );
    let d = &dossier_pushes(&s, &code)[0]["data"][0];
    let file = &d["TaiLieuNop"][0];
    assert_eq!(file["TenTepDinhKem"], "giay-chung-sinh.pdf", "{d}");
    let link = file["DuongDanTaiTepTin"]
        .as_str()
        .expect("link")
        .to_string();
    let path = link
        .strip_prefix(app.base.as_str())
        .unwrap_or_else(|| panic!("{link} is not on the portal"))
        .to_string();
    assert!(path.starts_with("/api/v1/national/attachments/"), "{path}");
    assert!(
        path.contains("expires=") && path.contains("signature="),
        "{path}"
    );
    // No personal data and no dossier code in the link.
    assert!(!link.contains(&code) && !link.contains("Hoa"), "{link}");
    // The national portal downloads the file.
    let r = app.get(&path).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment")
    );
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), valid_pdf());
    // The fetch is in the audit trail, with the address it came from.
    app.seal_audit().await;
    let fetched = dichvucong::store::audit::page(&app.state.db, 0, 1000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.entry.action == "attachment_fetched")
        .collect::<Vec<_>>();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].entry.ip, "127.0.0.1");
    // Altered: the signature, the attachment or the expiry.
    let q = crate::payment::query_of(&path);
    let (id, _) = path["/api/v1/national/attachments/".len()..]
        .split_once('?')
        .expect("query");
    let expires: i64 = q["expires"].parse().expect("expires");
    let sig = &q["signature"];
    let flipped = format!(
        "{}{}",
        &sig[..sig.len() - 1],
        if sig.ends_with('0') { "1" } else { "0" }
    );
    let id_n: i64 = id.parse().expect("id");
    for altered in [
        format!("/api/v1/national/attachments/{id}?expires={expires}&signature={flipped}"),
        format!(
            "/api/v1/national/attachments/{}?expires={expires}&signature={sig}",
            id_n + 1
        ),
        format!(
            "/api/v1/national/attachments/{id}?expires={}&signature={sig}",
            expires + 86_400
        ),
        format!("/api/v1/national/attachments/{id}?expires={expires}"),
        format!("/api/v1/national/attachments/{id}"),
    ] {
        let r = app.get(&altered).await;
        assert_eq!(r.status().as_u16(), 403, "{altered}");
        let p: Value = r.json().await.expect("json");
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|m| m.contains("không hợp lệ")),
            "{p}"
        );
    }
    // Expired (30 days by default): refused with a Vietnamese message.
    app.clock().advance(Duration::from_secs(31 * 24 * 3600));
    let r = app.get(&path).await;
    assert_eq!(r.status().as_u16(), 410);
    let p: Value = r.json().await.expect("json");
    assert!(
        p["detail"].as_str().is_some_and(|m| m.contains("hết hạn")),
        "{p}"
    );
}

#[tokio::test]
async fn administrators_see_failed_deliveries_and_send_them_again() {
    let app = TestApp::builder()
        .manual_clock(jiff::Timestamp::now())
        .spawn()
        .await;
    let s = stand_in().await;
    let (t, _) = webhook(&app, &s, json!(["file"])).await;
    s.set(Mode::Fail);
    let r = file(&app, &t, &filing(AGENCY, &[]), None).await;
    let code = r.json::<Value>().await.expect("json")["code"]
        .as_str()
        .expect("code")
        .to_string();
    assert!(wait_until(10, || async { s.attempts() >= 1 }).await);
    let admin = app
        .official("quantri@hongbang.gov.vn", Role::Admin, PROVINCE)
        .await;
    let mut page = String::new();
    for _ in 0..100 {
        page = admin.get(&app, "/can-bo/quan-tri/tich-hop").await.1;
        if page.contains("HTTP 503") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(page.contains(&code), "{page}");
    let id = extract(&page, "/can-bo/quan-tri/tich-hop/")
        .and_then(|s| s.split('/').next().map(str::to_string))
        .expect("resend form");
    // Not for other roles.
    let reception = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    assert_eq!(
        reception.get(&app, "/can-bo/quan-tri/tich-hop").await.0,
        403
    );
    let r = reception
        .client
        .post(app.url(&format!("/can-bo/quan-tri/tich-hop/{id}/gui-lai")))
        .form(&[("csrf", reception.csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
    // "Gửi lại" by the administrator: sent now, without waiting for the backoff.
    s.set(Mode::Ok);
    let r = admin
        .client
        .post(app.url(&format!("/can-bo/quan-tri/tich-hop/{id}/gui-lai")))
        .form(&[("csrf", admin.csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 303);
    assert!(wait_until(10, || async { s.hooks().len() == 1 }).await);
    assert!(
        wait_until(10, || async {
            !admin
                .get(&app, "/can-bo/quan-tri/tich-hop")
                .await
                .1
                .contains("HTTP 503")
        })
        .await
    );
}

/// The real binary, killed with SIGKILL while a webhook delivery is in flight (the receiver has
/// the request, the portal has not recorded the answer): after a restart every event still
/// reaches the receiver (the interrupted one again, with the same DVC-Event-Id).
#[tokio::test]
async fn kill_9_mid_delivery_loses_no_webhook() {
    let dir = std::env::temp_dir().join(format!("dvc-kill-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (url, pg) = if backend_is_pg() {
        let (u, name) = create_pg_database().await;
        (u, Some(name))
    } else {
        (format!("sqlite://{}", dir.join("kill.db").display()), None)
    };
    struct Cleanup(std::path::PathBuf, Option<String>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
            if let Some(n) = self.1.take() {
                drop_pg_database(n);
            }
        }
    }
    let _cleanup = Cleanup(dir.clone(), pg);
    struct Node(std::process::Child);
    impl Drop for Node {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let start = || {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_dichvucong"))
            .arg("serve")
            .env("DVC_LISTEN", format!("127.0.0.1:{port}"))
            .env("DVC_DATA_DIR", &dir)
            .env("DVC_DATABASE_URL", &url)
            .env("DVC_SMTP_URL", "smtp://127.0.0.1:9")
            .env("DVC_CAPTCHA", "off")
            .env("DVC_WEBHOOK_ALLOW_INSECURE", "true")
            .env("DVC_DELIVERY_TIMEOUT_SECS", "1")
            .env("DVC_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        (Node(child), format!("http://127.0.0.1:{port}"))
    };
    let c = client();
    let healthy = |base: String| {
        let c = c.clone();
        async move {
            wait_until(60, || {
                let c = c.clone();
                let base = base.clone();
                async move {
                    c.get(format!("{base}/healthz"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                }
            })
            .await
        }
    };
    let (node, base) = start();
    assert!(healthy(base.clone()).await, "portal did not start");
    let (_, id, secret) = create_partner_in(
        url.clone(),
        dir.clone(),
        "Bộ",
        PROVINCE,
        "dossiers:write,webhooks",
    )
    .await;
    let t = token_at(&c, &base, &id, &secret).await;
    let s = stand_in().await;
    let r = c
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&t)
        .json(&json!({ "url": format!("{}/hook", s.url) }))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status().as_u16(), 201);
    s.set(Mode::RecordThenHang);
    let mut codes = Vec::new();
    for _ in 0..3 {
        let r = c
            .post(format!("{base}/api/v1/dossiers"))
            .bearer_auth(&t)
            .json(&filing(AGENCY, &[]))
            .send()
            .await
            .expect("file");
        assert_eq!(r.status().as_u16(), 201);
        codes.push(
            r.json::<Value>().await.expect("json")["code"]
                .as_str()
                .expect("code")
                .to_string(),
        );
    }
    // A delivery reached the receiver, which holds it: kill the portal now.
    assert!(wait_until(15, || async { !s.hooks().is_empty() }).await);
    drop(node);
    // What the receiver had when the portal died: never acknowledged, so sent again.
    let before: std::collections::BTreeSet<String> =
        std::mem::take(&mut *s.hooks.lock().expect("hooks"))
            .iter()
            .filter_map(|(h, _)| {
                h.get("dvc-event-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            })
            .collect();
    assert!(!before.is_empty());
    s.set(Mode::Ok);
    let (_node, base) = start();
    assert!(healthy(base.clone()).await, "portal did not restart");
    let ids = || {
        s.hooks()
            .iter()
            .filter_map(|(_, b)| serde_json::from_slice::<Value>(b).ok())
            .map(|v| v["dossier_code"].as_str().unwrap_or("").to_string())
            .collect::<std::collections::BTreeSet<String>>()
    };
    assert!(
        wait_until(60, || async { codes.iter().all(|c| ids().contains(c)) }).await,
        "{:?} of {codes:?}",
        ids()
    );
    let after: std::collections::BTreeSet<String> = s
        .hooks()
        .iter()
        .filter_map(|(h, _)| {
            h.get("dvc-event-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .collect();
    assert!(before.is_subset(&after), "{before:?} not resent: {after:?}");
}

/// Requests racing with one `Idempotency-Key`: one dossier is filed; the others with the same
/// request answer it (200), those with another request 422 — whichever commits first.
#[tokio::test]
async fn one_idempotency_key_raced_files_once_and_tells_other_requests_apart() {
    let app = TestApp::spawn().await;
    let (_, id, secret) = create_partner(&app, "Bưu điện tỉnh", PROVINCE, "dossiers:write").await;
    let token = token(&app, &id, &secret).await;
    let same = filing(AGENCY, &[]);
    let other = filing(AGENCY, &[("tre_ho_ten", "Trần Minh Bình")]);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let body = if i % 2 == 0 { &same } else { &other };
        tasks.push(file(&app, &token, body, Some("dua-1")));
    }
    let answers = futures_util::future::join_all(tasks).await;
    let mut statuses: Vec<u16> = Vec::new();
    let mut codes = std::collections::BTreeSet::new();
    for (i, r) in answers.into_iter().enumerate() {
        let s = r.status().as_u16();
        statuses.push(s);
        if s != 422 {
            let v: Value = r.json().await.expect("json");
            codes.insert((i % 2, v["code"].as_str().expect("code").to_string()));
        }
    }
    assert_eq!(
        dichvucong::store::dossiers::count(&app.state.db)
            .await
            .expect("count"),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    // The four requests with the winner's body name the one dossier; the four others get 422.
    assert_eq!(codes.len(), 1, "{codes:?} {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        4,
        "{statuses:?}"
    );
}
