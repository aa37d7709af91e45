//! Hostile input against the running server (issue 7, item 3): generated multipart bodies
//! (proptest drives the real server: random boundaries, truncated and mangled bodies, missing,
//! late or duplicated CSRF tokens, hundreds of parts, random bytes as file content, weird file
//! names), lying HTTP framing over a raw socket, thousands of parts, and hostile text in every
//! form and URL. After every request: never a 5xx, every error page is the portal's own
//! Vietnamese page, nothing stored when refused, every stored file passes the content checks
//! and is referenced by a draft or a dossier (no orphans), and the server keeps answering.
//!
//! Case counts are fixed for CI; `DVC_FUZZ_FACTOR=10` multiplies them for a longer run.

use crate::helpers::*;
use dvc_domain::staff::Role;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Cases for a target, times `DVC_FUZZ_FACTOR` (default 1).
pub fn cases(n: u32) -> Config {
    let factor: u32 = std::env::var("DVC_FUZZ_FACTOR")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut c = Config::with_cases(n.saturating_mul(factor.max(1)));
    // Shrinking replays requests against a server whose state moved on: keep it short.
    c.max_shrink_iters = 200;
    c.failure_persistence = None;
    c
}

// ---------------------------------------------------------------------------------------------
// Storage probes shared with the other hostile/ASVS tests
// ---------------------------------------------------------------------------------------------

/// Every file under `<data dir>/files`, as storage keys (paths relative to that folder).
pub fn stored_files(app: &TestApp) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else if let Ok(rel) = p.strip_prefix(root) {
                    out.insert(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
    }
    let root = app.dir.join("files");
    let mut out = BTreeSet::new();
    walk(&root, &root, &mut out);
    out
}

/// Drafts as stored: (session hash, procedure, answers JSON, files JSON).
pub async fn draft_rows(app: &TestApp) -> Vec<(String, String, String, String)> {
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT session_hash, procedure_code, answers, files FROM drafts ORDER BY session_hash, procedure_code")
            .fetch_all(p).await.expect("drafts")
    })
}

/// Storage keys the database points at: draft files, dossier attachments, result files.
pub async fn referenced_keys(app: &TestApp) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (_, _, _, files) in draft_rows(app).await {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&files).expect("draft files JSON");
        for f in map.values() {
            keys.insert(f["storage_key"].as_str().expect("key").to_string());
        }
    }
    let rows: Vec<(Option<String>,)> = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT storage_key FROM attachments UNION ALL SELECT result_key FROM dossiers")
            .fetch_all(p).await.expect("keys")
    });
    keys.extend(rows.into_iter().filter_map(|r| r.0));
    keys
}

/// True when the text looks like the portal's own Vietnamese page, not a framework message.
pub fn is_portal_error_page(content_type: &str, body: &str) -> bool {
    content_type.starts_with("text/html")
        && content_type.contains("charset=utf-8")
        && body.contains("lang=\"vi\"")
        && !body.contains("panicked")
        && !body.to_lowercase().contains("sqlx")
        && !body.contains("Failed to")
}

// ---------------------------------------------------------------------------------------------
// Generated multipart bodies
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Content {
    Text(String),
    Bytes(Vec<u8>),
    Magic(Vec<u8>, Vec<u8>),
    ValidPdf,
    PdfWithScript,
    /// A valid PDF padded past the 10 MB per-file limit.
    Oversized,
}

#[derive(Debug, Clone)]
struct Part {
    name: Option<String>,
    file_name: Option<String>,
    content_type: Option<String>,
    extra_header: Option<String>,
    content: Content,
}

#[derive(Debug, Clone, PartialEq)]
enum Csrf {
    First,
    Missing,
    Wrong(String),
    Empty,
    /// The right token, but after other parts.
    Late,
    /// The right token first, a wrong one later.
    Twice,
    /// The right token in a part named `CSRF`.
    WrongName,
}

#[derive(Debug, Clone)]
enum ContentType {
    Proper,
    Quoted,
    NoBoundary,
    OtherBoundary,
    Mixed,
    UrlEncoded,
    Missing,
    Garbage(String),
}

#[derive(Debug, Clone)]
enum Mangle {
    None,
    /// Cut the body at this fraction (per mille) of its length.
    Truncate(u16),
    Insert(u16, Vec<u8>),
    NoClosingBoundary,
    LfOnly,
    FlipByte(u16),
}

#[derive(Debug, Clone)]
struct Case {
    boundary: String,
    csrf: Csrf,
    answers: bool,
    parts: Vec<Part>,
    filler: usize,
    content_type: ContentType,
    mangle: Mangle,
}

impl Case {
    /// The request cannot pass the anti-forgery check: no right token in the first part, or a
    /// body that is not multipart with this boundary. (A mangled body may still carry a valid
    /// token: a mangle far from the first part leaves it intact.)
    fn csrf_broken(&self) -> bool {
        // A "late" token with nothing before it is the first part after all.
        let late_but_first =
            self.csrf == Csrf::Late && !self.answers && self.filler == 0 && self.parts.is_empty();
        !(matches!(self.csrf, Csrf::First | Csrf::Twice) || late_but_first)
            || !matches!(self.content_type, ContentType::Proper | ContentType::Quoted)
    }

    fn render(&self, csrf: &str) -> (Option<String>, Vec<u8>) {
        let b = &self.boundary;
        let mut body = Vec::new();
        let mut part = |name: Option<&str>,
                        file_name: Option<&str>,
                        ct: Option<&str>,
                        extra: Option<&str>,
                        content: &[u8]| {
            body.extend_from_slice(format!("--{b}\r\nContent-Disposition: form-data").as_bytes());
            if let Some(n) = name {
                body.extend_from_slice(format!("; name=\"{n}\"").as_bytes());
            }
            if let Some(f) = file_name {
                body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            if let Some(ct) = ct {
                body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            if let Some(x) = extra {
                body.extend_from_slice(x.as_bytes());
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        };
        match &self.csrf {
            Csrf::First | Csrf::Twice => part(Some("csrf"), None, None, None, csrf.as_bytes()),
            Csrf::Wrong(w) => part(Some("csrf"), None, None, None, w.as_bytes()),
            Csrf::Empty => part(Some("csrf"), None, None, None, b""),
            Csrf::WrongName => part(Some("CSRF"), None, None, None, csrf.as_bytes()),
            Csrf::Missing | Csrf::Late => {}
        }
        if self.answers {
            for (k, v) in answers() {
                part(Some(k), None, None, None, v.as_bytes());
            }
        }
        for i in 0..self.filler {
            part(Some(&format!("filler_{i}")), None, None, None, b"x");
        }
        for p in &self.parts {
            let bytes = match &p.content {
                Content::Text(t) => t.clone().into_bytes(),
                Content::Bytes(b) => b.clone(),
                Content::Magic(m, rest) => [m.as_slice(), rest].concat(),
                Content::ValidPdf => valid_pdf(),
                Content::PdfWithScript => {
                    let mut v = valid_pdf();
                    v.extend_from_slice(b"<script>alert(1)</script>\n%%EOF\n");
                    v
                }
                Content::Oversized => {
                    let mut v = valid_pdf();
                    v.resize(10 * 1024 * 1024 + 1, b' ');
                    v.extend_from_slice(b"\n%%EOF\n");
                    v
                }
            };
            part(
                p.name.as_deref(),
                p.file_name.as_deref(),
                p.content_type.as_deref(),
                p.extra_header.as_deref(),
                &bytes,
            );
        }
        match &self.csrf {
            Csrf::Late => part(Some("csrf"), None, None, None, csrf.as_bytes()),
            Csrf::Twice => part(Some("csrf"), None, None, None, b"not-the-token"),
            _ => {}
        }
        if !matches!(self.mangle, Mangle::NoClosingBoundary) {
            body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
        }
        let at = |per_mille: u16, len: usize| len * usize::from(per_mille.min(1000)) / 1000;
        match &self.mangle {
            Mangle::Truncate(f) => {
                let n = at(*f, body.len());
                body.truncate(n);
            }
            Mangle::Insert(f, bytes) => {
                let n = at(*f, body.len());
                body.splice(n..n, bytes.iter().copied());
            }
            Mangle::LfOnly => {
                let mut out = Vec::with_capacity(body.len());
                for (i, &c) in body.iter().enumerate() {
                    if !(c == b'\r' && body.get(i + 1) == Some(&b'\n')) {
                        out.push(c);
                    }
                }
                body = out;
            }
            Mangle::FlipByte(f) => {
                let n = at(*f, body.len().saturating_sub(1));
                if let Some(c) = body.get_mut(n) {
                    *c ^= 0x5A;
                }
            }
            Mangle::None | Mangle::NoClosingBoundary => {}
        }
        let ct = match &self.content_type {
            ContentType::Proper => Some(format!("multipart/form-data; boundary={b}")),
            ContentType::Quoted => Some(format!("multipart/form-data; boundary=\"{b}\"")),
            ContentType::NoBoundary => Some("multipart/form-data".into()),
            ContentType::OtherBoundary => Some(format!("multipart/form-data; boundary={b}x")),
            ContentType::Mixed => Some(format!("multipart/mixed; boundary={b}")),
            ContentType::UrlEncoded => Some("application/x-www-form-urlencoded".into()),
            ContentType::Missing => None,
            ContentType::Garbage(g) => Some(g.clone()),
        };
        (ct, body)
    }
}

fn weird_file_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop_oneof![
            Just("giay-chung-sinh.pdf"), Just("../../etc/passwd"), Just("%2e%2e%2f%2e%2e%2fx.pdf"),
            Just("..\\..\\Windows\\win.ini"), Just("a\u{0}b.pdf"), Just("\u{202e}fdp.exe"),
            Just(""), Just("."), Just(".."), Just("CON"), Just("ảnh thẻ (1).jpg"),
            Just("\\\"quoted\\\".pdf"), Just("a;b=c.pdf"), Just("a\r\nContent-Type: text/html"),
            Just("<img src=x onerror=alert(1)>.png"), Just("..%c0%af..%c0%afetc"),
        ].prop_map(str::to_string),
        1 => Just("a".repeat(400)),
        1 => any::<String>(),
        1 => "[ -~]{0,30}",
    ]
}

fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        2 => "[ -~]{0,40}",
        1 => prop_oneof![
            Just("\u{0}"), Just("'; DROP TABLE drafts; --"), Just("<script>alert(1)</script>"),
            Just("Nguyễn Thị Hoa"), Just("000.00.02.H31"), Just("${jndi:ldap://x/a}"),
            Just("\r\n\r\n--x--"), Just("{{ 7*7 }}"), Just("%00"), Just("0912345678"),
        ].prop_map(str::to_string),
        1 => Just("ả".repeat(40_000)),
    ]
}

fn part(file_fields: Vec<String>) -> impl Strategy<Value = Part> {
    let mut names: Vec<String> = answers().iter().map(|(k, _)| k.to_string()).collect();
    names.extend(file_fields.iter().cloned());
    names.extend(["csrf", "status", "agency_code", "submit_token", "__proto__"].map(String::from));
    let files = prop::sample::select(file_fields);
    let name = prop_oneof![
        4 => files.prop_map(Some),
        3 => prop::sample::select(names).prop_map(Some),
        1 => "[a-z_]{0,10}".prop_map(Some),
        1 => any::<String>().prop_map(Some),
        1 => Just(None),
    ];
    let magic = prop::sample::select(vec![
        b"%PDF-1.4\n".to_vec(),
        vec![0xFF, 0xD8, 0xFF, 0xE0],
        vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
        b"GIF89a".to_vec(),
        b"PK\x03\x04".to_vec(),
        b"<svg onload=alert(1)>".to_vec(),
    ]);
    let content = prop_oneof![
        3 => text_value().prop_map(Content::Text),
        3 => prop::collection::vec(any::<u8>(), 0..3000).prop_map(Content::Bytes),
        3 => (magic, prop::collection::vec(any::<u8>(), 0..2000))
            .prop_map(|(m, r)| Content::Magic(m, r)),
        3 => Just(Content::ValidPdf),
        1 => Just(Content::PdfWithScript),
        1 => Just(Content::Oversized),
    ];
    let ct = prop_oneof![
        3 => Just(None),
        1 => prop::sample::select(vec!["application/pdf", "text/html", "image/svg+xml", "x/y; charset=\u{1}"])
            .prop_map(|s| Some(s.to_string())),
        1 => any::<String>().prop_map(Some),
    ];
    let extra = prop_oneof![
        4 => Just(None),
        1 => prop::sample::select(vec![
            "Content-Transfer-Encoding: base64", "X-Forwarded-For: 1.2.3.4",
            "Content-Disposition: form-data; name=\"status\"", "no colon here", "Content-Length: 99999999999",
        ]).prop_map(|s| Some(s.to_string())),
    ];
    (
        name,
        prop::option::of(weird_file_name()),
        ct,
        extra,
        content,
    )
        .prop_map(
            |(name, file_name, content_type, extra_header, content)| Part {
                name,
                file_name,
                content_type,
                extra_header,
                content,
            },
        )
}

fn case(file_fields: Vec<String>) -> impl Strategy<Value = Case> {
    let boundary = prop_oneof![
        6 => "[0-9a-zA-Z'()+_,./:=?-]{1,70}",
        1 => Just("x".repeat(200)),
        1 => "[ -~]{0,20}",
        1 => any::<String>(),
    ];
    let csrf = prop_oneof![
        8 => Just(Csrf::First),
        1 => Just(Csrf::Missing),
        1 => "[ -~]{0,50}".prop_map(Csrf::Wrong),
        1 => Just(Csrf::Empty),
        1 => Just(Csrf::Late),
        1 => Just(Csrf::Twice),
        1 => Just(Csrf::WrongName),
    ];
    let content_type = prop_oneof![
        12 => Just(ContentType::Proper),
        1 => Just(ContentType::Quoted),
        1 => Just(ContentType::NoBoundary),
        1 => Just(ContentType::OtherBoundary),
        1 => Just(ContentType::Mixed),
        1 => Just(ContentType::UrlEncoded),
        1 => Just(ContentType::Missing),
        1 => any::<String>().prop_map(ContentType::Garbage),
    ];
    let mangle = prop_oneof![
        10 => Just(Mangle::None),
        1 => (0u16..=1000).prop_map(Mangle::Truncate),
        1 => ((0u16..=1000), prop::collection::vec(any::<u8>(), 1..40))
            .prop_map(|(a, b)| Mangle::Insert(a, b)),
        1 => Just(Mangle::NoClosingBoundary),
        1 => Just(Mangle::LfOnly),
        1 => (0u16..=1000).prop_map(Mangle::FlipByte),
    ];
    let filler = prop_oneof![6 => Just(0usize), 2 => 0usize..20, 1 => 290usize..310];
    (
        boundary,
        csrf,
        any::<bool>(),
        prop::collection::vec(part(file_fields), 0..6),
        filler,
        content_type,
        mangle,
    )
        .prop_map(
            |(boundary, csrf, answers, parts, filler, content_type, mangle)| Case {
                boundary,
                csrf,
                answers,
                parts,
                filler,
                content_type,
                mangle,
            },
        )
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

/// Checks the storage invariants after a request.
async fn check_storage(app: &TestApp) -> Result<(), TestCaseError> {
    let files = stored_files(app);
    let refs = referenced_keys(app).await;
    if files != refs {
        return Err(fail(format!(
            "files on disk and references differ: on disk only {:?}, referenced only {:?}",
            files.difference(&refs).collect::<Vec<_>>(),
            refs.difference(&files).collect::<Vec<_>>()
        )));
    }
    for key in &files {
        let bytes = std::fs::read(app.dir.join("files").join(key)).expect("read stored file");
        if let Err(r) = dvc_domain::upload::inspect(&bytes) {
            return Err(fail(format!(
                "a stored file fails the content checks: {r:?}"
            )));
        }
    }
    Ok(())
}

async fn run_case(app: &TestApp, csrf: &str, case: &Case) -> Result<(), TestCaseError> {
    let before_drafts = draft_rows(app).await;
    let before_files = stored_files(app);
    let (ct, body) = case.render(csrf);
    let mut req = app
        .client
        .post(app.url(&format!("/thu-tuc/{PROC}/nop-ho-so")))
        .timeout(Duration::from_secs(30))
        .body(body);
    if let Some(ct) = &ct {
        match reqwest::header::HeaderValue::from_str(ct) {
            Ok(v) => req = req.header(reqwest::header::CONTENT_TYPE, v),
            // Not sendable as a header at all: nothing to test.
            Err(_) => return Ok(()),
        }
    }
    let r = match req.send().await {
        Ok(r) => r,
        // Every body gets an answer, even one refused before it was read (a text part over
        // 64 kB, a file over its limit, a malformed part or CSRF token): the server's lingering
        // close (`web::connection`) keeps the answer from being lost to a reset.
        Err(e) => return Err(fail(format!("no answer: {e:?}"))),
    };
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.unwrap_or_default();
    prop_assert!(status < 500, "{} for {:?}\n{}", status, case, text);
    prop_assert!(
        matches!(status, 303 | 400 | 403 | 413 | 422 | 429),
        "unexpected status {}",
        status
    );
    if status != 303 {
        prop_assert!(
            is_portal_error_page(&content_type, &text),
            "not the portal's error page ({}, {}): {}",
            status,
            content_type,
            text.chars().take(300).collect::<String>()
        );
    }
    check_storage(app).await?;
    let after_files = stored_files(app);
    if case.csrf_broken() || matches!(status, 400 | 403 | 413) {
        // Refused before anything was accepted: no new file at all.
        prop_assert!(
            after_files.is_subset(&before_files),
            "a refused request stored a file ({})",
            status
        );
    }
    if case.csrf_broken() || matches!(status, 400 | 403) {
        prop_assert_eq!(
            draft_rows(app).await,
            before_drafts,
            "a refused request changed the draft"
        );
    }
    // Only the form's own fields (and the agency) are ever kept in a draft.
    let form = app
        .state
        .catalog()
        .procedure(PROC)
        .and_then(|p| p.form.clone())
        .expect("form")
        .with_applicant();
    for (_, _, answers, files) in draft_rows(app).await {
        let answers: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&answers).expect("answers JSON");
        for k in answers.keys() {
            prop_assert!(
                k == "agency_code" || form.field(k).is_some(),
                "draft keeps a field outside the form: {:?}",
                k
            );
        }
        let files: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&files).expect("files JSON");
        for f in files.values() {
            let name = f["file_name"].as_str().unwrap_or_default();
            prop_assert!(
                !name.contains(['/', '\\']) && !name.chars().any(char::is_control),
                "unsafe stored name {:?}",
                name
            );
        }
    }
    Ok(())
}

/// (b) Generated multipart bodies against the real server.
#[test]
fn generated_multipart_bodies_never_break_the_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let app = rt.block_on(TestApp::spawn());
    let csrf = rt.block_on(app.open_form(PROC));
    let file_fields: Vec<String> = app
        .state
        .catalog()
        .procedure(PROC)
        .and_then(|p| {
            p.form
                .as_ref()
                .map(|f| f.file_fields().map(|f| f.name.clone()).collect())
        })
        .expect("file fields");
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(cases(400));
    let result = runner.run(&case(file_fields), |c| {
        rt.block_on(run_case(&app, &csrf, &c))
    });
    let (s, _) = rt.block_on(app.get_text("/healthz"));
    assert_eq!(s, 200, "the server still answers");
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "multipart fuzz: {} cases in {:.1} s",
        runner_cases(),
        started.elapsed().as_secs_f64()
    );
}

fn runner_cases() -> u32 {
    cases(400).cases
}

// ---------------------------------------------------------------------------------------------
// Lying framing over a raw socket
// ---------------------------------------------------------------------------------------------

/// Sends raw bytes, optionally half-closes, and returns the status code of the answer (None when
/// the server closed the connection without one).
pub async fn raw_http(app: &TestApp, request: &[u8], half_close: bool) -> Option<(u16, String)> {
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    if half_close {
        let _ = s.shutdown().await;
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server neither answered nor closed");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())?;
    Some((status, text))
}

/// A fresh session opened on a raw socket: (cookie pair, CSRF token).
pub async fn raw_session(app: &TestApp) -> (String, String) {
    let req =
        format!("GET /thu-tuc/{PROC}/nop-ho-so HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (_, text) = raw_http(app, req.as_bytes(), false).await.expect("answer");
    let cookie = text
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_string();
    let csrf = extract(&text, "name=\"csrf\" value=\"").expect("csrf");
    (cookie, csrf)
}

#[tokio::test]
async fn lying_framing_and_huge_declared_sizes_are_refused_cleanly() {
    let app = TestApp::spawn().await;
    let (cookie, csrf) = raw_session(&app).await;
    let b = "XyZ";
    let part = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{b}\r\nContent-Disposition: form-data; name=\"tep_giay_chung_sinh\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4\n"
    );
    let head = |len: &str, extra: &str| {
        format!(
            "POST /thu-tuc/{PROC}/nop-ho-so HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: multipart/form-data; boundary={b}\r\n{len}{extra}Connection: close\r\n\r\n"
        )
    };
    let scenarios: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "declared 1 TB, a few bytes sent",
            [
                head("Content-Length: 1000000000000\r\n", "").as_bytes(),
                part.as_bytes(),
            ]
            .concat(),
            true,
        ),
        (
            "declared 65 MB (over the 64 MB limit)",
            [
                head("Content-Length: 68157440\r\n", "").as_bytes(),
                part.as_bytes(),
            ]
            .concat(),
            true,
        ),
        (
            "declared 100 kB, 200 bytes sent",
            [
                head("Content-Length: 100000\r\n", "").as_bytes(),
                part.as_bytes(),
            ]
            .concat(),
            true,
        ),
        (
            "Content-Length overflowing 64 bits",
            [
                head("Content-Length: 99999999999999999999999\r\n", "").as_bytes(),
                part.as_bytes(),
            ]
            .concat(),
            true,
        ),
        (
            "two different Content-Length headers",
            [
                head("Content-Length: 10\r\nContent-Length: 20\r\n", "").as_bytes(),
                part.as_bytes(),
            ]
            .concat(),
            true,
        ),
        (
            "Content-Length and chunked together (smuggling shape)",
            [
                head("Content-Length: 4\r\n", "Transfer-Encoding: chunked\r\n").as_bytes(),
                b"0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            ]
            .concat(),
            true,
        ),
        (
            "a chunk declaring 2^48 bytes",
            [
                head("", "Transfer-Encoding: chunked\r\n").as_bytes(),
                format!("FFFFFFFFFFFF\r\n{part}").as_bytes(),
            ]
            .concat(),
            true,
        ),
        (
            "a chunk size that is not hex",
            [
                head("", "Transfer-Encoding: chunked\r\n").as_bytes(),
                b"zz\r\nabc\r\n0\r\n\r\n",
            ]
            .concat(),
            true,
        ),
        (
            "100 kB of headers",
            [head(
                "Content-Length: 0\r\n",
                &format!("X-Big: {}\r\n", "a".repeat(100_000)),
            )
            .as_bytes()]
            .concat(),
            false,
        ),
        (
            "500 headers",
            head("Content-Length: 0\r\n", &"X-A: b\r\n".repeat(500)).into_bytes(),
            false,
        ),
    ];
    for (what, bytes, half_close) in scenarios {
        let answer = raw_http(&app, &bytes, half_close).await;
        if let Some((status, text)) = &answer {
            assert!(
                (400..500).contains(status),
                "{what}: {status}\n{}",
                text.chars().take(400).collect::<String>()
            );
        }
        assert!(stored_files(&app).is_empty(), "{what}: a file was stored");
        let (s, _) = app.get_text("/healthz").await;
        assert_eq!(s, 200, "{what}: the server stopped answering");
    }
    assert!(
        draft_rows(&app)
            .await
            .iter()
            .all(|(_, _, _, files)| files == "{}")
    );
}

#[tokio::test]
async fn thousands_of_parts_are_refused_before_anything_is_stored() {
    let app = TestApp::spawn().await;
    let csrf = app.open_form(PROC).await;
    // After a valid token: refused once past 300 parts, with the file that came first.
    let mut form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .part(
            "tep_giay_chung_sinh",
            reqwest::multipart::Part::bytes(valid_pdf()).file_name("a.pdf"),
        );
    for i in 0..5000 {
        form = form.text(format!("x{i}"), "y");
    }
    let r = app.post_declaration(PROC, form).await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.expect("body").contains("quá nhiều mục"));
    assert!(stored_files(&app).is_empty());
    // Before the token: refused at the first part.
    let mut form = reqwest::multipart::Form::new();
    for i in 0..5000 {
        form = form.text(format!("x{i}"), "y");
    }
    let r = app.post_declaration(PROC, form.text("csrf", csrf)).await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(stored_files(&app).is_empty());
    assert!(
        draft_rows(&app)
            .await
            .iter()
            .all(|(_, _, _, files)| files == "{}")
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile text in every form and URL
// ---------------------------------------------------------------------------------------------

pub const NASTY: &[&str] = &[
    "\u{0}",
    "a\u{0}b@x.vn",
    "'; DROP TABLE staff; --",
    "\" OR 1=1 --",
    "<script>alert(1)</script>",
    "\r\n\r\nSet-Cookie: x=y",
    "${jndi:ldap://127.0.0.1/a}",
    "{{ 7*7 }}",
    "\u{202e}\u{feff}\u{200b}",
    "ﷺ𒐫\u{10ffff}",
    "%00%2e%2e%2f",
    "-1",
    "99999999999999999999999",
];

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Records a server error (every one is listed at the end, not only the first).
async fn no_5xx(failures: &mut Vec<String>, what: &str, r: reqwest::Response) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    if status >= 500 || text.contains("panicked") || text.to_lowercase().contains("sqlx") {
        let lower = text.to_lowercase();
        let hint = lower
            .find("sqlx")
            .or_else(|| lower.find("panicked"))
            .and_then(|i| lower.get(i.saturating_sub(200)..))
            .map(|t| t.chars().take(400).collect::<String>())
            .unwrap_or_default();
        failures.push(format!(
            "{status} {} {hint}",
            what.chars().take(200).collect::<String>()
        ));
    }
}

#[tokio::test]
async fn hostile_text_in_every_form_and_url_never_gives_a_server_error() {
    let app = TestApp::spawn().await;
    let code = app.submit_birth_registration().await;
    let admin = app
        .official("quantri@hongbang.gov.vn", Role::Admin, AGENCY)
        .await;
    let reception = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    assert_eq!(
        reception
            .act(&app, &code, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    let mut failures = Vec::new();
    let long = "x".repeat(100_000);
    let mut values: Vec<&str> = NASTY.to_vec();
    values.push(&long);
    for (i, v) in values.into_iter().enumerate() {
        // URLs are capped well below what clients send (8 kB); bodies get the whole value.
        let e = enc(&v.chars().take(2000).collect::<String>());
        for path in [
            format!("/tra-cuu?ma={e}"),
            format!("/thu-tuc?q={e}&co_quan={e}&linh_vuc={e}&muc_do={e}"),
            format!("/thu-tuc/{e}"),
            format!("/thu-tuc/{e}/nop-ho-so"),
            format!("/ho-so/xem/{e}"),
            format!("/ho-so/xem/{e}/tep/{e}"),
            format!("/ho-so/{e}/da-nop"),
            format!("/ma-xac-nhan/{e}"),
            format!("/static/{e}"),
            format!("/api/v1/procedures?q={e}"),
            format!("/api/v1/procedures/{e}"),
            format!("/api/v1/dossiers/{e}/status"),
        ] {
            no_5xx(&mut failures, &path, app.get(&path).await).await;
        }
        for path in [
            format!("/can-bo?hang-doi={e}&q={e}"),
            format!("/can-bo/ho-so/{e}"),
            format!("/can-bo/ho-so/{code}/tep/{e}"),
            format!("/can-bo/ho-so/{code}/giay-to/{e}?su_kien={e}"),
        ] {
            let r = admin.client.get(app.url(&path)).send().await.expect("get");
            no_5xx(&mut failures, &path, r).await;
        }
        // Login: every field. Each value comes from a client address and an account of its
        // own, so that the login throttle (5 failures per account, 30 per address) never
        // answers before the value is processed.
        let c = client_from(100 + u8::try_from(i).expect("few values"));
        let account = format!("hostile-{i}@b.vn");
        let page = c
            .get(app.url("/can-bo/dang-nhap"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf");
        for fields in [
            vec![("csrf", csrf.as_str()), ("email", v), ("password", "x")],
            vec![
                ("csrf", csrf.as_str()),
                ("email", account.as_str()),
                ("password", v),
            ],
            vec![("csrf", v), ("email", v), ("password", v)],
        ] {
            let r = c
                .post(app.url("/can-bo/dang-nhap"))
                .form(&fields)
                .send()
                .await
                .expect("login");
            if r.status().as_u16() == 429 {
                failures.push(format!("429: throttled before processing {fields:?}"));
            }
            no_5xx(&mut failures, &format!("login {fields:?}"), r).await;
        }
        // The final submission (idempotency token) and the staff forms.
        let r = app
            .client
            .post(app.url(&format!("/thu-tuc/{PROC}/nop-ho-so/gui")))
            .form(&[("csrf", v), ("submit_token", v), ("captcha_answer", v)])
            .send()
            .await
            .expect("send");
        no_5xx(&mut failures, &format!("send {v:?}"), r).await;
        let csrf = app.open_form(PROC).await;
        let r = app
            .client
            .post(app.url(&format!("/thu-tuc/{PROC}/nop-ho-so/gui")))
            .form(&[("csrf", csrf.as_str()), ("submit_token", v)])
            .send()
            .await
            .expect("send");
        no_5xx(&mut failures, &format!("send with token {v:?}"), r).await;
        for (action, fields) in [
            ("xin-loi-gia-han", vec![("reason", v), ("new_due", v)]),
            (
                "xin-loi-gia-han",
                vec![("reason", v), ("new_due", "2099-01-01")],
            ),
            ("yeu-cau-bo-sung", vec![("reason", v), ("missing", v)]),
            ("chuyen-xu-ly", vec![("assignee_id", v)]),
            ("khong-co", vec![("reason", v)]),
        ] {
            let r = reception.act(&app, &code, action, &fields).await;
            no_5xx(&mut failures, &format!("{action} {fields:?}"), r).await;
        }
        let r = admin
            .client
            .post(app.url("/can-bo/quan-tri/can-bo"))
            .form(&[
                ("csrf", admin.csrf.as_str()),
                ("email", v),
                ("name", v),
                ("title", v),
                ("role", v),
                ("agency_code", v),
                ("password", v),
            ])
            .send()
            .await
            .expect("create");
        no_5xx(&mut failures, &format!("create staff {v:?}"), r).await;
        let r = admin
            .client
            .post(app.url(&format!("/can-bo/quan-tri/can-bo/{e}/trang-thai")))
            .form(&[("csrf", admin.csrf.as_str()), ("active", v)])
            .send()
            .await
            .expect("toggle");
        no_5xx(&mut failures, &format!("toggle staff {v:?}"), r).await;
    }
    assert!(
        failures.is_empty(),
        "server errors:\n{}",
        failures.join("\n")
    );
    let (s, _) = app.get_text("/healthz").await;
    assert_eq!(s, 200);
    // The audit chain survived whatever was written into it.
    dichvucong::store::audit::verify(&app.state.db, &app.state.audit_key, None)
        .await
        .expect("verify")
        .expect("intact");
}
