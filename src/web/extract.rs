//! Extractors that never fail on hostile input: a bad query string is treated as empty (pages
//! then show their normal state), and the peer address is optional.

use axum::extract::{ConnectInfo, FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::net::SocketAddr;

/// Query parameters, or `T::default()` when the query string does not parse.
pub struct LenientQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequestParts<S> for LenientQuery<T> {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(LenientQuery(
            Query::<T>::try_from_uri(&parts.uri)
                .map(|q| q.0)
                .unwrap_or_default(),
        ))
    }
}

/// The TCP peer, when the server was started with connection info.
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// The opening of every citizen POST, done before any body is read: the same-origin check and a
/// live session — with, on a procedure's pages (`{code}` in the path), the citizen's draft of
/// that procedure, read in the same query. Handlers then check the form's CSRF token with
/// [`CitizenPost::check_csrf`] (the first field of a multipart body, or a URL-encoded field).
pub struct CitizenPost {
    pub session: crate::store::sessions::Session,
    pub draft: Option<crate::store::sessions::Draft>,
    pub ip: std::net::IpAddr,
}

impl CitizenPost {
    /// The submitted CSRF token against the session's, in constant time.
    pub fn check_csrf(&self, submitted: Option<&str>) -> crate::error::AppResult<()> {
        super::security::check_csrf(Some(&self.session), submitted)
    }
}

impl FromRequestParts<super::AppState> for CitizenPost {
    type Rejection = crate::error::AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &super::AppState,
    ) -> Result<Self, Self::Rejection> {
        use super::security;
        security::check_origin(state, &parts.headers)?;
        let procedure = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| {
                params
                    .iter()
                    .find(|(k, _)| *k == "code")
                    .and_then(|(_, code)| state.catalog().procedure(code))
            });
        let found = match procedure {
            Some(p) => security::session_with_draft(state, &parts.headers, &p.code).await?,
            None => security::session(state, &parts.headers)
                .await?
                .map(|s| (s, None)),
        };
        let Some((session, draft)) = found else {
            return Err(crate::error::AppError::Forbidden(
                "Phiên làm việc đã hết hạn. Ông/Bà hãy mở lại trang rồi thực hiện lại; thông tin đã lưu trước đó vẫn còn trong phiên cũ của trình duyệt."
                    .into(),
            ));
        };
        let Peer(peer) = Peer::from_request_parts(parts, state)
            .await
            .unwrap_or(Peer(None));
        let ip = security::client_ip(state, &parts.headers, peer);
        Ok(CitizenPost { session, draft, ip })
    }
}
