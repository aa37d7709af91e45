//! The national public-services portal's adapter (Cổng Dịch vụ công quốc gia, reached through
//! the LGSP/NGSP): every change of a dossier is pushed as `DongBoHoSoMC` (upsert the dossier)
//! then `CapNhatTienDoHoSoMC` (append one progress record), in the payload shape the known
//! implementations use (research notes `domain-3.md` §3; the official specification was not
//! found, so names, codes and endpoints come from `dvc_domain::integration::NationalMapping`,
//! overridable by a file).
//!
//! Transport: `POST <DVC_DVCQG_URL><auth_path>` with `{username, password}` returns
//! `{session, error_code: 0}`; the session is kept and sent in every call:
//! `POST <DVC_DVCQG_URL><integration_path>` with `{session, madonvi, service, …}`, header
//! `dstcode: <unit>`. Success is `error_code` 0 or `"00"`. A failed call drops the session, so
//! the next attempt logs in again.

use crate::store::dossiers::{AttachmentRow, DossierRow, EventRow};
use dvc_domain::dossier::DossierStatus;
use dvc_domain::integration::{NationalMapping, national_date};
use serde_json::{Value, json};
use std::time::Duration;

pub struct National {
    base: String,
    username: String,
    password: String,
    unit: String,
    pub mapping: NationalMapping,
    client: reqwest::Client,
    session: tokio::sync::Mutex<Option<String>>,
}

/// Why a push did not go through (logged and stored on the delivery; never the credentials).
#[derive(Debug, thiserror::Error)]
pub enum NationalError {
    #[error("không kết nối được Cổng DVC quốc gia: {0}")]
    Transport(String),
    #[error("Cổng DVC quốc gia trả về HTTP {0}")]
    Status(u16),
    #[error("Cổng DVC quốc gia từ chối ({service}): error_code {code} {message}")]
    Refused {
        service: String,
        code: String,
        message: String,
    },
    #[error("Cổng DVC quốc gia trả lời không đúng định dạng")]
    BadAnswer,
}

impl NationalError {
    pub fn status(&self) -> Option<i64> {
        match self {
            NationalError::Status(s) => Some(i64::from(*s)),
            _ => None,
        }
    }
}

/// What the national portal needs to know of one change.
pub struct Change<'a> {
    pub dossier: &'a DossierRow,
    pub channel: i64,
    pub event: &'a EventRow,
    pub attachments: &'a [AttachmentRow],
    pub procedure_name: &'a str,
    pub field_name: &'a str,
    pub agency_name: &'a str,
    /// The national portal has not acknowledged this dossier yet (`isUpdating: "False"`).
    pub first: bool,
}

impl National {
    /// The adapter configured by `DVC_DVCQG_*`, or `None` when `DVC_DVCQG_URL` is unset.
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Option<National>> {
        let Some(base) = config
            .dvcqg_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        let parsed = url::Url::parse(base)
            .map_err(|_| anyhow::anyhow!("DVC_DVCQG_URL không phải một URL đầy đủ: {base}"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            anyhow::bail!(
                "DVC_DVCQG_URL phải bắt đầu bằng https:// (hoặc http:// trong mạng nội bộ)."
            );
        }
        let mapping = match &config.dvcqg_mapping {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("không đọc được tệp ánh xạ {}: {e}", path.display())
                })?;
                NationalMapping::parse(&text)?
            }
            None => NationalMapping::default(),
        };
        crate::files::install_tls_provider();
        let timeout = Duration::from_secs(config.delivery_timeout_secs.max(1));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Some(National {
            base: base.trim_end_matches('/').to_string(),
            username: config.dvcqg_username.clone().unwrap_or_default(),
            password: config.dvcqg_password.clone().unwrap_or_default(),
            unit: config.dvcqg_unit.clone().unwrap_or_default(),
            mapping,
            client,
            session: tokio::sync::Mutex::new(None),
        }))
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, NationalError> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("dstcode", &self.unit)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| NationalError::Transport(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(NationalError::Status(status));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| NationalError::Transport(e.without_url().to_string()))?;
        serde_json::from_slice(&bytes).map_err(|_| NationalError::BadAnswer)
    }

    fn ok(answer: &Value) -> bool {
        match answer.get("error_code") {
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s == "0" || s == "00",
            _ => false,
        }
    }

    fn refused(service: &str, answer: &Value) -> NationalError {
        NationalError::Refused {
            service: service.to_string(),
            code: answer
                .get("error_code")
                .map(|c| c.to_string())
                .unwrap_or_default(),
            message: answer
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
        }
    }

    async fn session(&self) -> Result<String, NationalError> {
        let mut cached = self.session.lock().await;
        if let Some(s) = cached.as_ref() {
            return Ok(s.clone());
        }
        let answer = self
            .post(
                &self.mapping.auth_path,
                &json!({ "username": self.username, "password": self.password }),
            )
            .await?;
        if !Self::ok(&answer) {
            return Err(Self::refused("auth", &answer));
        }
        let session = answer
            .get("session")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(NationalError::BadAnswer)?
            .to_string();
        *cached = Some(session.clone());
        Ok(session)
    }

    async fn call(&self, service: &str, extra: Value) -> Result<(), NationalError> {
        let session = self.session().await?;
        let mut body = json!({ "session": session, "madonvi": self.unit, "service": service });
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        let result = match self.post(&self.mapping.integration_path, &body).await {
            Ok(answer) if Self::ok(&answer) => Ok(()),
            Ok(answer) => Err(Self::refused(service, &answer)),
            Err(e) => Err(e),
        };
        if result.is_err() {
            // Perhaps the session expired: log in again next time.
            *self.session.lock().await = None;
        }
        result
    }

    /// Pushes one change: the dossier (`DongBoHoSoMC`), then its progress record
    /// (`CapNhatTienDoHoSoMC`).
    pub async fn push(&self, c: &Change<'_>) -> Result<(), NationalError> {
        self.call(
            &self.mapping.dossier_service,
            json!({
                "isUpdating": if c.first { "False" } else { "True" },
                "data": [self.dossier_payload(c)],
            }),
        )
        .await?;
        self.call(
            &self.mapping.progress_service,
            json!({ "data": [self.progress_payload(c)] }),
        )
        .await
    }

    fn status_code(&self, s: &str) -> u8 {
        DossierStatus::parse(s)
            .map(|s| self.mapping.status_code(s))
            .unwrap_or(4)
    }

    /// The `DongBoHoSoMC` record of the dossier as it stands.
    pub fn dossier_payload(&self, c: &Change<'_>) -> Value {
        let d = c.dossier;
        let date = |ms: Option<i64>| ms.map(national_date).unwrap_or_default();
        let done = d.status == DossierStatus::Done.as_str();
        let files: Vec<Value> = c
            .attachments
            .iter()
            .map(|a| {
                json!({
                    "TepDinhKemId": a.id.to_string(),
                    "TenTepDinhKem": a.file_name,
                    "IsDeleted": "False",
                    "MaThanhPhanHoSo": a.document_id.clone().unwrap_or_default(),
                    "DuongDanTaiTepTin": "",
                })
            })
            .collect();
        let results: Vec<Value> = d
            .result_name
            .iter()
            .map(|n| json!({ "TenGiayTo": n, "MaThanhPhanHoSo": "", "GiayToId": "", "DuongDanTepTinKetQua": "" }))
            .collect();
        json!({
            "MaHoSo": d.code,
            "MaTTHC": self.mapping.procedure_code(&d.procedure_code),
            "TenTTHC": c.procedure_name,
            "MaLinhVuc": "",
            "TenLinhVuc": c.field_name,
            "ChuHoSo": d.applicant_name,
            "LoaiDoiTuong": "1",
            "Email": d.applicant_email,
            "SoDienThoai": d.applicant_phone,
            "TrichYeuHoSo": c.procedure_name,
            "NgayNopHoSo": national_date(d.submitted_at),
            "NgayTiepNhan": date(d.received_at.or(Some(d.submitted_at))),
            "NgayHenTra": date(d.due_at.or(d.expected_at)),
            "TrangThaiHoSo": self.status_code(&d.status).to_string(),
            "NgayTra": if done { date(d.finished_at) } else { String::new() },
            "NgayKetThucXuLy": date(d.finished_at),
            "HinhThuc": "0",
            "KenhThucHien": c.channel.to_string(),
            "DonViXuLy": c.agency_name,
            "TaiLieuNop": files,
            "DanhSachLePhi": [],
            "DanhSachTepDinhKemKhac": [],
            "DanhSachHoSoBoSung": [],
            "DanhSachGiayToKetQua": results,
        })
    }

    /// The `CapNhatTienDoHoSoMC` record of the event.
    pub fn progress_payload(&self, c: &Change<'_>) -> Value {
        let e = c.event;
        let label = dvc_domain::dossier::Action::parse(&e.action)
            .map(|a| a.label())
            .unwrap_or("Nộp hồ sơ");
        let content = match e.public_note.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => format!("{label}: {n}"),
            None => label.to_string(),
        };
        json!({
            "MaHoSo": c.dossier.code,
            "NguoiXuLy": e.actor_name.clone().unwrap_or_else(|| if e.actor == "citizen" { c.dossier.applicant_name.clone() } else { e.actor.clone() }),
            "ChucDanh": e.actor_title.clone().unwrap_or_default(),
            "ThoiDiemXuLy": national_date(e.at),
            "PhongBanXuLy": e.unit.clone().unwrap_or_else(|| c.agency_name.to_string()),
            "NoiDungXuLy": content,
            "TrangThai": self.status_code(&e.to_status).to_string(),
            "NgayBatDau": national_date(e.at),
            "NgayKetThucTheoQuyDinh": c.dossier.due_at.or(c.dossier.expected_at).map(national_date).unwrap_or_default(),
        })
    }
}
