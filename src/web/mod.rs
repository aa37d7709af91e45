//! HTTP: the citizen portal (server-rendered HTML that works without JavaScript), the JSON API,
//! and the security middleware around them. Handlers are thin: parse → domain/store → render.

pub mod admission;
pub mod antivirus;
pub mod api;
pub mod captcha;
pub mod connection;
pub mod extract;
pub mod partner_api;
pub mod portal;
pub mod progress;
pub mod rate_limit;
pub mod sandbox;
pub mod security;
pub mod staff;
pub mod statistics;
pub mod telemetry;
pub mod templates;

use crate::catalog::Catalog;
use crate::config::{CaptchaMode, Config};
use crate::files::Files;
use crate::jobs::mailer::{Mailer, Transport};
use crate::store::Db;
use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Largest request body accepted by the declaration form (all uploads together).
pub const MAX_DECLARATION_BODY: usize = 64 * 1024 * 1024;

pub struct Inner {
    pub db: Db,
    /// The same database, for writes that need not survive a power cut ([`Db::connect_light`]).
    pub light: Db,
    pub config: Config,
    pub files: Files,
    pub catalog: RwLock<Arc<Catalog>>,
    pub calendar: dvc_domain::calendar::WorkingCalendar,
    /// Keys the audit trail's hash chains ([`crate::store::audit`]); the same on every node.
    pub audit_key: dvc_domain::audit::AuditKey,
    /// Tells this node's outbox worker about queued e-mails.
    pub mail: Arc<crate::jobs::mailer::MailQueue>,
    pub limiter: rate_limit::RateLimiter,
    /// Signs session cookies and derives CSRF tokens (see [`security`]); the same on every node.
    pub session_key: Vec<u8>,
    /// Declaration pages before anything is typed (see [`templates::PageCache`]).
    pub blank_forms: templates::PageCache,
    /// Requests served at the same time ([`shed_load`]).
    pub in_flight: tokio::sync::Semaphore,
    /// Request bodies read whole into memory at the same time ([`admission`]).
    pub uploads: admission::UploadGate,
    /// Where every handler and job reads the time ([`crate::clock`]).
    pub clock: crate::clock::Clock,
    /// ClamAV's daemon, which every upload goes through ([`antivirus`]); `None` when
    /// `DVC_CLAMD_URL` is unset (nothing is scanned: a loud warning at start).
    pub scanner: Option<crate::scan::Scanner>,
    /// The OpenID Connect provider citizens sign in with; `None` when `DVC_LOGIN` is off.
    pub oidc: Option<Arc<crate::oidc::Oidc>>,
    /// The identity that signs electronic results ([`crate::signing`]).
    pub signing: Arc<crate::signing::Signing>,
    /// Recent statistics sums, reused while nothing changed ([`crate::store::statistics::Cache`]).
    pub statistics: crate::store::statistics::Cache,
    /// Wakes this node's deliveries worker (webhooks, national portal) after an event.
    pub deliveries: tokio::sync::Notify,
    /// The payment gateway client (`DVC_PAYMENT=vnpay` or `sandbox`); `None`: fees are paid at
    /// the desk.
    pub vnpay: Option<Arc<crate::payment::vnpay::VnpayClient>>,
    /// The stand-in gateway served under `/sandbox/vnpay/` (`DVC_PAYMENT=sandbox`).
    pub sandbox: Option<Arc<sandbox::Sandbox>>,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// How `agency` counts the time limit of procedure `p`: the one place deadlines come from.
    pub fn deadline_policy(
        &self,
        agency: Option<&dvc_domain::agency::Agency>,
        p: &dvc_domain::catalog::Procedure,
    ) -> dvc_domain::calendar::DeadlinePolicy<'_> {
        dvc_domain::calendar::DeadlinePolicy::new(
            &self.calendar,
            agency.map(|a| a.work_week()).unwrap_or_default(),
            p.deadline_rule(),
        )
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        match self.catalog.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads the catalogue from the database.
    pub async fn reload_catalog(&self) -> anyhow::Result<()> {
        let fresh = Arc::new(crate::store::catalog::load_catalog(&self.db).await?);
        tracing::info!(
            procedures = fresh.summaries().len(),
            packed_kb = fresh.packed_bytes() / 1024,
            index_kb = fresh.index_bytes() / 1024,
            "catalogue loaded"
        );
        match self.catalog.write() {
            Ok(mut c) => *c = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        self.blank_forms.clear();
        Ok(())
    }
}

pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/", get(portal::home::page))
        .route("/thu-tuc", get(portal::catalog::list))
        .route("/thu-tuc/{code}", get(portal::procedure::page))
        .route(
            "/thu-tuc/{code}/mau-to-khai",
            get(portal::procedure::blank_form),
        )
        .route(
            "/thu-tuc/{code}/nop-ho-so",
            get(portal::declaration::form)
                .post(portal::declaration::save)
                .layer(DefaultBodyLimit::max(MAX_DECLARATION_BODY)),
        )
        .route(
            "/thu-tuc/{code}/nop-ho-so/kiem-tra",
            get(portal::submit::review),
        )
        .route("/thu-tuc/{code}/nop-ho-so/gui", post(portal::submit::send))
        .route("/ma-xac-nhan/{id}", get(portal::submit::captcha_image))
        .route("/ho-so/{code}/da-nop", get(portal::submit::confirmation))
        .route("/tra-cuu", get(portal::lookup::page))
        .route("/thong-ke", get(statistics::page))
        .route("/ho-so/xem/{token}", get(portal::lookup::private))
        .route(
            "/ho-so/xem/{token}/tep/{id}",
            get(portal::lookup::attachment),
        )
        .route("/ho-so/xem/{token}/ket-qua", get(portal::lookup::result))
        .route(
            "/ho-so/xem/{token}/giay-to/{kind}",
            get(portal::lookup::document),
        )
        .route(
            "/ho-so/xem/{token}/bo-sung",
            get(portal::supplement::form)
                .post(portal::supplement::submit)
                .layer(DefaultBodyLimit::max(MAX_DECLARATION_BODY)),
        )
        .route(
            "/ho-so/xem/{token}/rut-ho-so",
            get(portal::withdraw::form).post(portal::withdraw::submit),
        )
        .route("/dang-nhap", get(portal::signin::start))
        .route("/dang-nhap/xac-thuc", get(portal::signin::callback))
        .route(
            "/dang-xuat",
            get(portal::signin::logout_page).post(portal::signin::logout),
        )
        .route("/ho-so-cua-toi", get(portal::mine::page))
        .route("/ho-so-cua-toi/{code}/mo", post(portal::mine::open))
        .route(
            "/ho-so-cua-toi/nhap/{procedure}/xoa",
            post(portal::mine::delete_draft),
        )
        .route(
            "/ho-so/xem/{token}/danh-gia",
            get(portal::rating::form).post(portal::rating::submit),
        )
        .route(
            "/ho-so/xem/{token}/thanh-toan",
            post(portal::payment::retry_private),
        )
        .route("/ho-so/xem/{token}/bien-lai", get(portal::payment::receipt))
        .route(
            "/ho-so/{code}/thanh-toan",
            post(portal::payment::retry_filed),
        )
        .route("/thanh-toan/vnpay/ipn", get(portal::payment::vnpay_ipn))
        .route(
            "/thanh-toan/vnpay/ket-qua",
            get(portal::payment::vnpay_return),
        )
        .route(
            "/sandbox/vnpay/paymentv2/vpcpay.html",
            get(sandbox::pay_page),
        )
        .route("/sandbox/vnpay/paymentv2/xu-ly", post(sandbox::choose))
        .route(
            "/sandbox/vnpay/merchant_webapi/api/transaction",
            post(sandbox::api),
        )
        .route("/healthz", get(health))
        .route("/static/{file}", get(templates::static_file))
        .merge(staff::router())
        .nest("/api", api::router())
        .fallback(not_found)
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(CatchPanicLayer::custom(security::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shed_load,
        ))
        // Outside the panic, timeout and load-shedding layers, so that their 500, 408 and 503
        // answers carry the security headers too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::headers,
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(telemetry::make_span))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}

/// Serves at most `DVC_MAX_IN_FLIGHT` requests at once; one more is answered at once with 503,
/// `Retry-After` and a Vietnamese page (JSON under `/api`), instead of queueing inside the
/// process, where each waiting request holds memory. The health check is never shed, so that
/// a load balancer sees a busy node as alive.
async fn shed_load(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    match state.in_flight.try_acquire() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            tracing::warn!(path = %req.uri().path(), "overloaded: request shed (503)");
            let e = crate::error::AppError::Overloaded {
                message: "Cổng đang có quá nhiều người truy cập cùng lúc. Ông/Bà vui lòng thử lại sau ít giây; thông tin đã lưu không bị mất.".into(),
                retry_after_secs: 2,
            };
            if req.uri().path().starts_with("/api/") {
                crate::error::ApiError(e).into_response()
            } else {
                e.into_response()
            }
        }
    }
}

/// `/healthz`: 503 `database unavailable` when the node cannot reach its database (take it out
/// of the pool); otherwise 200, with `ok`, or `degraded: antivirus scanner unavailable` while the
/// configured scanner does not answer. The node still serves pages and lookups then, and every
/// node shares the same scanner, so a 503 would take the whole portal down: uploads alone are
/// refused (fail closed) until the scanner answers again. Monitoring should alert on the body.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    if let Err(e) = state.db.ping().await {
        tracing::error!(error = %e, "health check: database unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    }
    match antivirus::healthy(&state).await {
        Some(false) => (StatusCode::OK, "degraded: antivirus scanner unavailable"),
        Some(true) | None => (StatusCode::OK, "ok"),
    }
}

async fn not_found() -> crate::error::AppError {
    crate::error::AppError::not_found()
}

/// Builds the state: database (migrated), catalogue (sample loaded on first start), files, calendar.
pub async fn build_state(config: Config, clock: crate::clock::Clock) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "không tạo được thư mục dữ liệu {}",
            config.data_dir.display()
        )
    })?;
    let db = Db::connect(&config.database_url())
        .await
        .context("không kết nối được cơ sở dữ liệu")?;
    db.migrate()
        .await
        .context("không cập nhật được cấu trúc cơ sở dữ liệu")?;
    if !crate::store::catalog::has_agencies(&db).await? && config.sample_catalog {
        let files = crate::catalog::import::sample()?;
        match crate::catalog::import::import(&db, &files).await {
            Ok(r) => tracing::info!(added = r.added, "sample catalogue loaded (first start)"),
            Err(e) => {
                // Several nodes starting at once on an empty database: another one won.
                if !crate::store::catalog::has_agencies(&db).await? {
                    return Err(e);
                }
                tracing::info!("sample catalogue loaded by another node");
            }
        }
    }
    let files = Files::open(config.storage_url.as_deref(), &config.data_dir).await?;
    let calendar = crate::calendar::load_calendar(&config.data_dir)?;
    let audit_key = config.load_audit_key(true)?;
    let (entries, dossiers) = crate::store::audit::seal_legacy(&db, &audit_key)
        .await
        .context("không khóa được nhật ký kiểm toán bằng khóa bí mật")?;
    if entries + dossiers > 0 {
        tracing::warn!(
            entries,
            dossiers,
            "audit trail written before this version chained with the audit key (once)"
        );
    }
    let light = Db::connect_light(&config.database_url())
        .await
        .context("không kết nối được cơ sở dữ liệu")?;
    let limiter = rate_limit::RateLimiter::for_db(light.clone(), clock.clone());
    let session_key = crate::store::sessions::server_key(&db, &security::random_token(32)).await?;
    let session_key = session_key.into_bytes();
    let config_max_in_flight = config.max_in_flight.max(1);
    let scanner = match config.clamd_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(url) => Some(
            crate::scan::Scanner::from_url(
                url,
                Duration::from_secs(config.clamd_timeout_secs.max(1)),
            )
            .context("DVC_CLAMD_URL không hợp lệ")?,
        ),
        None => None,
    };
    let oidc = match (
        config.login_mode(),
        crate::oidc::Settings::from_config(&config),
    ) {
        (crate::config::LoginMode::Off, _) => None,
        (_, Some(settings)) => Some(Arc::new(crate::oidc::Oidc::new(settings)?)),
        (_, None) => anyhow::bail!(
            "DVC_LOGIN bật đăng nhập nhưng chưa có DVC_OIDC_ISSUER (địa chỉ nhà cung cấp định danh OpenID Connect)"
        ),
    };
    let signing = Arc::new(
        crate::signing::Signing::load(&config, &db, &audit_key, &clock)
            .await
            .context("không nạp được chứng thư số ký kết quả điện tử")?,
    );
    let (vnpay, sandbox) = payment_setup(&config)?;
    let state = AppState(Arc::new(Inner {
        db,
        light,
        config,
        files,
        catalog: RwLock::new(Arc::new(Catalog::default())),
        calendar,
        audit_key,
        mail: Default::default(),
        limiter,
        session_key,
        blank_forms: Default::default(),
        uploads: Default::default(),
        in_flight: tokio::sync::Semaphore::new(config_max_in_flight),
        clock,
        scanner,
        oidc,
        signing,
        statistics: Default::default(),
        deliveries: Default::default(),
        vnpay,
        sandbox,
    }));
    state.reload_catalog().await?;
    Ok(state)
}

/// The payment client and, with `DVC_PAYMENT=sandbox`, the stand-in gateway, from the settings.
#[allow(clippy::type_complexity)]
fn payment_setup(
    config: &Config,
) -> anyhow::Result<(
    Option<Arc<crate::payment::vnpay::VnpayClient>>,
    Option<Arc<sandbox::Sandbox>>,
)> {
    use crate::config::PaymentMode;
    use crate::payment::vnpay::{SANDBOX_API_URL, SANDBOX_PAY_URL, VnpayClient};
    let base = config.base_url();
    let server_ip = config
        .listen
        .parse::<SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".into());
    let tmn = config
        .vnpay_tmn_code
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let secret = config
        .vnpay_hash_secret
        .as_ref()
        .map(|s| s.0.trim())
        .filter(|s| !s.is_empty());
    match config.payment {
        PaymentMode::Off => Ok((None, None)),
        PaymentMode::Vnpay => {
            let (Some(tmn), Some(secret)) = (tmn, secret) else {
                anyhow::bail!(
                    "DVC_PAYMENT=vnpay cần DVC_VNPAY_TMN_CODE và DVC_VNPAY_HASH_SECRET (mã website và chuỗi bí mật do VNPAY cấp)"
                );
            };
            let client = VnpayClient::new(
                tmn.to_string(),
                secret.as_bytes().to_vec(),
                config
                    .vnpay_pay_url
                    .clone()
                    .unwrap_or_else(|| SANDBOX_PAY_URL.into()),
                config
                    .vnpay_api_url
                    .clone()
                    .unwrap_or_else(|| SANDBOX_API_URL.into()),
                &base,
                server_ip,
            )?;
            Ok((Some(Arc::new(client)), None))
        }
        PaymentMode::Sandbox => {
            if config.https() {
                anyhow::bail!(
                    "DVC_PAYMENT=sandbox chỉ dùng để thử trên máy cục bộ, không dùng với DVC_BASE_URL https; đặt DVC_PAYMENT=vnpay khi vận hành thật"
                );
            }
            let (tmn, secret) = match (tmn, secret) {
                (Some(t), Some(s)) => (t.to_string(), s.to_string()),
                _ => {
                    tracing::warn!(
                        tmn_code = sandbox::TEST_TMN_CODE,
                        hash_secret = sandbox::TEST_HASH_SECRET,
                        "!!! DVC_PAYMENT=sandbox: payments go to the STAND-IN gateway inside this binary, with a PUBLIC TEST merchant code and secret. No money moves. Never use this in production. !!!"
                    );
                    (
                        sandbox::TEST_TMN_CODE.to_string(),
                        sandbox::TEST_HASH_SECRET.to_string(),
                    )
                }
            };
            let client = VnpayClient::new(
                tmn.clone(),
                secret.as_bytes().to_vec(),
                config
                    .vnpay_pay_url
                    .clone()
                    .unwrap_or_else(|| format!("{base}/sandbox/vnpay/paymentv2/vpcpay.html")),
                config.vnpay_api_url.clone().unwrap_or_else(|| {
                    format!("{base}/sandbox/vnpay/merchant_webapi/api/transaction")
                }),
                &base,
                server_ip,
            )?;
            let sb = sandbox::Sandbox::new(&tmn, secret.as_bytes(), &base)?;
            Ok((Some(Arc::new(client)), Some(Arc::new(sb))))
        }
    }
}

/// A running portal: its state and the address it listens on.
pub struct Launched {
    pub state: AppState,
    pub addr: SocketAddr,
    pub server: tokio::task::JoinHandle<()>,
}

/// Starts everything a node runs — the web server on `listener`, the outbox worker and
/// housekeeping — on the system clock, and returns at once. Used by `serve` and by the
/// black-box tests.
pub async fn launch(config: Config, listener: tokio::net::TcpListener) -> anyhow::Result<Launched> {
    launch_with_clock(config, listener, crate::clock::Clock::system()).await
}

/// [`launch`] with the given clock: the black-box tests pass a manual one
/// ([`crate::clock::Clock::manual`]); `serve` never calls this (see [`crate::clock`]).
pub async fn launch_with_clock(
    config: Config,
    listener: tokio::net::TcpListener,
    clock: crate::clock::Clock,
) -> anyhow::Result<Launched> {
    // Without DVC_BASE_URL, the address actually bound (DVC_LISTEN may ask for port 0): links in
    // e-mails and the payment gateway's return and IPN addresses must reach this node.
    let mut config = config;
    if config.base_url.is_none() {
        config.base_url = Some(format!("http://{}", listener.local_addr()?));
    }
    if config.captcha == CaptchaMode::Off {
        tracing::warn!(
            "!!! DVC_CAPTCHA=off: the verification code is DISABLED. Use this only for automated tests and local development, never in production. !!!"
        );
    }
    let state = build_state(config.clone(), clock).await?;
    match &state.scanner {
        None => tracing::warn!(
            "!!! DVC_CLAMD_URL is not set: uploads are NOT scanned for viruses. Set it to ClamAV's daemon (tcp://host:3310 or unix:///path) in production. !!!"
        ),
        Some(scanner) => match scanner.ping().await {
            Ok(()) => tracing::info!(clamd = %scanner.endpoint(), "antivirus scanner answers"),
            Err(e) => {
                tracing::error!(error = %e, "antivirus scanner not answering: uploads are refused until it does")
            }
        },
    }
    let transport = Transport::from_config(config.smtp_url.as_deref(), &config.data_dir)?;
    let mailer = Mailer {
        db: state.light.clone(),
        transport,
        from: config
            .mail_from
            .parse()
            .context("DVC_MAIL_FROM không phải địa chỉ thư hợp lệ")?,
        queue: state.mail.clone(),
        backoff_base: Duration::from_secs(2),
        clock: state.clock.clone(),
    };
    tokio::spawn(mailer.run());
    let national = crate::integrations::national::National::from_config(&config)?;
    crate::store::partners::ensure_national(
        &state.db,
        national.as_ref().map(|n| n.url()),
        state.clock.now_ms(),
    )
    .await
    .context("không cấu hình được đồng bộ với Cổng DVC quốc gia")?;
    if let Some(n) = &national {
        tracing::info!(url = %n.url(), "national portal synchronisation on");
    }
    let deliverer =
        crate::jobs::deliveries::Deliverer::new(state.clone(), national.map(std::sync::Arc::new))?;
    tokio::spawn(deliverer.run());
    tokio::spawn(state.limiter.clone().flush_forever());
    tokio::spawn(crate::jobs::housekeeping(state.clone()));
    tokio::spawn(crate::jobs::log_audit_head(
        state.db.clone(),
        state.audit_key.clone(),
    ));
    tokio::spawn(crate::jobs::seal_audit(
        state.db.clone(),
        state.audit_key.clone(),
    ));
    tokio::spawn(crate::jobs::follow_catalog(state.clone()));
    tokio::spawn(crate::jobs::statistics(state.db.clone()));
    if state.vnpay.is_some() {
        tokio::spawn(crate::payment::flow::run_forever(state.clone()));
    }
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = state.db.backend(), storage = %state.files.location(), base_url = %config.base_url(), "portal listening");
    let app = router(state.clone());
    let idle = Duration::from_secs(state.config.idle_timeout_secs.max(1));
    let server = tokio::spawn(serve_http(listener, app, idle));
    Ok(Launched {
        state,
        addr,
        server,
    })
}

/// The HTTP/1.1 server: hyper with a header read timeout (`idle`), the peer address for the
/// handlers (`ConnectInfo`), a graceful shutdown on Ctrl-C or SIGTERM, and each connection
/// served by [`connection::serve`] (no HTTP state held while idle, lingering close).
///
/// `idle` (`DVC_IDLE_TIMEOUT_SECS`) is the time a client has to send a request's line and headers,
/// on a new connection and on a kept-alive one once it is idle; then the connection is closed.
/// It bounds a client trickling its headers (slowloris) and how long an idle connection stays
/// open. Reverse proxies keeping connections to the portal alive must close idle ones sooner.
async fn serve_http(listener: tokio::net::TcpListener, app: Router, idle: Duration) {
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection::serve(
            stream,
            peer,
            app.clone(),
            idle,
            close_rx.clone(),
        ));
    }
    drop(listener);
    drop(close_rx);
    let _ = close_tx.send(());
    close_tx.closed().await;
}

/// `dichvucong serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    if config.captcha == CaptchaMode::Off {
        eprintln!(
            "CẢNH BÁO: mã xác nhận đang TẮT (DVC_CAPTCHA=off). Chỉ dùng khi kiểm thử tự động hoặc phát triển; không dùng khi vận hành thật."
        );
    }
    if config
        .clamd_url
        .as_deref()
        .is_none_or(|u| u.trim().is_empty())
    {
        eprintln!(
            "CẢNH BÁO: chưa cấu hình quét virus (DVC_CLAMD_URL): tệp tải lên KHÔNG được kiểm tra mã độc. Khi vận hành thật, đặt DVC_CLAMD_URL trỏ tới ClamAV (clamd)."
        );
    }
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("không mở được cổng {}", config.listen))?;
    let launched = launch(config, listener).await?;
    println!("Cổng dịch vụ công đang chạy tại http://{}", launched.addr);
    let _ = launched.server.await;
    launched.state.db.close().await;
    launched.state.light.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
