//! The test application: a real server on a free port, a fresh database, a real SMTP listener.

use crate::smtp::{self, Mailbox};
use dichvucong::clock::Clock;
use dichvucong::config::{CaptchaMode, Config, LogFormat, PaymentMode};
use dichvucong::web::{AppState, launch_with_clock};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, multipart};
use std::path::PathBuf;

pub const PROC: &str = "1.001193";
pub const AGENCY: &str = "000.00.02.H31";

pub struct TestApp {
    database_url: String,
    pub base: String,
    pub client: Client,
    pub mailbox: Mailbox,
    pub state: AppState,
    pub dir: PathBuf,
    pg_db: Option<String>,
    /// Only the owner removes the data dir and the database when dropped.
    owner: bool,
}

pub struct Builder {
    captcha: CaptchaMode,
    smtp: SmtpChoice,
    rate_submit: u32,
    rate_lookup: u32,
    base_url: Option<String>,
    clock: Clock,
    trust_proxy: bool,
    max_in_flight: usize,
    clamd_url: Option<String>,
    oidc: Option<crate::oidc::ClientSettings>,
    listener: Option<std::net::TcpListener>,
    signing: Option<(PathBuf, String)>,
    rate_api: u32,
    dvcqg_url: Option<String>,
    dvcqg_mapping: Option<PathBuf>,
    webhook_insecure: bool,
    payment: PaymentMode,
    /// Another node of the same deployment: this database and data directory (audit key, files).
    shared: Option<(String, PathBuf)>,
}

pub enum SmtpChoice {
    Live,
    /// A port where nothing listens: every send fails.
    Dead(u16),
}

pub fn pg_admin_url() -> String {
    std::env::var("DVC_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn backend_is_pg() -> bool {
    std::env::var("DVC_TEST_BACKEND")
        .map(|b| b == "postgres")
        .unwrap_or(false)
}

pub fn client() -> Client {
    // With the `s3` feature reqwest is built with rustls and needs a process-wide provider.
    dichvucong::files::install_tls_provider();
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// A browser whose connections come from `127.0.0.<n>` (Linux routes all of 127.0.0.0/8 to the
/// loopback interface), so the server sees another client address: fresh rate-limit and
/// login-throttle counters without a new server.
pub fn client_from(n: u8) -> Client {
    dichvucong::files::install_tls_provider();
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, n]))
        .build()
        .expect("client")
}

/// Waits until `check` holds, polling every 50 ms for at most `secs` seconds; false if it
/// never did. For conditions that become true once, never for timing claims.
pub async fn wait_until<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The fixed window of `window_ms` that `now_ms` falls in (the rate limits' windows start at
/// multiples of their length).
pub fn window_of(now_ms: i64, window_ms: i64) -> i64 {
    now_ms.div_euclid(window_ms)
}

/// The date part (`YYMMDD`) and the sequence of a dossier code.
pub fn code_date_and_seq(code: &str) -> (String, u32) {
    let mut parts = code.rsplitn(3, '-');
    let seq = parts.next().and_then(|s| s.parse().ok()).expect("sequence");
    let date = parts.next().expect("date").to_string();
    (date, seq)
}

/// Today's date (`YYMMDD`) in Vietnam, where dossier codes are dated.
pub fn vietnam_today() -> String {
    jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").expect("tz"))
        .strftime("%y%m%d")
        .to_string()
}

/// Asserts that `next` is the dossier filed right after `prev` at the same agency: the next
/// number of the same day, or number 1 of a later day (the run crossed midnight in Vietnam).
pub fn assert_follows(prev: &str, next: &str) {
    let (d0, s0) = code_date_and_seq(prev);
    let (d1, s1) = code_date_and_seq(next);
    if d0 == d1 {
        assert_eq!(s1, s0 + 1, "{next} does not follow {prev}");
    } else {
        assert!(d1 > d0 && s1 == 1, "{next} does not follow {prev}");
    }
}

/// Asserts that the codes of one agency are numbered 1, 2, 3… without a gap or a repeat within
/// each day (a run may cross midnight in Vietnam: then two days, each from 1).
pub fn assert_numbered_per_day(codes: &[String]) {
    let mut days: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
    for c in codes {
        let (d, s) = code_date_and_seq(c);
        days.entry(d).or_default().push(s);
    }
    assert!(days.len() <= 2, "{codes:?}");
    for seqs in days.values_mut() {
        seqs.sort_unstable();
        let expected: Vec<u32> = (1..=u32::try_from(seqs.len()).expect("n")).collect();
        assert_eq!(*seqs, expected, "{codes:?}");
    }
}

impl Builder {
    pub fn captcha(mut self, c: CaptchaMode) -> Self {
        self.captcha = c;
        self
    }
    pub fn smtp(mut self, s: SmtpChoice) -> Self {
        self.smtp = s;
        self
    }
    /// Requests the server serves at once (`DVC_MAX_IN_FLIGHT`).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    pub fn rate_limits(mut self, submit_per_hour: u32, lookup_per_minute: u32) -> Self {
        self.rate_submit = submit_per_hour;
        self.rate_lookup = lookup_per_minute;
        self
    }

    /// Take the client address from `X-Forwarded-For` (as behind the portal's own proxy).
    pub fn trust_proxy(mut self, trust: bool) -> Self {
        self.trust_proxy = trust;
        self
    }

    /// The public base URL (e.g. `https://dichvucong.example.vn` to test the https-only behaviour:
    /// HSTS, `Secure` and `__Host-` cookies). The server itself still listens on plain http.
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = Some(url.to_string());
        self
    }

    /// Scans uploads with the ClamAV daemon at `url` (`tcp://…` or `unix://…`; see
    /// [`crate::clamav`]).
    /// Per-agency signing certificates: `<agency code>.p12` files in `dir`, opened with
    /// `password` (`DVC_SIGNING_P12_DIR`, `DVC_SIGNING_PASSWORD`).
    pub fn signing_dir(mut self, dir: &std::path::Path, password: &str) -> Self {
        self.signing = Some((dir.to_path_buf(), password.to_string()));
        self
    }

    pub fn clamd(mut self, url: &str) -> Self {
        self.clamd_url = Some(url.to_string());
        self
    }

    /// Citizen sign-in through the OpenID Connect provider `oidc` (see [`crate::oidc`]), in
    /// `mode`, listening on `listener` (bound first: the provider must know the callback URL).
    pub fn oidc(
        mut self,
        oidc: crate::oidc::ClientSettings,
        listener: std::net::TcpListener,
    ) -> Self {
        self.oidc = Some(oidc);
        self.listener = Some(listener);
        self
    }

    /// Partner API calls allowed per partner per minute (`DVC_RATE_API_PER_MINUTE`).
    pub fn rate_api(mut self, per_minute: u32) -> Self {
        self.rate_api = per_minute;
        self
    }

    /// `DVC_WEBHOOK_ALLOW_INSECURE` (true in tests unless set: the receivers are local).
    pub fn webhook_insecure(mut self, allow: bool) -> Self {
        self.webhook_insecure = allow;
        self
    }

    /// Synchronises with a national portal at `url` (`DVC_DVCQG_URL`).
    pub fn dvcqg(mut self, url: &str) -> Self {
        self.dvcqg_url = Some(url.to_string());
        self
    }

    /// The national portal's mapping file (`DVC_DVCQG_MAPPING`).
    pub fn dvcqg_mapping(mut self, path: PathBuf) -> Self {
        self.dvcqg_mapping = Some(path);
        self
    }

    /// Online payment of fees (`DVC_PAYMENT`), e.g. the built-in sandbox gateway.
    pub fn payment(mut self, mode: PaymentMode) -> Self {
        self.payment = mode;
        self
    }

    /// A second node of `other`'s deployment: the same database and data directory (its audit
    /// key and stored files), its own server, state and mailbox; dropping it frees nothing.
    pub fn node_of(mut self, other: &TestApp) -> Self {
        self.shared = Some((other.database_url.clone(), other.dir.clone()));
        self
    }

    /// Runs the server on a manual clock standing at `start` ([`TestApp::clock`] moves it).
    pub fn manual_clock(mut self, start: jiff::Timestamp) -> Self {
        self.clock = Clock::manual(start);
        self
    }

    pub async fn spawn(self) -> TestApp {
        if std::env::var("DVC_TEST_LOG").is_ok() {
            dichvucong::web::telemetry::init(LogFormat::Text);
        }
        let owner = self.shared.is_none();
        let (dir, database_url, pg_db) = match self.shared {
            Some((url, dir)) => (dir, url, None),
            None => {
                let dir = std::env::temp_dir()
                    .join(format!("dvc-test-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                if backend_is_pg() {
                    let (url, name) = create_pg_database().await;
                    (dir, url, Some(name))
                } else {
                    let url = format!("sqlite://{}", dir.join("test.db").display());
                    (dir, url, None)
                }
            }
        };
        let (smtp_url, mailbox) = match self.smtp {
            SmtpChoice::Live => {
                let (u, m) = smtp::start().await;
                (u, m)
            }
            SmtpChoice::Dead(port) => (format!("smtp://127.0.0.1:{port}"), Mailbox::default()),
        };
        let listener = match self.listener {
            Some(l) => {
                l.set_nonblocking(true).expect("nonblocking");
                tokio::net::TcpListener::from_std(l).expect("listener")
            }
            None => tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        };
        let addr = listener.local_addr().expect("addr");
        let config = Config {
            listen: addr.to_string(),
            data_dir: dir.clone(),
            database_url: Some(database_url.clone()),
            base_url: Some(self.base_url.unwrap_or_else(|| format!("http://{addr}"))),
            smtp_url: Some(smtp_url),
            mail_from: "Cổng Dịch vụ công <no-reply@dichvucong.test>".into(),
            captcha: self.captcha,
            log_format: LogFormat::Text,
            rate_submit_per_hour: self.rate_submit,
            rate_lookup_per_minute: self.rate_lookup,
            trust_proxy: self.trust_proxy,
            sample_catalog: true,
            storage_url: None,
            max_extensions: 1,
            max_in_flight: self.max_in_flight,
            idle_timeout_secs: 5,
            audit_key: None,
            audit_key_file: None,
            clamd_url: self.clamd_url,
            clamd_timeout_secs: 10,
            login: self.oidc.as_ref().map(|o| o.mode),
            oidc_issuer: self.oidc.as_ref().map(|o| o.issuer.clone()),
            oidc_client_id: self
                .oidc
                .as_ref()
                .map(|o| o.client_id.clone())
                .unwrap_or_default(),
            oidc_client_secret: self
                .oidc
                .as_ref()
                .map(|o| o.client_secret.clone())
                .unwrap_or_default(),
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
            signing_p12_dir: self.signing.as_ref().map(|(d, _)| d.clone()),
            signing_password: self.signing.map(|(_, p)| p),
            api_token_ttl_secs: 900,
            rate_api_per_minute: self.rate_api,
            webhook_allow_insecure: self.webhook_insecure,
            delivery_timeout_secs: 2,
            dvcqg_url: self.dvcqg_url,
            dvcqg_username: Some("dvc-test".into()),
            dvcqg_password: Some("mat-khau-thu".into()),
            dvcqg_unit: Some("000.00.00.H31".into()),
            dvcqg_mapping: self.dvcqg_mapping,
            payment: self.payment,
            vnpay_tmn_code: None,
            vnpay_hash_secret: None,
            vnpay_pay_url: None,
            vnpay_api_url: None,
        };
        MANUAL_BIRTH_DATE.with(|c| {
            c.set(
                self.clock
                    .is_manual()
                    .then(|| ten_days_before(self.clock.today_vn())),
            )
        });
        let launched = launch_with_clock(config, listener, self.clock)
            .await
            .expect("launch app");
        TestApp {
            database_url,
            base: format!("http://{addr}"),
            client: client(),
            mailbox,
            state: launched.state,
            dir,
            pg_db,
            owner,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(name) = self.pg_db.take() {
            drop_pg_database(name);
        }
    }
}

/// Creates a fresh, empty PostgreSQL database; returns (its URL, its name).
pub async fn create_pg_database() -> (String, String) {
    let name = format!("dvct_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&pg_admin_url())
        .await
        .expect("connect to PostgreSQL (DVC_TEST_PG_URL)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create database");
    admin.close().await;
    let base = pg_admin_url();
    let url = match base.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/{name}"),
        None => base,
    };
    (url, name)
}

/// Drops a test database, from another thread with its own runtime (Drop cannot await).
pub fn drop_pg_database(name: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            if let Ok(admin) = sqlx::PgPool::connect(&pg_admin_url()).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&admin)
                .await;
                admin.close().await;
            }
        });
    })
    .join();
}

/// A fresh PostgreSQL database, dropped with this value.
pub struct PgDb {
    pub url: String,
    name: Option<String>,
}

impl PgDb {
    pub async fn create() -> PgDb {
        let (url, name) = create_pg_database().await;
        PgDb {
            url,
            name: Some(name),
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            drop_pg_database(name);
        }
    }
}

impl TestApp {
    /// Chains the audit entries still waiting (the portal's sealer does it a moment later), so
    /// that a test reading `audit_log` sees every entry recorded so far.
    pub async fn seal_audit(&self) {
        dichvucong::store::audit::seal(&self.state.db, &self.state.audit_key)
            .await
            .expect("seal the audit entries");
    }

    pub fn builder() -> Builder {
        Builder {
            captcha: CaptchaMode::Off,
            smtp: SmtpChoice::Live,
            rate_submit: 1000,
            rate_lookup: 10_000,
            base_url: None,
            clock: Clock::system(),
            trust_proxy: false,
            max_in_flight: 256,
            clamd_url: None,
            oidc: None,
            listener: None,
            signing: None,
            rate_api: 10_000,
            dvcqg_url: None,
            dvcqg_mapping: None,
            webhook_insecure: true,
            payment: PaymentMode::Off,
            shared: None,
        }
    }

    /// The server's clock: the system clock, or the manual one of [`Builder::manual_clock`].
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    /// The same app seen from a new browser (fresh cookies); dropping it frees nothing.
    pub fn shallow_clone(&self) -> TestApp {
        TestApp {
            database_url: self.database_url.clone(),
            base: self.base.clone(),
            client: client(),
            mailbox: self.mailbox.clone(),
            state: self.state.clone(),
            dir: self.dir.clone(),
            pg_db: None,
            owner: false,
        }
    }

    /// The same app seen from a new browser at client address `127.0.0.<n>` ([`client_from`]).
    pub fn at_address(&self, n: u8) -> TestApp {
        let mut t = self.shallow_clone();
        t.client = client_from(n);
        t
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.get(path).await;
        let s = r.status().as_u16();
        // minijinja escapes '/' as an entity; undo only that, for readable assertions.
        (s, r.text().await.expect("body").replace("&#x2f;", "/"))
    }

    /// Opens the declaration form and returns its CSRF token.
    pub async fn open_form(&self, procedure: &str) -> String {
        let (status, body) = self
            .get_text(&format!("/thu-tuc/{procedure}/nop-ho-so"))
            .await;
        assert_eq!(status, 200, "{body}");
        extract(&body, "name=\"csrf\" value=\"").expect("csrf token in form")
    }

    /// Opens the supplement page of a private `link` and sends one file (field `tep_1`), with an
    /// optional note, as the citizen's browser does.
    pub async fn send_supplement(
        &self,
        link: &str,
        file: Vec<u8>,
        file_name: &str,
        note: Option<&str>,
    ) -> Response {
        let (_, page) = self.get_text(&format!("{link}/bo-sung")).await;
        let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf on the supplement page");
        let mut form = multipart::Form::new().text("csrf", csrf).part(
            "tep_1",
            multipart::Part::bytes(file).file_name(file_name.to_string()),
        );
        if let Some(n) = note {
            form = form.text("note", n.to_string());
        }
        self.client
            .post(self.url(&format!("{link}/bo-sung")))
            .multipart(form)
            .send()
            .await
            .expect("POST supplement")
    }

    pub async fn post_declaration(&self, procedure: &str, form: multipart::Form) -> Response {
        self.client
            .post(self.url(&format!("/thu-tuc/{procedure}/nop-ho-so")))
            .multipart(form)
            .send()
            .await
            .expect("POST declaration")
    }

    /// Review page → (csrf, submit token, captcha id if any).
    pub async fn review(&self, procedure: &str) -> (String, String, Option<String>, String) {
        let (status, body) = self
            .get_text(&format!("/thu-tuc/{procedure}/nop-ho-so/kiem-tra"))
            .await;
        let body = body.replace("&#x2f;", "/");
        assert_eq!(status, 200, "{body}");
        let csrf = extract(&body, "name=\"csrf\" value=\"").expect("csrf");
        let token = extract(&body, "name=\"submit_token\" value=\"").expect("submit token");
        let captcha = extract(&body, "name=\"captcha_id\" value=\"");
        (csrf, token, captcha, body)
    }

    pub async fn send(&self, procedure: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(&format!("/thu-tuc/{procedure}/nop-ho-so/gui")))
            .form(fields)
            .send()
            .await
            .expect("POST send")
    }

    /// The whole journey for đăng ký khai sinh with a valid PDF; returns the dossier code.
    pub async fn submit_birth_registration(&self) -> String {
        let csrf = self.open_form(PROC).await;
        let r = self
            .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
            .await;
        assert_eq!(
            r.status().as_u16(),
            303,
            "{}",
            r.text().await.unwrap_or_default()
        );
        let (csrf, token, _, _) = self.review(PROC).await;
        let r = self
            .send(PROC, &[("csrf", &csrf), ("submit_token", &token)])
            .await;
        assert_eq!(r.status().as_u16(), 303);
        let loc = location(&r);
        code_from_confirmation(&loc)
    }
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

pub fn code_from_confirmation(loc: &str) -> String {
    loc.strip_prefix("/ho-so/")
        .and_then(|s| s.strip_suffix("/da-nop"))
        .unwrap_or_else(|| panic!("not a confirmation URL: {loc}"))
        .to_string()
}

/// The text between `prefix` and the next `"`.
pub fn extract(body: &str, prefix: &str) -> Option<String> {
    let start = body.find(prefix)? + prefix.len();
    let end = body[start..].find('"')?;
    Some(body[start..start + end].to_string())
}

pub fn valid_pdf() -> Vec<u8> {
    let mut v = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    v.extend(std::iter::repeat_n(b'x', 2000));
    v.extend_from_slice(b"\n%%EOF\n");
    v
}

/// A real one-page PDF (objects, cross-reference table, trailer) with some text: a result
/// document the agency can sign (a PDF reader, and the signing, need its structure).
pub fn result_pdf() -> Vec<u8> {
    let content = "BT /F1 18 Tf 50 750 Td (GIAY KHAI SINH - ban dien tu) Tj ET";
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = vec![];
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

thread_local! {
    /// The child's birth date of [`answers`] for the app spawned on this thread with a manual
    /// clock (10 days before that clock's date); `None`: 10 days before today.
    static MANUAL_BIRTH_DATE: std::cell::Cell<Option<&'static str>> =
        const { std::cell::Cell::new(None) };
}

/// 10 days before `today`, `YYYY-MM-DD`, kept for the whole run.
fn ten_days_before(today: jiff::civil::Date) -> &'static str {
    let d = today
        .checked_sub(jiff::Span::new().days(10))
        .unwrap_or(today);
    Box::leak(d.to_string().into_boxed_str())
}

/// The child's birth date in the khai sinh answers: 10 days before the server's date, so the
/// registration is on time (free of the fee due at the result) whatever day the tests run.
pub fn birth_date() -> &'static str {
    static TODAY: std::sync::LazyLock<&'static str> =
        std::sync::LazyLock::new(|| ten_days_before(dichvucong::clock::Clock::system().today_vn()));
    MANUAL_BIRTH_DATE.with(|c| c.get()).unwrap_or(*TODAY)
}

/// [`birth_date`] as pages show it (`DD/MM/YYYY`).
pub fn birth_date_shown() -> String {
    let mut parts: Vec<&str> = birth_date().split('-').collect();
    parts.reverse();
    parts.join("/")
}

pub fn answers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("agency_code", AGENCY),
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
        ("tre_ngay_sinh", birth_date()),
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

/// The khai sinh declaration with the given answers replaced/removed, CSRF first.
pub fn form_with(
    csrf: &str,
    overrides: &[(&str, Option<&str>)],
    file: Option<(Vec<u8>, &str)>,
) -> multipart::Form {
    let mut form = multipart::Form::new().text("csrf", csrf.to_string());
    for (k, v) in answers() {
        match overrides.iter().find(|(ok, _)| *ok == k) {
            Some((_, Some(nv))) => form = form.text(k, nv.to_string()),
            Some((_, None)) => {}
            None => form = form.text(k, v.to_string()),
        }
    }
    for (k, v) in overrides {
        if !answers().iter().any(|(ak, _)| ak == k)
            && let Some(v) = v
        {
            form = form.text(k.to_string(), v.to_string());
        }
    }
    if let Some((bytes, name)) = file {
        let part = multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str("application/octet-stream")
            .expect("mime");
        form = form.part("tep_giay_chung_sinh", part);
    }
    form
}

pub fn birth_form(csrf: &str, pdf: Vec<u8>) -> multipart::Form {
    form_with(csrf, &[], Some((pdf, "giay-chung-sinh.pdf")))
}

/// Runs a command of the binary (a CLI) while the test's server goes on serving: the command
/// waits on a blocking-pool thread, not on the runtime that runs the server's tasks. (Waited for
/// on the runtime's only thread, `audit verify` could wait forever for the audit chain's lock
/// held by the server's sealer, itself waiting to be polled to commit.)
pub async fn run_cli(mut cmd: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run the command"))
        .await
        .expect("the command's thread")
}
