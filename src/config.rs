//! Settings, from command-line flags or `DVC_*` environment variables.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaptchaMode {
    /// A picture of digits, with a text alternative for people who cannot see it.
    Image,
    /// No verification code: only for automated tests and local development.
    Off,
}

/// Citizen sign-in (`DVC_LOGIN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginMode {
    /// No sign-in: every citizen files without an account (the kiosk path).
    Off,
    /// Citizens may sign in (prefilled details, "Hồ sơ của tôi", drafts) or file without it.
    Optional,
    /// Filing needs a signed-in citizen; looking a dossier up by its code stays public.
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        env = "DVC_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: String,
    /// Directory for the SQLite database, attachments and written e-mails.
    #[arg(long, env = "DVC_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
    /// `sqlite:///abs/path.db` or `postgres://user@host/db`; default: `<data dir>/dichvucong.db`.
    #[arg(long, env = "DVC_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Where attachments go: `s3://bucket/prefix` (credentials from the usual `AWS_*` variables),
    /// `file:///abs/dir` or a directory; default: `<data dir>/files`.
    #[arg(long, env = "DVC_STORAGE_URL", global = true)]
    pub storage_url: Option<String>,
    /// Public base URL used in e-mail links; cookies are `Secure` when it is https.
    #[arg(long, env = "DVC_BASE_URL", global = true)]
    pub base_url: Option<String>,
    /// SMTP server, e.g. `smtp://127.0.0.1:2525` or `smtps://user:pass@mail.example.vn`.
    /// When unset, e-mails are written as .eml files under `<data dir>/mail`.
    #[arg(long, env = "DVC_SMTP_URL", global = true)]
    pub smtp_url: Option<String>,
    /// Sender of outgoing e-mail.
    #[arg(
        long,
        env = "DVC_MAIL_FROM",
        default_value = "Cổng Dịch vụ công <no-reply@dichvucong.local>",
        global = true
    )]
    pub mail_from: String,
    /// Verification code on submission.
    #[arg(
        long,
        env = "DVC_CAPTCHA",
        value_enum,
        default_value = "image",
        global = true
    )]
    pub captcha: CaptchaMode,
    /// Log format.
    #[arg(
        long,
        env = "DVC_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    /// Submissions allowed per client IP per hour.
    #[arg(
        long,
        env = "DVC_RATE_SUBMIT_PER_HOUR",
        default_value_t = 30,
        global = true
    )]
    pub rate_submit_per_hour: u32,
    /// Status lookups allowed per client IP per minute.
    #[arg(
        long,
        env = "DVC_RATE_LOOKUP_PER_MINUTE",
        default_value_t = 120,
        global = true
    )]
    pub rate_lookup_per_minute: u32,
    /// Take the client IP from the last `X-Forwarded-For` entry (only behind a trusted reverse proxy).
    #[arg(long, env = "DVC_TRUST_PROXY", default_value_t = false, global = true)]
    pub trust_proxy: bool,
    /// Seconds a kept-alive connection may stay idle (and a client may take to send a request's
    /// headers) before the portal closes it: bounds slow clients and the memory idle
    /// connections hold. Reverse proxies must close idle upstream connections sooner.
    #[arg(
        long,
        env = "DVC_IDLE_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub idle_timeout_secs: u64,

    /// Requests one node serves at the same time; beyond it a request is answered at once with
    /// 503 and `Retry-After` (a Vietnamese page) instead of queueing and growing memory.
    #[arg(long, env = "DVC_MAX_IN_FLIGHT", default_value_t = 256, global = true)]
    pub max_in_flight: usize,

    /// How many times one dossier may be given a new appointment with an apology (Mẫu 04).
    #[arg(long, env = "DVC_MAX_EXTENSIONS", default_value_t = 1, global = true)]
    pub max_extensions: u32,

    /// Secret key of the audit trail's hash chain (at least 32 characters). Overrides
    /// `DVC_AUDIT_KEY_FILE`. Every node of one deployment needs the same key.
    #[arg(long, env = "DVC_AUDIT_KEY", hide_env_values = true, global = true)]
    pub audit_key: Option<String>,

    /// File holding the audit key; default `<data dir>/audit.key`, created (mode 0600) at the
    /// first start when neither this nor `DVC_AUDIT_KEY` is set.
    #[arg(long, env = "DVC_AUDIT_KEY_FILE", global = true)]
    pub audit_key_file: Option<PathBuf>,

    /// ClamAV's daemon, which scans every upload before it is stored: `tcp://host:3310` or
    /// `unix:///run/clamav/clamd.ctl`. Unset: uploads are not scanned (a loud warning at start).
    #[arg(long, env = "DVC_CLAMD_URL", global = true)]
    pub clamd_url: Option<String>,

    /// Seconds one scan may take (connect, send, answer); beyond, the upload is refused for now.
    #[arg(
        long,
        env = "DVC_CLAMD_TIMEOUT_SECS",
        default_value_t = 20,
        global = true
    )]
    pub clamd_timeout_secs: u64,

    /// Citizen sign-in: `off`, `optional` or `required`; default `off` without
    /// `DVC_OIDC_ISSUER`, `optional` with it.
    #[arg(long, env = "DVC_LOGIN", value_enum, global = true)]
    pub login: Option<LoginMode>,

    /// The OpenID Connect provider (its issuer URL; the configuration is discovered from
    /// `<issuer>/.well-known/openid-configuration`).
    #[arg(long, env = "DVC_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,

    /// The portal's client id at the provider.
    #[arg(long, env = "DVC_OIDC_CLIENT_ID", default_value = "", global = true)]
    pub oidc_client_id: String,

    /// The portal's client secret at the provider.
    #[arg(
        long,
        env = "DVC_OIDC_CLIENT_SECRET",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true,
        global = true
    )]
    pub oidc_client_secret: String,

    /// Scopes asked for besides `openid`, separated by spaces.
    #[arg(
        long,
        env = "DVC_OIDC_SCOPES",
        default_value = "profile email phone",
        global = true
    )]
    pub oidc_scopes: String,

    /// Claim carrying the personal identification number (số định danh cá nhân).
    #[arg(
        long,
        env = "DVC_OIDC_CLAIM_ID_NUMBER",
        default_value = "citizen_id",
        global = true
    )]
    pub oidc_claim_id_number: String,

    /// Claim carrying the full name.
    #[arg(
        long,
        env = "DVC_OIDC_CLAIM_FULL_NAME",
        default_value = "name",
        global = true
    )]
    pub oidc_claim_full_name: String,

    /// Claim carrying the birth date (`YYYY-MM-DD` or `DD/MM/YYYY`).
    #[arg(
        long,
        env = "DVC_OIDC_CLAIM_BIRTH_DATE",
        default_value = "birthdate",
        global = true
    )]
    pub oidc_claim_birth_date: String,

    /// Claim carrying the phone number.
    #[arg(
        long,
        env = "DVC_OIDC_CLAIM_PHONE",
        default_value = "phone_number",
        global = true
    )]
    pub oidc_claim_phone: String,

    /// Claim carrying the e-mail address.
    #[arg(
        long,
        env = "DVC_OIDC_CLAIM_EMAIL",
        default_value = "email",
        global = true
    )]
    pub oidc_claim_email: String,

    /// Claim telling the identification level (`acr` works too: it is read from the ID token).
    #[arg(
        long,
        env = "DVC_OIDC_CLAIM_LEVEL",
        default_value = "identity_level",
        global = true
    )]
    pub oidc_claim_level: String,

    /// The value of that claim meaning identification level 2 (Nghị định 69/2024/NĐ-CP).
    #[arg(
        long,
        env = "DVC_OIDC_LEVEL2_VALUE",
        default_value = "2",
        global = true
    )]
    pub oidc_level2_value: String,

    /// Days a signed-in citizen's draft ("Lưu nháp") is kept after its last change.
    #[arg(
        long,
        env = "DVC_DRAFT_RETENTION_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub draft_retention_days: u32,

    /// Days before that deletion the citizen gets a reminder e-mail.
    #[arg(
        long,
        env = "DVC_DRAFT_REMINDER_DAYS",
        default_value_t = 3,
        global = true
    )]
    pub draft_reminder_days: u32,
    /// PKCS#12 file (.p12/.pfx) with the agency's signing key and certificate chain, which
    /// signs every electronic result (PAdES B-B). Unset: a self-signed demonstration
    /// certificate is generated at the first start, kept in the database and reused (a loud
    /// warning at start says so).
    #[arg(long, env = "DVC_SIGNING_P12", global = true)]
    pub signing_p12: Option<PathBuf>,

    /// Directory of per-agency PKCS#12 files named `<agency code>.p12` (e.g.
    /// `000.01.00.H31.p12`), opened with `DVC_SIGNING_PASSWORD`: each agency's results are signed
    /// with its own certificate; an agency without a file uses `DVC_SIGNING_P12` (or the
    /// demonstration certificate).
    #[arg(long, env = "DVC_SIGNING_P12_DIR", global = true)]
    pub signing_p12_dir: Option<PathBuf>,

    /// Password of `DVC_SIGNING_P12` (and of the files of `DVC_SIGNING_P12_DIR`).
    #[arg(
        long,
        env = "DVC_SIGNING_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub signing_password: Option<String>,
    /// Lifetime of a partner's bearer token (`POST /api/v1/oauth/token`), in seconds.
    #[arg(
        long,
        env = "DVC_API_TOKEN_TTL_SECS",
        default_value_t = 900,
        global = true
    )]
    pub api_token_ttl_secs: u64,

    /// Partner API calls allowed per partner per minute (429 with `Retry-After` beyond).
    #[arg(
        long,
        env = "DVC_RATE_API_PER_MINUTE",
        default_value_t = 600,
        global = true
    )]
    pub rate_api_per_minute: u32,

    /// Allow webhook URLs in plain http and to private, loopback or link-local addresses (local
    /// development, tests, an internal network). Off: https to public addresses only.
    #[arg(long, env = "DVC_WEBHOOK_ALLOW_INSECURE", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub webhook_allow_insecure: bool,

    /// Seconds one webhook or national-portal call may take (connect, send, answer).
    #[arg(
        long,
        env = "DVC_DELIVERY_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub delivery_timeout_secs: u64,

    /// The national public-services portal's adapter (Cổng DVC quốc gia, through the LGSP/NGSP),
    /// e.g. `https://lgsp.example.gov.vn/dvcqg`; unset: no synchronisation.
    #[arg(long, env = "DVC_DVCQG_URL", global = true)]
    pub dvcqg_url: Option<String>,

    /// Account name for the national portal's adapter.
    #[arg(long, env = "DVC_DVCQG_USERNAME", global = true)]
    pub dvcqg_username: Option<String>,

    /// Password for the national portal's adapter.
    #[arg(
        long,
        env = "DVC_DVCQG_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub dvcqg_password: Option<String>,

    /// Our unit's code at the national portal (`madonvi`, also sent as the `dstcode` header).
    #[arg(long, env = "DVC_DVCQG_UNIT", global = true)]
    pub dvcqg_unit: Option<String>,

    /// TOML file overriding the national vocabulary (status codes, procedure codes, endpoints):
    /// see docs/integrations.md.
    #[arg(long, env = "DVC_DVCQG_MAPPING", global = true)]
    pub dvcqg_mapping: Option<PathBuf>,

    /// Load the sample catalogue shipped with the binary when the catalogue is empty.
    #[arg(long, env = "DVC_SAMPLE_CATALOG", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub sample_catalog: bool,
}

impl Config {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => {
                let path = self.data_dir.join("dichvucong.db");
                let abs = std::path::absolute(&path).unwrap_or(path);
                format!("sqlite://{}", abs.display())
            }
        }
    }

    pub fn base_url(&self) -> String {
        match &self.base_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    /// The sign-in mode in force: `DVC_LOGIN`, else `optional` when an issuer is configured.
    pub fn login_mode(&self) -> LoginMode {
        match self.login {
            Some(m) => m,
            None if self.oidc_issuer_set() => LoginMode::Optional,
            None => LoginMode::Off,
        }
    }

    fn oidc_issuer_set(&self) -> bool {
        self.oidc_issuer
            .as_deref()
            .is_some_and(|i| !i.trim().is_empty())
    }

    pub fn https(&self) -> bool {
        self.base_url().starts_with("https://")
    }

    /// The audit trail's key: `DVC_AUDIT_KEY`, else the file `DVC_AUDIT_KEY_FILE`, else
    /// `<data dir>/audit.key`. With `create`, a missing default key file is generated (32 random
    /// bytes, hex, mode 0600); a named file must exist.
    pub fn load_audit_key(&self, create: bool) -> anyhow::Result<dvc_domain::audit::AuditKey> {
        use anyhow::Context;
        if let Some(k) = self.audit_key.as_deref().filter(|k| !k.is_empty()) {
            return Ok(dvc_domain::audit::AuditKey::new(k.trim().as_bytes())?);
        }
        let (path, named) = match &self.audit_key_file {
            Some(p) => (p.clone(), true),
            None => (self.data_dir.join("audit.key"), false),
        };
        if !path.exists() && create && !named {
            std::fs::create_dir_all(&self.data_dir)?;
            let key = hex::encode(rand::random::<[u8; 32]>());
            write_private(&path, key.as_bytes())
                .with_context(|| format!("tạo tệp khóa nhật ký {}", path.display()))?;
            tracing::warn!(path = %path.display(), "created a new audit key file: keep a copy of it outside this machine; every node of a deployment needs the same key (DVC_AUDIT_KEY or DVC_AUDIT_KEY_FILE)");
        }
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "đọc tệp khóa nhật ký {} (đặt DVC_AUDIT_KEY hoặc DVC_AUDIT_KEY_FILE)",
                path.display()
            )
        })?;
        Ok(dvc_domain::audit::AuditKey::new(text.trim().as_bytes())?)
    }
}

/// Creates `path` readable by its owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
