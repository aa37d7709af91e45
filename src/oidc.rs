//! Citizen sign-in with OpenID Connect (the national electronic identity is VNeID-shaped; any
//! certified provider works): discovery from the issuer, the authorization-code flow with PKCE
//! (S256), `state` and `nonce`, and the ID token's signature, issuer, audience, expiry and nonce
//! checked by the `openidconnect` crate; then the claims from the verified ID token and from the
//! userinfo endpoint (whose `sub` must be the token's).
//!
//! No I/O but the provider's; the web layer keeps the state, nonce and verifier server-side
//! (`store::citizens`) and decides what a refusal shows ([`OidcError::message`]).

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdToken};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl,
    RequestTokenError, Scope, TokenResponse,
};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which claims carry what (`DVC_OIDC_CLAIM_*`), and what means identification level 2.
#[derive(Debug, Clone)]
pub struct ClaimNames {
    pub id_number: String,
    pub full_name: String,
    pub birth_date: String,
    pub phone: String,
    pub email: String,
    /// The claim telling the level (`acr` included: it is read from the ID token too).
    pub level: String,
    /// Its value for level 2.
    pub level2_value: String,
}

#[derive(Clone)]
pub struct Settings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes besides `openid`.
    pub scopes: Vec<String>,
    pub claims: ClaimNames,
}

impl std::fmt::Debug for Settings {
    /// Never prints the client secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"…")
            .field("scopes", &self.scopes)
            .field("claims", &self.claims)
            .finish()
    }
}

impl Settings {
    pub fn from_config(c: &crate::config::Config) -> Option<Settings> {
        let issuer = c
            .oidc_issuer
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())?;
        Some(Settings {
            issuer: issuer.to_string(),
            client_id: c.oidc_client_id.clone(),
            client_secret: c.oidc_client_secret.clone(),
            scopes: c
                .oidc_scopes
                .split_whitespace()
                .filter(|s| *s != "openid")
                .map(str::to_string)
                .collect(),
            claims: ClaimNames {
                id_number: c.oidc_claim_id_number.clone(),
                full_name: c.oidc_claim_full_name.clone(),
                birth_date: c.oidc_claim_birth_date.clone(),
                phone: c.oidc_claim_phone.clone(),
                email: c.oidc_claim_email.clone(),
                level: c.oidc_claim_level.clone(),
                level2_value: c.oidc_level2_value.clone(),
            },
        })
    }
}

/// Why a sign-in failed. [`OidcError::message`] says it to the citizen, in Vietnamese.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    /// The provider refused (an `error` on the callback, or from its token endpoint).
    #[error("identity provider refused: {error} ({description})")]
    Refused { error: String, description: String },
    #[error("ID token expired: {0}")]
    Expired(String),
    #[error("ID token for another audience: {0}")]
    Audience(String),
    #[error("ID token refused: {0}")]
    Invalid(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl OidcError {
    pub fn message(&self) -> String {
        match self {
            OidcError::Unreachable(_) => "Hiện không kết nối được với hệ thống định danh điện tử. Ông/Bà vui lòng thử lại sau ít phút, hoặc nộp hồ sơ không cần đăng nhập nếu thủ tục cho phép.".into(),
            OidcError::Refused { error, .. } => match error.as_str() {
                "access_denied" => "Ông/Bà đã không đồng ý chia sẻ thông tin định danh với Cổng, nên chưa đăng nhập được. Hãy đăng nhập lại và chọn đồng ý.".into(),
                "invalid_grant" => "Mã xác thực từ hệ thống định danh đã được dùng hoặc đã hết hạn (mỗi mã chỉ dùng một lần). Ông/Bà hãy bấm “Đăng nhập” để đăng nhập lại.".into(),
                "invalid_request" => "Hệ thống định danh từ chối yêu cầu đăng nhập vì thiếu thông tin bảo vệ bắt buộc (PKCE). Ông/Bà hãy bấm “Đăng nhập” trên Cổng để bắt đầu lại, không dùng đường dẫn đăng nhập đã lưu.".into(),
                "login_required" | "interaction_required" | "consent_required" => "Ông/Bà chưa hoàn tất đăng nhập tại hệ thống định danh. Hãy đăng nhập lại.".into(),
                _ => "Hệ thống định danh điện tử từ chối yêu cầu đăng nhập. Ông/Bà hãy đăng nhập lại; nếu vẫn không được, hãy liên hệ bộ phận hỗ trợ của Cổng.".into(),
            },
            OidcError::Expired(_) => "Thông tin định danh nhận được đã hết hạn nên không được chấp nhận. Ông/Bà hãy đăng nhập lại; nếu vẫn không được, hãy kiểm tra ngày giờ trên máy.".into(),
            OidcError::Audience(_) => "Thông tin định danh nhận được không cấp cho Cổng Dịch vụ công này nên không được chấp nhận. Ông/Bà hãy đăng nhập lại từ nút “Đăng nhập” của Cổng.".into(),
            OidcError::Invalid(_) => "Thông tin định danh nhận được không hợp lệ (chữ ký, nơi cấp hoặc mã chống giả mạo không đúng) nên không được chấp nhận. Ông/Bà hãy đăng nhập lại.".into(),
            OidcError::Config(_) => "Chức năng đăng nhập đang được cấu hình chưa đúng. Ông/Bà vui lòng nộp hồ sơ không cần đăng nhập hoặc thử lại sau.".into(),
        }
    }
}

/// A sign-in just started: the provider's URL to send the browser to, and what the callback
/// needs (kept server-side).
pub struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A verified identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// Personal identification number (12 digits), empty when the provider gave none.
    pub id_number: String,
    pub full_name: String,
    /// `YYYY-MM-DD` (empty when not given or not readable).
    pub birth_date: String,
    pub phone: String,
    pub email: String,
    /// 2 when the level claim has the configured value, else 1.
    pub level: i64,
    /// The raw ID token, kept as the hint of RP-initiated logout.
    pub id_token: String,
}

/// How long discovered metadata (endpoints, signing keys) is trusted before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

pub struct Oidc {
    settings: Settings,
    http: Http,
    metadata: tokio::sync::RwLock<Option<(Arc<ProviderMetadataWithLogout>, Instant)>>,
}

/// The HTTP client the `openidconnect` crate calls: the project's reqwest 0.13, redirects off.
/// A named type with a boxed `Send` future rather than a closure, so that the handlers' futures
/// stay `Send` for every lifetime.
struct Http(reqwest::Client);

type HttpFuture<'c> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<HttpResponse, reqwest::Error>> + Send + 'c>,
>;

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = reqwest::Error;
    type Future = HttpFuture<'c>;
    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

async fn send(c: &reqwest::Client, req: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let resp = c.execute(reqwest::Request::try_from(req)?).await?;
    let mut out = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    let body = resp.bytes().await?.to_vec();
    // Status and headers come from a parsed response: building cannot fail; if it did, an empty
    // 502 makes the caller report the provider as unreachable.
    Ok(out.body(body).unwrap_or_else(|_| {
        let mut r = http::Response::new(Vec::new());
        *r.status_mut() = http::StatusCode::BAD_GATEWAY;
        r
    }))
}

impl Oidc {
    pub fn new(settings: Settings) -> anyhow::Result<Oidc> {
        crate::files::install_tls_provider();
        IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| anyhow::anyhow!("DVC_OIDC_ISSUER không phải URL hợp lệ: {e}"))?;
        anyhow::ensure!(
            !settings.client_id.is_empty(),
            "DVC_OIDC_CLIENT_ID chưa được đặt (mã ứng dụng của Cổng tại nhà cung cấp định danh)"
        );
        // No redirects (SSRF), bounded time.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Oidc {
            settings,
            http: Http(http),
            metadata: Default::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The provider's metadata, discovered once an hour (or again after a failure).
    async fn metadata(&self) -> Result<Arc<ProviderMetadataWithLogout>, OidcError> {
        if let Some((m, at)) = self.metadata.read().await.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| OidcError::Config(e.to_string()))?;
        let meta = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| OidcError::Unreachable(format!("discovery: {e}")))?;
        let meta = Arc::new(meta);
        *self.metadata.write().await = Some((meta.clone(), Instant::now()));
        Ok(meta)
    }

    async fn forget_metadata(&self) {
        *self.metadata.write().await = None;
    }

    fn client(
        &self,
        meta: &ProviderMetadataWithLogout,
        redirect: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let secret = (!self.settings.client_secret.is_empty())
            .then(|| ClientSecret::new(self.settings.client_secret.clone()));
        let redirect =
            RedirectUrl::new(redirect.to_string()).map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            meta.clone(),
            ClientId::new(self.settings.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in that comes back to `redirect` (the callback URL).
    pub async fn start(&self, redirect: &str) -> Result<Started, OidcError> {
        let meta = self.metadata().await?;
        let client = self.client(&meta, redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &self.settings.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: exchanges `code` (with the PKCE verifier), verifies the ID token
    /// (signature against the provider's keys, issuer, audience, expiry, nonce) and reads the
    /// claims.
    pub async fn finish(
        &self,
        redirect: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Identity, OidcError> {
        let meta = self.metadata().await?;
        let client = self.client(&meta, redirect)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => OidcError::Refused {
                    error: match r.error() {
                        CoreErrorResponseType::Extension(s) => s.clone(),
                        other => serde_json::to_value(other)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                    },
                    description: r.error_description().cloned().unwrap_or_default(),
                },
                RequestTokenError::Request(e) => OidcError::Unreachable(format!("token: {e}")),
                other => OidcError::Invalid(format!("token response: {other}")),
            })?;
        let id_token: &CoreIdToken = token
            .id_token()
            .ok_or_else(|| OidcError::Invalid("no id_token in the token response".into()))?;
        let verifier = client.id_token_verifier();
        let verified = match id_token.claims(&verifier, &Nonce::new(nonce.to_string())) {
            Ok(c) => c,
            Err(ClaimsVerificationError::SignatureVerification(e)) => {
                // The provider may have rotated its keys: discover again next time.
                self.forget_metadata().await;
                return Err(OidcError::Invalid(format!("signature: {e}")));
            }
            Err(e) => return Err(classify(e)),
        };
        let subject = verified.subject().to_string();
        let issuer = verified.issuer().to_string();
        let raw = id_token.to_string();
        let mut claims = Map::new();
        if let Some(url) = meta.userinfo_endpoint() {
            let info = self
                .userinfo(url.url().as_str(), token.access_token().secret())
                .await?;
            if info.get("sub").and_then(Value::as_str) != Some(subject.as_str()) {
                return Err(OidcError::Invalid(
                    "userinfo is about another subject".into(),
                ));
            }
            claims = info;
        }
        // The verified ID token's own claims win over userinfo's.
        for (k, v) in payload(&raw)? {
            claims.insert(k, v);
        }
        Ok(identity(
            &self.settings.claims,
            issuer,
            subject,
            &claims,
            raw,
        ))
    }

    async fn userinfo(
        &self,
        url: &str,
        access_token: &str,
    ) -> Result<Map<String, Value>, OidcError> {
        let resp = self
            .http
            .0
            .get(url)
            .bearer_auth(access_token)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(format!("userinfo: {e}")))?;
        if !resp.status().is_success() {
            return Err(OidcError::Invalid(format!(
                "userinfo: HTTP {}",
                resp.status()
            )));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| OidcError::Unreachable(format!("userinfo: {e}")))?;
        serde_json::from_slice(&body)
            .map_err(|_| OidcError::Invalid("userinfo is not a JSON object".into()))
    }

    /// The origin of the provider's end-session endpoint, if it has one: the sign-out form may
    /// lead there (its page's `form-action` must allow it).
    pub async fn end_session_origin(&self) -> Option<String> {
        let meta = self.metadata().await.ok()?;
        let end = meta.additional_metadata().end_session_endpoint.clone()?;
        let origin = end.url().origin();
        origin.is_tuple().then(|| origin.ascii_serialization())
    }

    /// Where to send the browser to end the provider's session too (RP-initiated logout), when
    /// the provider has an `end_session_endpoint`.
    pub async fn logout_url(&self, id_token: Option<&str>, after: &str) -> Option<String> {
        let meta = self.metadata().await.ok()?;
        let end = meta.additional_metadata().end_session_endpoint.clone()?;
        let mut req =
            LogoutRequest::from(end).set_client_id(ClientId::new(self.settings.client_id.clone()));
        if let Some(t) = id_token.and_then(|t| t.parse::<CoreIdToken>().ok()) {
            req = req.set_id_token_hint(&t);
        }
        if let Ok(u) = PostLogoutRedirectUrl::new(after.to_string()) {
            req = req.set_post_logout_redirect_uri(u);
        }
        Some(req.http_get_url().to_string())
    }
}

fn classify(e: ClaimsVerificationError) -> OidcError {
    match e {
        ClaimsVerificationError::Expired(m) => OidcError::Expired(m),
        ClaimsVerificationError::InvalidAudience(m) => OidcError::Audience(m),
        other => OidcError::Invalid(other.to_string()),
    }
}

/// The payload of a JWT whose signature was verified already.
fn payload(jwt: &str) -> Result<Map<String, Value>, OidcError> {
    use base64::Engine;
    let part = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| OidcError::Invalid("malformed ID token".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| OidcError::Invalid("malformed ID token".into()))?;
    serde_json::from_slice(&bytes).map_err(|_| OidcError::Invalid("malformed ID token".into()))
}

fn text(claims: &Map<String, Value>, name: &str) -> String {
    match claims.get(name) {
        Some(Value::String(s)) => dvc_domain::text::clean_input(s)
            .trim()
            .chars()
            .take(200)
            .collect(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The identity from the claims, by the configured names.
pub fn identity(
    names: &ClaimNames,
    issuer: String,
    subject: String,
    claims: &Map<String, Value>,
    id_token: String,
) -> Identity {
    let id_number: String = text(claims, &names.id_number)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let id_number = if id_number.len() == 12 && id_number.bytes().all(|b| b.is_ascii_digit()) {
        id_number
    } else {
        String::new()
    };
    let level = match claims.get(&names.level) {
        Some(Value::Array(values)) => values.iter().any(|v| level_value(v) == names.level2_value),
        Some(v) => level_value(v) == names.level2_value,
        None => false,
    };
    Identity {
        issuer,
        subject,
        id_number,
        full_name: text(claims, &names.full_name),
        birth_date: birth_date(&text(claims, &names.birth_date)),
        phone: text(claims, &names.phone),
        email: text(claims, &names.email),
        level: if level { 2 } else { 1 },
        id_token,
    }
}

fn level_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `YYYY-MM-DD` from `YYYY-MM-DD` or `DD/MM/YYYY`; empty otherwise.
fn birth_date(s: &str) -> String {
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d.to_string();
    }
    match jiff::civil::Date::strptime("%d/%m/%Y", s) {
        Ok(d) => d.to_string(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> ClaimNames {
        ClaimNames {
            id_number: "citizen_id".into(),
            full_name: "name".into(),
            birth_date: "birthdate".into(),
            phone: "phone_number".into(),
            email: "email".into(),
            level: "identity_level".into(),
            level2_value: "2".into(),
        }
    }

    #[test]
    fn claims_are_read_by_their_configured_names() {
        let claims: Map<String, Value> = serde_json::from_str(
            r#"{"citizen_id":"001090000001","name":"Nguyễn Văn An","birthdate":"12/05/1990","identity_level":2,"email":"an@example.vn"}"#,
        )
        .unwrap_or_default();
        let i = identity(&names(), "iss".into(), "sub".into(), &claims, String::new());
        assert_eq!(i.id_number, "001090000001");
        assert_eq!(i.full_name, "Nguyễn Văn An");
        assert_eq!(i.birth_date, "1990-05-12");
        assert_eq!(i.level, 2);
        assert_eq!(i.phone, "");
    }

    #[test]
    fn a_malformed_id_number_or_another_level_is_not_taken() {
        let claims: Map<String, Value> =
            serde_json::from_str(r#"{"citizen_id":"12345","identity_level":"1"}"#)
                .unwrap_or_default();
        let i = identity(&names(), "iss".into(), "sub".into(), &claims, String::new());
        assert_eq!(i.id_number, "");
        assert_eq!(i.level, 1);
    }
}
