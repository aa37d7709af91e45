//! The agency's digital signature on electronic results (PAdES baseline B-B, see
//! `crates/sign` and docs/signing.md).
//!
//! The identity comes from `DVC_SIGNING_P12` + `DVC_SIGNING_PASSWORD`. Without them, a
//! self-signed demonstration certificate is generated at the first start and kept in the
//! database (table `signing_identities`, as a PKCS#12 file whose password is derived from the
//! audit key), so every node signs with the same one and a restart reuses it; a loud warning at
//! every start says that no citizen's software trusts it.

use crate::config::Config;
use crate::store::Db;
use crate::store::signing::{self as store, StoredIdentity};
use anyhow::Context;
use base64::Engine;
use bytes::Bytes;
use dvc_sign::{Identity, SignError, SignOptions};
use std::sync::Arc;

/// The name of the generated identity's row.
const DEFAULT: &str = "default";

/// The identity that signs results, shared by every request.
pub struct Signing {
    identity: Identity,
    /// A generated, self-signed demonstration certificate.
    pub demo: bool,
    /// Agencies with a certificate of their own (`DVC_SIGNING_P12_DIR`), by agency code.
    per_agency: std::collections::HashMap<String, Identity>,
}

impl std::fmt::Debug for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signing")
            .field("subject", &self.identity.subject())
            .field("demo", &self.demo)
            .finish()
    }
}

impl Signing {
    /// The configured identity, or the stored (else newly generated) demonstration one.
    pub async fn load(
        config: &Config,
        db: &Db,
        audit_key: &dvc_domain::audit::AuditKey,
        clock: &crate::clock::Clock,
    ) -> anyhow::Result<Signing> {
        let mut signing = Self::load_default(config, db, audit_key, clock).await?;
        signing.per_agency = per_agency(config).await?;
        Ok(signing)
    }

    async fn load_default(
        config: &Config,
        db: &Db,
        audit_key: &dvc_domain::audit::AuditKey,
        clock: &crate::clock::Clock,
    ) -> anyhow::Result<Signing> {
        if let Some(path) = config
            .signing_p12
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty())
        {
            let data = std::fs::read(path).with_context(|| {
                format!(
                    "không đọc được tệp chứng thư số DVC_SIGNING_P12 {}",
                    path.display()
                )
            })?;
            let password = config.signing_password.clone().unwrap_or_default();
            let identity =
                tokio::task::spawn_blocking(move || Identity::from_pkcs12(&data, &password))
                    .await?
                    .with_context(|| {
                        format!(
                            "không mở được tệp chứng thư số {} (kiểm tra DVC_SIGNING_PASSWORD)",
                            path.display()
                        )
                    })?;
            tracing::info!(subject = %identity.subject(), sha256 = %identity.fingerprint(), "results are signed with the configured certificate");
            return Ok(Signing {
                identity,
                demo: false,
                per_agency: Default::default(),
            });
        }
        // The stored PKCS#12's password: derived from the audit key, which is not in the database.
        let password = audit_key.mac([Some("signing-identity-password")]);
        let now_ms = clock.now_ms();
        let identity = match store::find(db, DEFAULT).await? {
            Some(stored) => match open(&stored, &password).await {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!(error = %e, "the stored demonstration signing identity cannot be opened (was the audit key changed?): a new one replaces it");
                    let (fresh, identity) = generate(clock, &password).await?;
                    store::replace(db, DEFAULT, &fresh, now_ms).await?;
                    identity
                }
            },
            None => {
                let (fresh, identity) = generate(clock, &password).await?;
                if store::insert(db, DEFAULT, &fresh, now_ms).await? {
                    identity
                } else {
                    // Another node stored its own first: use that one.
                    let stored = store::find(db, DEFAULT)
                        .await?
                        .context("signing identity vanished")?;
                    open(&stored, &password).await?
                }
            }
        };
        tracing::warn!(
            subject = %identity.subject(),
            sha256 = %identity.fingerprint(),
            "DVC_SIGNING_P12 is not set: electronic results are signed with a SELF-SIGNED DEMONSTRATION certificate that no citizen's software trusts. Set DVC_SIGNING_P12 and DVC_SIGNING_PASSWORD to the agency's certificate before real use"
        );
        Ok(Signing {
            identity,
            demo: true,
            per_agency: Default::default(),
        })
    }

    /// The identity that signs the results of `agency_code`.
    fn identity(&self, agency_code: &str) -> &Identity {
        self.per_agency.get(agency_code).unwrap_or(&self.identity)
    }

    /// The subject of the certificate that signs the results of `agency_code`.
    pub fn subject(&self, agency_code: &str) -> String {
        self.identity(agency_code).subject()
    }

    /// Signs a result PDF of the agency `agency_code` (named `agency`) at `at` (off the async
    /// threads: parsing the PDF and the key operation take milliseconds).
    pub async fn sign_result(
        self: &Arc<Self>,
        pdf: Bytes,
        agency_code: &str,
        agency: &str,
        at: jiff::Timestamp,
    ) -> Result<Bytes, SignError> {
        let me = self.clone();
        let code = agency_code.to_string();
        let agency = agency.to_string();
        let when = pdf_date(at);
        let signed = tokio::task::spawn_blocking(move || {
            dvc_sign::sign_pdf(
                &pdf,
                me.identity(&code),
                &SignOptions {
                    signing_time: &when,
                    reason: "Kết quả giải quyết thủ tục hành chính",
                    location: "Việt Nam",
                    name: &agency,
                },
            )
        })
        .await
        .map_err(|_| SignError::KeyOperation)??;
        Ok(Bytes::from(signed))
    }
}

/// The `<agency code>.p12` files of `DVC_SIGNING_P12_DIR`, each opened with
/// `DVC_SIGNING_PASSWORD`; a file that does not open stops the start.
async fn per_agency(
    config: &Config,
) -> anyhow::Result<std::collections::HashMap<String, Identity>> {
    let mut out = std::collections::HashMap::new();
    let Some(dir) = config
        .signing_p12_dir
        .as_ref()
        .filter(|d| !d.as_os_str().is_empty())
    else {
        return Ok(out);
    };
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "không đọc được thư mục chứng thư số DVC_SIGNING_P12_DIR {}",
            dir.display()
        )
    })?;
    for entry in entries {
        let path = entry?.path();
        let Some(code) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".p12"))
        else {
            continue;
        };
        let code = dvc_domain::agency::AgencyCode::parse(code)
            .with_context(|| {
                format!(
                    "tệp {} trong DVC_SIGNING_P12_DIR phải mang tên <mã cơ quan>.p12, ví dụ 000.01.00.H31.p12",
                    path.display()
                )
            })?
            .as_str()
            .to_string();
        let data = std::fs::read(&path)
            .with_context(|| format!("không đọc được tệp chứng thư số {}", path.display()))?;
        let password = config.signing_password.clone().unwrap_or_default();
        let identity = tokio::task::spawn_blocking(move || Identity::from_pkcs12(&data, &password))
            .await?
            .with_context(|| {
                format!(
                    "không mở được tệp chứng thư số {} (kiểm tra DVC_SIGNING_PASSWORD)",
                    path.display()
                )
            })?;
        tracing::info!(agency = %code, subject = %identity.subject(), sha256 = %identity.fingerprint(), "this agency's results are signed with its own certificate");
        out.insert(code, identity);
    }
    Ok(out)
}

/// A PDF date in Vietnam's time (UTC+7, no daylight saving): `D:20261204143000+07'00'`.
fn pdf_date(at: jiff::Timestamp) -> String {
    at.to_zoned_datetime(dvc_domain::calendar::vn_tz())
        .strftime("D:%Y%m%d%H%M%S+07'00'")
        .to_string()
}

async fn open(stored: &StoredIdentity, password: &str) -> anyhow::Result<Identity> {
    let data = base64::engine::general_purpose::STANDARD
        .decode(&stored.pkcs12_base64)
        .context("stored signing identity is not base64")?;
    let password = password.to_string();
    Ok(tokio::task::spawn_blocking(move || Identity::from_pkcs12(&data, &password)).await??)
}

/// A new demonstration identity, valid from yesterday for ten years.
async fn generate(
    clock: &crate::clock::Clock,
    password: &str,
) -> anyhow::Result<(StoredIdentity, Identity)> {
    let from = clock.today_vn().yesterday().unwrap_or(clock.today_vn());
    let password = password.to_string();
    let (p12, identity) = tokio::task::spawn_blocking(move || -> Result<_, SignError> {
        let p12 = dvc_sign::generate_demo_pkcs12(
            "Chứng thư số thử nghiệm của Cổng Dịch vụ công (không có giá trị pháp lý)",
            "Cổng Dịch vụ công trực tuyến (bản thử nghiệm)",
            (
                i32::from(from.year()),
                u8::try_from(from.month()).unwrap_or(1),
                u8::try_from(from.day()).unwrap_or(1),
            ),
            10,
            &password,
        )?;
        let identity = Identity::from_pkcs12(&p12, &password)?;
        Ok((p12, identity))
    })
    .await??;
    tracing::warn!(subject = %identity.subject(), "generated a self-signed demonstration signing certificate (first start)");
    Ok((
        StoredIdentity {
            pkcs12_base64: base64::engine::general_purpose::STANDARD.encode(p12),
            subject: identity.subject(),
        },
        identity,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pdf_dates_are_in_vietnam_time() {
        let at: jiff::Timestamp = "2026-12-04T23:30:00Z".parse().expect("ts");
        assert_eq!(super::pdf_date(at), "D:20261205063000+07'00'");
    }
}
