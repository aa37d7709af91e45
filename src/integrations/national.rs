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
use crate::store::payments::PaymentRow;
use dvc_domain::dossier::DossierStatus;
use dvc_domain::fees::FeeLine;
use dvc_domain::integration::{NationalMapping, fee_kind, national_date};
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
    /// The attached files with the signed link the portal downloads each from.
    pub attachments: &'a [(AttachmentRow, String)],
    pub procedure_name: &'a str,
    pub field_name: &'a str,
    pub agency_name: &'a str,
    /// The national portal has not acknowledged this dossier yet: ask it (`TraCuuHoSo`) before
    /// the push, which creates the dossier (`isUpdating: "False"`) only if it has not got it.
    pub first: bool,
    /// The national portal's own code of the dossier (`MaHoSo`), when it has one; else ours.
    pub national_code: Option<&'a str>,
    pub fees: Fees<'a>,
}

/// The dossier's fee as the national portal reads it (QĐ 766 indicators 3.5 and 3.6).
pub struct Fees<'a> {
    /// The fee lines as computed at filing (`fee_quote`).
    pub lines: &'a [FeeLine],
    /// Payable online through this portal (the dossier has a payment state).
    pub payable_online: bool,
    /// Paid at filing (else when the result is returned).
    pub at_filing: bool,
    /// The attempt that paid it, if any.
    pub paid: Option<&'a PaymentRow>,
    /// Still owed when the event happened (a `pay` event at or before it: no).
    pub owed_at_event: bool,
}

/// What the push told about the dossier, for the caller to keep.
#[derive(Debug, Default)]
pub struct Pushed {
    /// The portal's own code of the dossier, read from its answer (`answer_code_field`).
    pub national_code: Option<String>,
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

    async fn call(&self, service: &str, extra: Value) -> Result<Value, NationalError> {
        let session = self.session().await?;
        let mut body = json!({ "session": session, "madonvi": self.unit, "service": service });
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        let result = match self.post(&self.mapping.integration_path, &body).await {
            Ok(answer) if Self::ok(&answer) => Ok(answer),
            Ok(answer) => Err(Self::refused(service, &answer)),
            Err(e) => Err(e),
        };
        if result.is_err() {
            // Perhaps the session expired: log in again next time.
            *self.session.lock().await = None;
        }
        result
    }

    /// The code the national portal knows the dossier by: its own, or ours.
    fn code<'a>(c: &'a Change<'_>) -> &'a str {
        c.national_code.unwrap_or(&c.dossier.code)
    }

    /// Whether the national portal already has the dossier `code` (`TraCuuHoSo`): a non-empty
    /// `lookup_result_field` in a successful answer. A refusal reads as "not found" (a
    /// portal that does not offer the lookup); a transport failure fails the push.
    pub async fn has(&self, code: &str) -> Result<bool, NationalError> {
        let session = self.session().await?;
        let body = json!({
            "session": session,
            "madonvi": self.unit,
            "service": self.mapping.lookup_service,
            "mahoso": code,
        });
        let answer = match self.post(&self.mapping.integration_path, &body).await {
            Ok(a) => a,
            Err(e) => {
                *self.session.lock().await = None;
                return Err(e);
            }
        };
        if !Self::ok(&answer) {
            return Ok(false);
        }
        Ok(match answer.get(&self.mapping.lookup_result_field) {
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::String(s)) => !s.is_empty(),
            _ => false,
        })
    }

    /// Pushes one change: the dossier (`DongBoHoSoMC`), then its progress record
    /// (`CapNhatTienDoHoSoMC`). Before the first push of a dossier of ours, asks whether the
    /// portal has it already (a push whose acknowledgement was lost in a crash), so that the
    /// push updates it instead of creating a second one. A dossier filed on the national portal
    /// is known there: always an update.
    pub async fn push(&self, c: &Change<'_>) -> Result<Pushed, NationalError> {
        let known = if c.national_code.is_some() {
            true
        } else if c.first && self.mapping.lookup {
            self.has(Self::code(c)).await?
        } else {
            !c.first
        };
        let answer = self
            .call(
                &self.mapping.dossier_service,
                json!({
                    "isUpdating": if known { "True" } else { "False" },
                    "data": [self.dossier_payload(c)],
                }),
            )
            .await?;
        self.call(
            &self.mapping.progress_service,
            json!({ "data": [self.progress_payload(c)] }),
        )
        .await?;
        let national_code = match self.mapping.answer_code_field.as_str() {
            "" => None,
            f => answer
                .get(f)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.len() <= 100 && crate::store::storable_key(s))
                .map(str::to_string),
        };
        Ok(Pushed { national_code })
    }

    fn status_code(&self, s: &str, fee_owed: bool) -> u8 {
        DossierStatus::parse(s)
            .map(|s| self.mapping.national_status(s, fee_owed))
            .unwrap_or(4)
    }

    /// `DanhSachLePhi`, `DuocThanhToanTrucTuyen` and the payment record (names from the mapping),
    /// added to the dossier's record.
    fn payment_members(&self, c: &Change<'_>, out: &mut serde_json::Map<String, Value>) {
        let f = &c.fees;
        let collected = self.mapping.collected(f.at_filing);
        let lines: Vec<Value> = f
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({
                    "TenPhiLePhi": l.label,
                    "MaPhiLePhi": format!("{}", i + 1),
                    "HinhThucThu": collected,
                    "Gia": if l.exempt.is_some() { 0 } else { l.amount_vnd },
                    "LoaiPhiLePhi": fee_kind(&l.label),
                })
            })
            .collect();
        out.insert("DanhSachLePhi".into(), Value::Array(lines));
        if f.paid.is_some() {
            out.insert(
                "DuocThanhToanTrucTuyen".into(),
                Value::String(self.mapping.paid_online.clone()),
            );
        }
        let names = &self.mapping.payment_fields;
        if !f.payable_online || names.object.is_empty() {
            return;
        }
        let mut record = serde_json::Map::new();
        let mut put = |name: &str, v: Value| {
            if !name.is_empty() {
                record.insert(name.to_string(), v);
            }
        };
        match f.paid {
            Some(p) => {
                put(&names.status, json!("1"));
                put(&names.amount, json!(p.amount_vnd));
                put(
                    &names.paid_at,
                    json!(p.paid_at.map(national_date).unwrap_or_default()),
                );
                put(
                    &names.transaction,
                    json!(p.transaction_no.clone().unwrap_or_default()),
                );
                put(&names.reference, json!(p.txn_ref));
            }
            None => {
                put(&names.status, json!("0"));
                put(&names.amount, json!(0));
            }
        }
        out.insert(names.object.clone(), Value::Object(record));
    }

    /// The `DongBoHoSoMC` record of the dossier as it stands.
    pub fn dossier_payload(&self, c: &Change<'_>) -> Value {
        let d = c.dossier;
        let date = |ms: Option<i64>| ms.map(national_date).unwrap_or_default();
        let done = d.status == DossierStatus::Done.as_str();
        let files: Vec<Value> = c
            .attachments
            .iter()
            .map(|(a, link)| {
                json!({
                    "TepDinhKemId": a.id.to_string(),
                    "TenTepDinhKem": a.file_name,
                    "IsDeleted": "False",
                    "MaThanhPhanHoSo": a.document_id.clone().unwrap_or_default(),
                    "DuongDanTaiTepTin": link,
                })
            })
            .collect();
        let results: Vec<Value> = d
            .result_name
            .iter()
            .map(|n| json!({ "TenGiayTo": n, "MaThanhPhanHoSo": "", "GiayToId": "", "DuongDanTepTinKetQua": "" }))
            .collect();
        let owed = dvc_domain::integration::fee_owed(
            d.fee_vnd,
            c.fees.payable_online,
            c.fees.paid.is_some(),
        );
        let mut record = json!({
            "MaHoSo": Self::code(c),
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
            "TrangThaiHoSo": self.status_code(&d.status, owed).to_string(),
            "NgayTra": if done { date(d.finished_at) } else { String::new() },
            "NgayKetThucXuLy": date(d.finished_at),
            "HinhThuc": "0",
            "KenhThucHien": c.channel.to_string(),
            "DonViXuLy": c.agency_name,
            "TaiLieuNop": files,
            "DanhSachTepDinhKemKhac": [],
            "DanhSachHoSoBoSung": [],
            "DanhSachGiayToKetQua": results,
        });
        if let Some(obj) = record.as_object_mut() {
            self.payment_members(c, obj);
        }
        record
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
            "MaHoSo": Self::code(c),
            "NguoiXuLy": e.actor_name.clone().unwrap_or_else(|| if e.actor == "citizen" { c.dossier.applicant_name.clone() } else { e.actor.clone() }),
            "ChucDanh": e.actor_title.clone().unwrap_or_default(),
            "ThoiDiemXuLy": national_date(e.at),
            "PhongBanXuLy": e.unit.clone().unwrap_or_else(|| c.agency_name.to_string()),
            "NoiDungXuLy": content,
            "TrangThai": self.status_code(&e.to_status, c.fees.owed_at_event).to_string(),
            "NgayBatDau": national_date(e.at),
            "NgayKetThucTheoQuyDinh": c.dossier.due_at.or(c.dossier.expected_at).map(national_date).unwrap_or_default(),
        })
    }
}
