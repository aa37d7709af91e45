//! Argon2id password hashing (OWASP ASVS 11.4.2: m = 19 MiB, t = 2, p = 1, the crate's defaults),
//! run off the async threads.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await?
}

thread_local! {
    static VERIFIED_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Test hook: how many Argon2 verifications [`verify`] completed for callers on this thread.
/// A black-box test's server runs on the test's own thread (a current-thread runtime), so the
/// count is that server's alone even while other tests hash passwords in parallel.
#[doc(hidden)]
pub fn verifications_on_this_thread() -> u64 {
    VERIFIED_HERE.with(|c| c.get())
}

/// Verifies `password` against a stored PHC string. With `None` (unknown account) a dummy hash is
/// verified anyway, so the answer takes the same time either way (no user enumeration by timing).
pub async fn verify(password: String, stored: Option<String>) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zl6Z5s0m2S9ba9jQHbnUzwS8ZmkBeLg1z3l4xQXpSxk";
    let known = stored.is_some();
    let hash = stored.unwrap_or_else(|| DUMMY.to_string());
    let verified = tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
            && known
    })
    .await;
    if verified.is_ok() {
        VERIFIED_HERE.with(|c| c.set(c.get() + 1));
    }
    verified.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_and_verifies() {
        let h = super::hash("một câu dễ nhớ".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(super::verify("một câu dễ nhớ".into(), Some(h.clone())).await);
        assert!(!super::verify("sai".into(), Some(h)).await);
        assert!(!super::verify("x".into(), None).await);
    }
}
