//! Administrative procedures (thủ tục hành chính) and the public services built on them.
//!
//! A procedure carries every item of level-1 information required by TT 32/2017/TT-BTTTT
//! (steps, method, required documents with counts, processing time, who may apply, agency,
//! result, fees, legal basis), its online service level (1–4) and its class under
//! NĐ 42/2022/NĐ-CP (toàn trình / một phần). Procedures are data: see `catalog/` in the repository.

use crate::agency::{Agency, AgencyCode};
use crate::form::FormDefinition;
use serde::{Deserialize, Serialize};

/// Online service level under TT 32/2017/TT-BTTTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum ServiceLevel {
    L1 = 1,
    L2 = 2,
    L3 = 3,
    L4 = 4,
}

impl ServiceLevel {
    pub fn number(self) -> u8 {
        self as u8
    }
    /// Templates can be downloaded (level ≥ 2).
    pub fn has_templates(self) -> bool {
        self >= ServiceLevel::L2
    }
    /// The dossier can be filed online (level ≥ 3).
    pub fn online_submission(self) -> bool {
        self >= ServiceLevel::L3
    }
    /// Fees can be paid online and the result delivered online or by post (level 4).
    pub fn online_payment(self) -> bool {
        self >= ServiceLevel::L4
    }
    pub fn label(self) -> &'static str {
        match self {
            ServiceLevel::L1 => "Mức độ 1",
            ServiceLevel::L2 => "Mức độ 2",
            ServiceLevel::L3 => "Mức độ 3",
            ServiceLevel::L4 => "Mức độ 4",
        }
    }
    pub fn description(self) -> &'static str {
        match self {
            ServiceLevel::L1 => {
                "Cung cấp đầy đủ thông tin về thủ tục hành chính và văn bản liên quan."
            }
            ServiceLevel::L2 => {
                "Mức độ 1 và cho phép tải về các mẫu văn bản, tờ khai để hoàn thiện hồ sơ."
            }
            ServiceLevel::L3 => {
                "Mức độ 2 và cho phép điền, gửi hồ sơ trực tuyến; mọi trao đổi trong quá trình xử lý thực hiện trên mạng."
            }
            ServiceLevel::L4 => {
                "Mức độ 3 và cho phép thanh toán lệ phí trực tuyến; nhận kết quả trực tuyến hoặc qua bưu chính."
            }
        }
    }
}

impl TryFrom<u8> for ServiceLevel {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        match v {
            1 => Ok(Self::L1),
            2 => Ok(Self::L2),
            3 => Ok(Self::L3),
            4 => Ok(Self::L4),
            _ => Err(format!("mức độ phải từ 1 đến 4, không phải {v}")),
        }
    }
}

impl From<ServiceLevel> for u8 {
    fn from(v: ServiceLevel) -> u8 {
        v as u8
    }
}

/// Class of an online public service under NĐ 42/2022/NĐ-CP Điều 11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnlineClass {
    /// Toàn trình: the whole procedure, including the result, happens online (or by public post).
    ToanTrinh,
    /// Một phần: some steps need the citizen in person.
    MotPhan,
    /// Not offered online.
    None,
}

impl OnlineClass {
    pub fn label(self) -> &'static str {
        match self {
            OnlineClass::ToanTrinh => "Dịch vụ công trực tuyến toàn trình",
            OnlineClass::MotPhan => "Dịch vụ công trực tuyến một phần",
            OnlineClass::None => "Chưa cung cấp trực tuyến",
        }
    }
    pub fn slug(self) -> &'static str {
        match self {
            OnlineClass::ToanTrinh => "toan_trinh",
            OnlineClass::MotPhan => "mot_phan",
            OnlineClass::None => "none",
        }
    }
}

/// A channel (cách thức thực hiện) with its own time and fee text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Method {
    /// "Trực tiếp", "Trực tuyến", "Dịch vụ bưu chính".
    pub channel: String,
    pub time: String,
    pub fee: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// One required document (thành phần hồ sơ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredDocument {
    /// Stable identifier, used to tie an upload field of the form to this document.
    pub id: String,
    pub name: String,
    /// Number of originals (bản chính).
    #[serde(default)]
    pub originals: u32,
    /// Number of copies (bản sao).
    #[serde(default)]
    pub copies: u32,
    /// False for documents needed only in some cases ("trường hợp …").
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub note: Option<String>,
    /// The original must be presented (xuất trình) when the result is collected.
    #[serde(default)]
    pub bring_original: bool,
}

fn yes() -> bool {
    true
}

/// How long processing takes, in words for people and as a rule for the deadline calculator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingTime {
    /// The legal wording shown on the page.
    pub text: String,
    /// Working days allowed; 0 means the same working day.
    pub working_days: u32,
    /// Hour of the day (0–23) after which a receipt counts from the next working day, e.g. 15.
    #[serde(default)]
    pub cutoff_hour: Option<u8>,
    /// Lawful variants of the time limit (e.g. when verification is needed): more working days
    /// the officer may grant, with the legal ground. Granting one moves the appointment without
    /// making the dossier late.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<ExtraTime>,
}

/// A lawful extension of a procedure's time limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraTime {
    /// Working days added to the appointment (at most this many in total per dossier).
    pub working_days: u32,
    /// When it applies and on what legal ground, as the officer and the applicant read it.
    pub reason: String,
}

/// A fee or charge (phí, lệ phí).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    pub label: String,
    /// Amount in đồng; `None` when it is set case by case.
    #[serde(default)]
    pub amount_vnd: Option<u64>,
    /// Amount when filed online (often reduced or free); `None` when the same as `amount_vnd`.
    #[serde(default)]
    pub online_amount_vnd: Option<u64>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A legal text the procedure rests on (căn cứ pháp lý).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    /// E.g. "Luật Hộ tịch số 60/2014/QH13".
    pub number: String,
    pub title: String,
    /// Date of issue, `YYYY-MM-DD`, if known.
    #[serde(default)]
    pub issued: Option<String>,
}

/// A processing step of the back-office workflow (unit, role, share of the total time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowStep {
    pub name: String,
    /// Role that handles this step: `reception`, `specialist`, `leader`.
    pub role: String,
    /// Share of the total processing time, in percent.
    pub share_percent: u32,
}

/// An administrative procedure and the online service offered for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    /// National procedure code, e.g. `1.001193`.
    pub code: String,
    pub name: String,
    /// Field (lĩnh vực), e.g. "Hộ tịch".
    pub field: String,
    pub level: ServiceLevel,
    pub online_class: OnlineClass,
    /// Agency kind that implements it (matches [`Agency::kind`]), e.g. `xa`.
    pub implementing_kind: String,
    /// Who implements it, in words ("Ủy ban nhân dân cấp xã").
    pub implementing_agency: String,
    /// Who may apply (đối tượng thực hiện).
    pub applicants: String,
    /// Steps (trình tự thực hiện), in order.
    pub steps: Vec<String>,
    pub methods: Vec<Method>,
    pub documents: Vec<RequiredDocument>,
    /// Number of sets of documents (số lượng hồ sơ).
    #[serde(default = "one")]
    pub dossier_sets: u32,
    pub processing_time: ProcessingTime,
    pub fees: Vec<Fee>,
    /// A sentence on fees that vary by province or by channel.
    #[serde(default)]
    pub fee_note: Option<String>,
    /// The result (kết quả thực hiện).
    pub result: String,
    /// Conditions (yêu cầu, điều kiện); empty when there are none.
    #[serde(default)]
    pub conditions: Vec<String>,
    pub legal_basis: Vec<LegalBasis>,
    /// Template forms to download (level ≥ 2), by name; the printable blank form is generated
    /// from `form`.
    #[serde(default)]
    pub templates: Vec<String>,
    /// The online declaration (level ≥ 3).
    #[serde(default)]
    pub form: Option<FormDefinition>,
    /// Back-office processing steps; defaults apply when empty.
    #[serde(default)]
    pub workflow: Vec<WorkflowStep>,
    /// Where the facts come from.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Identification level of the electronic identity needed to file online when the portal
    /// requires sign-in (`DVC_LOGIN=required`): 2 asks for level 2 (Nghị định 69/2024/NĐ-CP);
    /// 0 or 1, any signed-in citizen.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub identity_level: u8,
}

fn one() -> u32 {
    1
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("tệp danh mục không đọc được: {0}")]
    Parse(String),
    #[error("thủ tục {code}: {problem}")]
    Invalid { code: String, problem: String },
}

/// The agencies file: `catalog/agencies.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgenciesFile {
    pub agencies: Vec<Agency>,
}

impl AgenciesFile {
    pub fn from_toml(text: &str) -> Result<Self, CatalogError> {
        toml::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))
    }
}

impl Procedure {
    pub fn from_toml(text: &str) -> Result<Self, CatalogError> {
        let p: Procedure = toml::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        p.check()?;
        Ok(p)
    }

    /// Checks the rules that serde cannot express.
    pub fn check(&self) -> Result<(), CatalogError> {
        let bad = |problem: String| CatalogError::Invalid {
            code: self.code.clone(),
            problem,
        };
        let code_ok = self.code.split('.').count() >= 2
            && self
                .code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.');
        if !code_ok {
            return Err(bad("mã thủ tục phải có dạng 1.001193".into()));
        }
        if self.level.online_submission() && self.form.is_none() {
            return Err(bad(
                "thủ tục mức độ 3 trở lên phải có biểu mẫu trực tuyến".into()
            ));
        }
        if let Some(form) = &self.form {
            form.check().map_err(|e| bad(e.to_string()))?;
            for f in form.fields() {
                if let Some(doc) = &f.document
                    && !self.documents.iter().any(|d| &d.id == doc)
                {
                    return Err(bad(format!(
                        "trường {} gắn với giấy tờ {doc} không có trong danh sách",
                        f.name
                    )));
                }
            }
        }
        let mut ids: Vec<&str> = self.documents.iter().map(|d| d.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("mã giấy tờ bị trùng".into()));
        }
        if !self.workflow.is_empty()
            && self.workflow.iter().map(|s| s.share_percent).sum::<u32>() != 100
        {
            return Err(bad(
                "tổng tỷ lệ thời gian các bước xử lý phải bằng 100".into()
            ));
        }
        if let Some(h) = self.processing_time.cutoff_hour
            && h > 23
        {
            return Err(bad("giờ chốt nhận hồ sơ phải từ 0 đến 23".into()));
        }
        for x in &self.processing_time.extra {
            if x.working_days == 0 || x.working_days > 60 {
                return Err(bad(
                    "thời gian kéo dài theo quy định phải từ 1 đến 60 ngày làm việc".into(),
                ));
            }
            if x.reason.trim().is_empty() {
                return Err(bad(
                    "mỗi trường hợp kéo dài thời hạn phải ghi rõ lý do, căn cứ".into(),
                ));
            }
        }
        Ok(())
    }

    /// Default workflow when the procedure does not define one:
    /// Tiếp nhận → Thụ lý → Phê duyệt → Trả kết quả.
    /// The online declaration as citizens fill it: the applicant block first, then the
    /// procedure's own sections; empty for a procedure without an online form.
    pub fn declaration(&self) -> crate::form::FormDefinition {
        self.form
            .as_ref()
            .map(|f| f.with_applicant())
            .unwrap_or(crate::form::FormDefinition {
                title: None,
                sections: vec![],
            })
    }

    /// The declaration an official fills in at the desk ([`FormDefinition::at_desk`]).
    pub fn desk_declaration(&self) -> crate::form::FormDefinition {
        self.declaration().at_desk()
    }

    /// The procedure's time limit as a deadline rule.
    pub fn deadline_rule(&self) -> crate::calendar::DeadlineRule {
        crate::calendar::DeadlineRule {
            working_days: self.processing_time.working_days,
            working_hours: 0,
            cutoff_hour: self.processing_time.cutoff_hour,
        }
    }

    pub fn effective_workflow(&self) -> Vec<WorkflowStep> {
        if !self.workflow.is_empty() {
            return self.workflow.clone();
        }
        vec![
            WorkflowStep {
                name: "Tiếp nhận".into(),
                role: "reception".into(),
                share_percent: 10,
            },
            WorkflowStep {
                name: "Thụ lý".into(),
                role: "specialist".into(),
                share_percent: 60,
            },
            WorkflowStep {
                name: "Phê duyệt".into(),
                role: "leader".into(),
                share_percent: 20,
            },
            WorkflowStep {
                name: "Trả kết quả".into(),
                role: "reception".into(),
                share_percent: 10,
            },
        ]
    }

    /// Text folded for search: name, code and field.
    pub fn search_text(&self) -> String {
        crate::text::fold(&format!("{} {} {}", self.name, self.code, self.field))
    }

    /// Documents whose originals the citizen must bring (or present) when collecting the result.
    /// None for a full-online (toàn trình) procedure: its result is electronic, nothing is
    /// collected at the desk.
    pub fn originals_to_bring(&self) -> Vec<&RequiredDocument> {
        if self.online_class == OnlineClass::ToanTrinh {
            return vec![];
        }
        self.documents
            .iter()
            .filter(|d| d.bring_original || d.originals > 0)
            .collect()
    }

    /// The agencies (of the given list) that implement this procedure.
    pub fn implementing_agencies<'a>(&self, agencies: &'a [Agency]) -> Vec<&'a Agency> {
        agencies
            .iter()
            .filter(|a| a.kind == self.implementing_kind)
            .collect()
    }

    pub fn is_implemented_by(&self, agency: &AgencyCode, agencies: &[Agency]) -> bool {
        agencies
            .iter()
            .any(|a| &a.code == agency && a.kind == self.implementing_kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_flags() {
        assert!(!ServiceLevel::L1.has_templates());
        assert!(ServiceLevel::L2.has_templates() && !ServiceLevel::L2.online_submission());
        assert!(ServiceLevel::L3.online_submission() && !ServiceLevel::L3.online_payment());
        assert!(ServiceLevel::L4.online_payment());
    }

    /// Every file of the shipped sample catalogue parses and passes the checks.
    #[test]
    fn sample_catalogue_is_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../catalog");
        let agencies = AgenciesFile::from_toml(
            &std::fs::read_to_string(format!("{dir}/agencies.toml")).expect("agencies.toml"),
        )
        .expect("agencies parse");
        assert!(agencies.agencies.iter().filter(|a| a.kind == "xa").count() >= 3);
        let mut count = 0;
        for entry in std::fs::read_dir(format!("{dir}/procedures")).expect("procedures dir") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            let p =
                Procedure::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                !p.implementing_agencies(&agencies.agencies).is_empty(),
                "{} has no agency",
                p.code
            );
            count += 1;
        }
        assert!(count >= 1);
    }
}
