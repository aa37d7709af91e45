//! The OpenID Connect provider of the sign-in tests: the npm package `oidc-provider` (OpenID
//! Certified), started by `tests/oidc/provider.mjs` on a free port with a client for the portal
//! and VNeID-shaped accounts (`an`, `binh`: level 2; `chi`: level 1), and a browser that signs
//! in through its development login and consent pages.
//!
//! Needs Node.js ≥ 20 and `npm ci` in tests/oidc (scripts/test.sh does it); `DVC_TEST_NODE`
//! names another node binary.

use crate::helpers::{TestApp, extract, location};
use dichvucong::config::LoginMode;
use reqwest::redirect::Policy;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const CLIENT_ID: &str = "dichvucong";
pub const CLIENT_SECRET: &str = "dichvucong-test-secret-0123456789";

/// What the test app needs to use a provider (the `Config` fields of sign-in).
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub mode: LoginMode,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

pub struct Provider {
    child: Child,
    pub issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        // Our own child process, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts a provider whose client redirects to the portal at `portal` (its base URL);
    /// `tamper`: "audience" or "expired" makes every ID token wrong that way (re-signed with the
    /// provider's own key).
    pub async fn start(portal: &str, tamper: Option<&str>) -> Provider {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");
        assert!(
            std::path::Path::new(&format!("{dir}/node_modules/oidc-provider")).exists(),
            "the test OpenID provider is not installed: run `npm ci` in tests/oidc (scripts/test.sh does)"
        );
        let node = std::env::var("DVC_TEST_NODE").unwrap_or_else(|_| "node".into());
        let mut child = Command::new(node)
            .arg(format!("{dir}/provider.mjs"))
            .current_dir(dir)
            // Any free port, chosen by the provider itself (named in its READY line).
            .env("OIDC_PORT", "0")
            .env("OIDC_PORTAL", portal)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_TAMPER", tamper.unwrap_or(""))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node (Node.js ≥ 20 is needed for the sign-in tests)");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(issuer) = line.strip_prefix("READY ") {
                    let _ = tx.send(issuer.to_string());
                }
            }
        });
        let issuer = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await
            .expect("join")
            .expect("the test OpenID provider did not start within 30 s");
        Provider { child, issuer }
    }

    pub fn settings(&self, mode: LoginMode) -> ClientSettings {
        ClientSettings {
            mode,
            issuer: self.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
        }
    }
}

/// A portal with sign-in through a fresh provider (optionally tampering with ID tokens).
pub async fn app_with_provider(mode: LoginMode, tamper: Option<&str>) -> (TestApp, Provider) {
    app_with(TestApp::builder(), mode, tamper).await
}

pub async fn app_with(
    builder: crate::helpers::Builder,
    mode: LoginMode,
    tamper: Option<&str>,
) -> (TestApp, Provider) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let provider = Provider::start(&base, tamper).await;
    let app = builder
        .oidc(provider.settings(mode), listener)
        .spawn()
        .await;
    (app, provider)
}

/// A browser at the provider (its own cookies).
pub fn provider_browser() -> reqwest::Client {
    dichvucong::files::install_tls_provider();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// Plays the citizen at the provider from the authorization URL: follows redirects, logs in as
/// `login` (any password) and consents, until the provider sends the browser back to the
/// portal; returns that callback URL (with `code` and `state`, or an `error`).
pub async fn through_provider(
    browser: &reqwest::Client,
    auth_url: &str,
    portal: &str,
    login: &str,
) -> String {
    let mut url = auth_url.to_string();
    for _ in 0..20 {
        if url.starts_with(portal) {
            return url;
        }
        let r = browser.get(&url).send().await.expect("GET at the provider");
        let origin = {
            let u = reqwest::Url::parse(&url).expect("url");
            format!("{}://{}", u.scheme(), u.host_str().unwrap_or("127.0.0.1"))
                + &u.port().map(|p| format!(":{p}")).unwrap_or_default()
        };
        let next = if r.status().is_redirection() {
            location(&r)
        } else {
            let body = r.text().await.expect("body");
            let action = extract(&body, "action=\"").expect("a form at the provider");
            let prompt = extract(&body, "name=\"prompt\" value=\"").unwrap_or_default();
            let fields: Vec<(&str, &str)> = if prompt == "login" {
                vec![("prompt", "login"), ("login", login), ("password", "x")]
            } else {
                vec![("prompt", "consent")]
            };
            let action = if action.starts_with('/') {
                format!("{origin}{action}")
            } else {
                action
            };
            let r = browser
                .post(&action)
                .form(&fields)
                .send()
                .await
                .expect("POST at the provider");
            assert!(
                r.status().is_redirection(),
                "the provider did not accept the form: {}",
                r.status()
            );
            location(&r)
        };
        url = if next.starts_with('/') {
            format!("{origin}{next}")
        } else {
            next
        };
    }
    panic!("the provider never sent the browser back to the portal");
}

/// Starts a sign-in at the portal (`/dang-nhap?tiep=…`) and returns the provider's
/// authorization URL.
pub async fn start_sign_in(app: &TestApp, next: &str) -> String {
    let r = app
        .get(&format!("/dang-nhap?tiep={}", urlencode(next)))
        .await;
    assert_eq!(r.status().as_u16(), 303, "sign-in did not start");
    location(&r)
}

/// Signs `app`'s browser in as `login`, coming back to `next`; returns the callback response.
pub async fn sign_in(app: &TestApp, login: &str, next: &str) -> reqwest::Response {
    let auth = start_sign_in(app, next).await;
    let callback = through_provider(&provider_browser(), &auth, &app.base, login).await;
    app.client.get(&callback).send().await.expect("callback")
}

/// Signs in and checks it worked (303 to `next`).
pub async fn signed_in(app: &TestApp, login: &str, next: &str) {
    let r = sign_in(app, login, next).await;
    let status = r.status().as_u16();
    let loc = location(&r);
    assert_eq!(status, 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(loc, next);
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
