//! The dossier lifecycle in one place.
//!
//! A [`Dossier`] is the state every action touches (status, appointment, paused time,
//! extensions, assignee, current step, result). [`decide`] is the only function that says what a
//! [`Command`] by an [`Actor`] does to it: it returns the events to record, or a typed
//! [`Refusal`] with a Vietnamese message. [`evolve`] applies an event; applying the events of a
//! decision gives the new dossier. Officials' actions and the citizen's (supplement, withdraw)
//! go through the same function; filing creates the dossier with [`file`].
//!
//! Pure: the caller passes `now`, the deadline policy and what it looked up (the assignee).

use crate::calendar::{DeadlinePolicy, format_vn_datetime};
use crate::dossier::{Action, Channel, DossierStatus, IllegalTransition, step_of, transition};
use crate::fees::PaymentTiming;
use crate::outcome::{Delivery, MAX_RATING_COMMENT, Rating};
use crate::payment::PaymentStatus;
use crate::staff::Role;
use serde::{Deserialize, Serialize};

/// A dossier as the workflow sees it. Times are UTC milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dossier {
    pub status: DossierStatus,
    /// Incremented by every recorded decision (optimistic concurrency).
    pub version: i64,
    /// Index into the procedure's workflow steps.
    pub step: usize,
    pub step_started_at: Option<i64>,
    pub submitted_at: i64,
    pub received_at: Option<i64>,
    /// Estimated result time shown at filing (before reception).
    pub expected_at: Option<i64>,
    /// The appointment (ngày hẹn trả kết quả) in force.
    pub due_at: Option<i64>,
    /// The appointment given at reception, moved only by lawful pauses (supplements), never by
    /// an apology: on-time status is judged against it.
    pub original_due_at: Option<i64>,
    /// Apologies with a new appointment issued so far.
    pub extension_count: i64,
    /// Working days of lawful extra time granted so far (moves both appointments).
    pub extra_working_days: i64,
    pub assignee_id: Option<i64>,
    /// Name of the unit holding the dossier.
    pub unit: Option<String>,
    pub supplement_count: i64,
    /// When the clock was paused (waiting for a supplement after reception).
    pub paused_at: Option<i64>,
    /// Where the dossier returns after the supplement.
    pub resume_status: Option<DossierStatus>,
    pub finished_at: Option<i64>,
    pub result: Option<ResultFile>,
    /// How the citizen chose to receive the result (fixed at filing).
    pub delivery: Delivery,
    /// The electronic result carries the agency's digital signature.
    pub result_signed: bool,
    /// The postal tracking number of a result sent by post.
    pub postal_tracking: Option<String>,
    /// The citizen's satisfaction, given once after the result.
    pub rating: Option<Rating>,
}

/// An electronic result already stored: its storage key and the file name shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultFile {
    pub key: String,
    pub name: String,
}

/// An official a dossier is handed to, as looked up by the caller (active, in the actor's
/// agencies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignee {
    pub id: i64,
    pub role: Role,
    pub name: String,
    pub title: String,
    /// Name of the assignee's unit.
    pub unit: String,
}

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The applicant (through the private link or, later, a signed-in account).
    Citizen,
    /// An official of the dossier's agency tree (the caller has checked the scope).
    Staff { id: i64, role: Role },
    /// The payment provider, through an answer whose signature the caller verified (IPN,
    /// `querydr`, `refund`).
    Gateway,
}

/// What an actor asks the workflow to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Receive,
    RequestSupplement {
        reason: String,
        missing: Vec<String>,
    },
    Refuse {
        reason: String,
    },
    Forward {
        to: Option<Assignee>,
        note: Option<String>,
    },
    SubmitForApproval {
        to: Option<Assignee>,
        note: Option<String>,
    },
    Approve,
    SendBack {
        to: Option<Assignee>,
        reason: String,
    },
    ReturnResult {
        result: Option<ResultFile>,
        /// The subject of the certificate the electronic result was signed with.
        signer: Option<String>,
        /// The postal tracking number, as typed (required with delivery by post).
        postal_tracking: Option<String>,
    },
    ApologiseAndExtend {
        reason: String,
        new_due_at: i64,
    },
    Stop {
        reason: String,
    },
    Supplement {
        files: Vec<String>,
        note: String,
    },
    Withdraw {
        reason: Option<String>,
    },
    /// The fee due at the result was collected at the one-stop desk; `receipt_number` is the
    /// number of the receipt (biên lai) handed to the citizen.
    CollectFee {
        receipt_number: String,
    },
    /// Grants the procedure's lawful extra time number `variant` (see [`Rules::extra_time`]).
    GrantExtraTime {
        variant: usize,
        note: Option<String>,
    },
    /// The citizen's satisfaction rating, once the result is returned.
    Rate {
        rating: Rating,
        comment: Option<String>,
    },
    /// A payment attempt changed state: started by the citizen (pending), or reported by the
    /// provider (paid, failed, cancelled, expired, refunded).
    RecordPayment {
        payment: PaymentFacts,
    },
}

/// A payment attempt as the timeline records it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PaymentFacts {
    #[serde(default)]
    pub status: crate::payment::PaymentStatus,
    /// `vnpay` (later the national portal's platform, PayGov).
    #[serde(default)]
    pub provider: String,
    /// The merchant reference sent to the provider (`vnp_TxnRef`).
    #[serde(default)]
    pub txn_ref: String,
    #[serde(default)]
    pub amount_vnd: u64,
    /// The provider's transaction number, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_code: Option<String>,
    /// The provider's response code (`vnp_ResponseCode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<String>,
}

impl Command {
    pub fn action(&self) -> Action {
        match self {
            Command::Receive => Action::Receive,
            Command::RequestSupplement { .. } => Action::RequestSupplement,
            Command::Refuse { .. } => Action::Refuse,
            Command::Forward { .. } => Action::Forward,
            Command::SubmitForApproval { .. } => Action::SubmitForApproval,
            Command::Approve => Action::Approve,
            Command::SendBack { .. } => Action::SendBack,
            Command::ReturnResult { .. } => Action::ReturnResult,
            Command::ApologiseAndExtend { .. } => Action::ApologiseAndExtend,
            Command::Stop { .. } => Action::Stop,
            Command::Supplement { .. } => Action::Supplement,
            Command::Withdraw { .. } => Action::Withdraw,
            Command::GrantExtraTime { .. } => Action::ExtraTime,
            Command::Rate { .. } => Action::Rate,
            Command::CollectFee { .. } => Action::CollectFee,
            Command::RecordPayment { payment } => {
                if payment.status == crate::payment::PaymentStatus::Paid {
                    Action::Pay
                } else {
                    Action::Payment
                }
            }
        }
    }
}

/// The procedure's and agency's rules a decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub deadline: &'a DeadlinePolicy<'a>,
    /// Number of workflow steps of the procedure.
    pub steps: usize,
    /// Full-online (toàn trình) procedures return an electronic result.
    pub electronic_result_required: bool,
    /// Apologies with a new appointment allowed per dossier.
    pub max_extensions: u32,
    /// Name of the receiving agency (the unit that holds a received dossier).
    pub agency_name: &'a str,
    /// The procedure's lawful variants of its time limit.
    pub extra_time: &'a [crate::catalog::ExtraTime],
    /// The dossier's fee as the caller read it, and when the procedure has it paid: a fee due
    /// at the result is settled (paid online or collected at the desk) before the result is
    /// handed over.
    pub fee: Fee,
}

/// A dossier's fee: when the procedure has it paid, the amount computed at filing (đồng) and
/// where its payment stands (the dossier's `payment_status`: paid online, collected at the desk,
/// an attempt's state, or `None` when no online payment was offered and nothing collected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fee {
    pub timing: PaymentTiming,
    pub amount_vnd: u64,
    pub payment: Option<PaymentStatus>,
}

impl Fee {
    /// From the stored fee (`fee_vnd`) and payment state (`payment_status`); an unknown state
    /// reads as not settled.
    pub fn stored(timing: PaymentTiming, fee_vnd: i64, payment_status: Option<&str>) -> Fee {
        Fee {
            timing,
            amount_vnd: u64::try_from(fee_vnd).unwrap_or(0),
            payment: payment_status.and_then(PaymentStatus::parse),
        }
    }
}

/// Why a command was refused; the message is shown as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The actor's role may not take this action (HTTP 403).
    #[error("{0}")]
    NotAllowed(String),
    /// Not legal in the dossier's current state (HTTP 409).
    #[error("{0}")]
    State(#[from] IllegalTransition),
    /// The command's data is missing or wrong (HTTP 422).
    #[error("{0}")]
    Invalid(String),
    /// Already done, and it may be done only once (HTTP 409).
    #[error("{0}")]
    Already(String),
    /// Not before the fee is settled, or not while a payment is being made (HTTP 409).
    #[error("{0}")]
    Unpaid(String),
}

/// One recorded fact of a dossier's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    /// `None` for the filing.
    pub from: Option<DossierStatus>,
    pub to: DossierStatus,
    /// The step the dossier is at after the event.
    pub step: usize,
    pub kind: EventKind,
}

/// What happened, with what it changed. Stored as its `action` name and its fields (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "details", rename_all = "snake_case")]
pub enum EventKind {
    /// Filed: online, or handed in at the desk or by post and registered by an official.
    File {
        #[serde(default)]
        expected_at: Option<i64>,
        /// Not stored for online filings (their rows predate the field).
        #[serde(default, skip_serializing_if = "Channel::is_online")]
        channel: Channel,
    },
    Receive {
        #[serde(default)]
        due_at: i64,
        #[serde(default)]
        unit: String,
    },
    RequestSupplement {
        #[serde(default)]
        reason: String,
        #[serde(default)]
        missing: Vec<String>,
        /// The clock stops (only once received).
        #[serde(default)]
        paused: bool,
        /// A second (or later) request: the dossier counts as late (QĐ 766/QĐ-TTg).
        #[serde(default)]
        counts_as_late: bool,
    },
    Supplement {
        #[serde(default)]
        files: Vec<String>,
        #[serde(default)]
        note: String,
        /// The appointment after adding the paused office time.
        #[serde(default)]
        due_at: Option<i64>,
    },
    Refuse {
        #[serde(default)]
        reason: String,
    },
    Forward {
        #[serde(default)]
        assignee: Option<Assignee>,
        #[serde(default)]
        note: Option<String>,
    },
    SubmitForApproval {
        #[serde(default)]
        assignee: Option<Assignee>,
        #[serde(default)]
        note: Option<String>,
    },
    Approve {},
    SendBack {
        #[serde(default)]
        assignee: Option<Assignee>,
        #[serde(default)]
        reason: String,
    },
    ReturnResult {
        #[serde(default)]
        result: Option<ResultFile>,
        /// The subject of the certificate that signed the electronic result.
        #[serde(default)]
        signer: Option<String>,
        /// The postal tracking number of a result sent by post.
        #[serde(default)]
        postal_tracking: Option<String>,
    },
    ApologiseAndExtend {
        #[serde(default)]
        reason: String,
        #[serde(default)]
        previous_due_at: Option<i64>,
        #[serde(default)]
        new_due_at: i64,
    },
    Stop {
        #[serde(default)]
        reason: String,
    },
    Withdraw {
        #[serde(default)]
        reason: Option<String>,
    },
    /// Lawful extra time: both appointments move; not lateness.
    ExtraTime {
        #[serde(default)]
        working_days: u32,
        /// The legal ground, from the procedure.
        #[serde(default)]
        reason: String,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        previous_due_at: Option<i64>,
        #[serde(default)]
        due_at: i64,
        #[serde(default)]
        original_due_at: Option<i64>,
    },
    /// The citizen's satisfaction rating.
    Rate {
        rating: Rating,
        #[serde(default)]
        comment: Option<String>,
    },
    /// The provider confirmed the fee paid; paid at filing, the dossier's clock starts now.
    Pay {
        #[serde(default)]
        payment: PaymentFacts,
        /// The estimated result time, from the payment (paid at filing).
        #[serde(default)]
        expected_at: Option<i64>,
    },
    /// A payment attempt changed state (other than paid).
    Payment {
        #[serde(default)]
        payment: PaymentFacts,
    },
    /// The fee due at the result was collected in cash at the one-stop desk.
    CollectFee {
        #[serde(default)]
        amount_vnd: u64,
        /// The number of the receipt (biên lai) handed to the citizen.
        #[serde(default)]
        receipt_number: String,
    },
}

impl EventKind {
    /// The stored action name.
    pub fn name(&self) -> &'static str {
        match self.action() {
            None => "file",
            Some(a) => a.as_str(),
        }
    }

    /// The workflow action, `None` for the filing.
    pub fn action(&self) -> Option<Action> {
        Some(match self {
            EventKind::File { .. } => return None,
            EventKind::Receive { .. } => Action::Receive,
            EventKind::RequestSupplement { .. } => Action::RequestSupplement,
            EventKind::Supplement { .. } => Action::Supplement,
            EventKind::Refuse { .. } => Action::Refuse,
            EventKind::Forward { .. } => Action::Forward,
            EventKind::SubmitForApproval { .. } => Action::SubmitForApproval,
            EventKind::Approve {} => Action::Approve,
            EventKind::SendBack { .. } => Action::SendBack,
            EventKind::ReturnResult { .. } => Action::ReturnResult,
            EventKind::ApologiseAndExtend { .. } => Action::ApologiseAndExtend,
            EventKind::Stop { .. } => Action::Stop,
            EventKind::Withdraw { .. } => Action::Withdraw,
            EventKind::ExtraTime { .. } => Action::ExtraTime,
            EventKind::Rate { .. } => Action::Rate,
            EventKind::Pay { .. } => Action::Pay,
            EventKind::Payment { .. } => Action::Payment,
            EventKind::CollectFee { .. } => Action::CollectFee,
        })
    }

    /// The reason an official or the citizen gave, if the event has one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            EventKind::RequestSupplement { reason, .. }
            | EventKind::Refuse { reason }
            | EventKind::SendBack { reason, .. }
            | EventKind::ApologiseAndExtend { reason, .. }
            | EventKind::Stop { reason }
            | EventKind::ExtraTime { reason, .. } => Some(reason),
            EventKind::Withdraw { reason } => reason.as_deref(),
            EventKind::Rate { comment, .. } => comment.as_deref(),
            _ => None,
        }
    }

    /// The fixed text the public status (lookup by code, public API) shows for this event: no
    /// reason, note, file name or other personal data, which only the private link, the e-mail
    /// and the back office show (see [`EventKind::note`]).
    pub fn public_text(&self) -> &'static str {
        match self {
            EventKind::File { channel, .. } => match channel {
                Channel::Online => "Hồ sơ đã được nộp trực tuyến",
                Channel::Desk => "Hồ sơ đã được nộp trực tiếp tại Bộ phận Một cửa",
                Channel::Post => "Hồ sơ gửi qua dịch vụ bưu chính công ích đã đến Bộ phận Một cửa",
            },
            EventKind::Receive { .. } => "Hồ sơ đã được tiếp nhận",
            EventKind::RequestSupplement { .. } => {
                "Cơ quan yêu cầu bổ sung hồ sơ; chi tiết đã gửi tới người nộp"
            }
            EventKind::Supplement { .. } => "Người nộp đã bổ sung hồ sơ",
            EventKind::Refuse { .. } => {
                "Cơ quan từ chối tiếp nhận hồ sơ; lý do đã gửi tới người nộp"
            }
            EventKind::Forward { .. } => "Hồ sơ được chuyển xử lý",
            EventKind::SubmitForApproval { .. } => "Hồ sơ được trình lãnh đạo phê duyệt",
            EventKind::Approve {} => "Lãnh đạo đã phê duyệt kết quả",
            EventKind::SendBack { .. } => "Lãnh đạo trả lại hồ sơ để xử lý tiếp",
            EventKind::ReturnResult { .. } => "Đã trả kết quả",
            EventKind::ApologiseAndExtend { .. } => {
                "Cơ quan xin lỗi và hẹn lại ngày trả kết quả; văn bản đã gửi tới người nộp"
            }
            EventKind::Stop { .. } => {
                "Cơ quan dừng giải quyết hồ sơ; căn cứ, lý do đã gửi tới người nộp"
            }
            EventKind::Withdraw { .. } => "Đã rút hồ sơ theo yêu cầu của người nộp",
            EventKind::ExtraTime { .. } => {
                "Thời hạn giải quyết được kéo dài theo quy định của thủ tục; ngày hẹn mới đã gửi tới người nộp"
            }
            EventKind::Rate { .. } => "Người nộp đã đánh giá mức độ hài lòng",
            EventKind::Pay { .. } => "Đã thanh toán phí, lệ phí trực tuyến",
            EventKind::Payment { .. } => "Cập nhật tình trạng thanh toán phí, lệ phí",
            EventKind::CollectFee { .. } => "Đã thu phí, lệ phí tại Bộ phận Một cửa",
        }
    }

    /// The note shown on the timeline (to the applicant and officials).
    pub fn note(&self) -> String {
        let who = |a: &Option<Assignee>, default: &str| {
            a.as_ref()
                .map(|s| format!("{} ({})", s.name, s.title))
                .unwrap_or_else(|| default.to_string())
        };
        match self {
            EventKind::File { channel, .. } => match channel {
                Channel::Online => "Công dân nộp hồ sơ trực tuyến.",
                Channel::Desk => "Công dân nộp hồ sơ trực tiếp tại Bộ phận Một cửa.",
                Channel::Post => "Hồ sơ được gửi qua dịch vụ bưu chính công ích.",
            }
            .into(),
            EventKind::Receive { due_at, .. } => format!(
                "Hồ sơ được tiếp nhận; hẹn trả kết quả {}.",
                format_vn_datetime(*due_at)
            ),
            EventKind::RequestSupplement {
                reason,
                missing,
                counts_as_late,
                ..
            } => format!(
                "Yêu cầu công dân bổ sung: {}. Lý do: {reason}{}",
                missing.join("; "),
                if *counts_as_late {
                    " (Yêu cầu bổ sung từ lần thứ hai: hồ sơ được tính là trễ hạn theo QĐ 766/QĐ-TTg.)"
                } else {
                    ""
                }
            ),
            EventKind::Supplement { files, .. } => format!(
                "Công dân đã bổ sung hồ sơ trực tuyến: {}.",
                files.join(", ")
            ),
            EventKind::Refuse { reason } => format!("Từ chối tiếp nhận. Lý do: {reason}"),
            EventKind::Forward { assignee, .. } => {
                format!("Chuyển xử lý cho {}.", who(assignee, "đơn vị xử lý"))
            }
            EventKind::SubmitForApproval { assignee, .. } => {
                format!("Trình {} phê duyệt.", who(assignee, "lãnh đạo"))
            }
            EventKind::Approve {} => "Lãnh đạo phê duyệt kết quả.".into(),
            EventKind::SendBack { reason, .. } => {
                format!("Lãnh đạo trả lại để xử lý tiếp. Lý do: {reason}")
            }
            EventKind::ReturnResult {
                result,
                signer,
                postal_tracking,
            } => {
                let electronic = match (result, signer) {
                    (Some(_), Some(s)) => Some(format!(
                        "Trả kết quả điện tử có chữ ký số của cơ quan ({s})."
                    )),
                    (Some(_), None) => Some("Trả kết quả điện tử.".to_string()),
                    _ => None,
                };
                let post = postal_tracking.as_ref().map(|t| {
                    format!("Gửi kết quả qua dịch vụ bưu chính công ích, số hiệu bưu gửi {t}.")
                });
                match (electronic, post) {
                    (Some(e), Some(p)) => format!("{e} {p}"),
                    (Some(e), None) => e,
                    (None, Some(p)) => p,
                    (None, None) => "Trả kết quả tại Bộ phận Một cửa.".into(),
                }
            }
            EventKind::Rate { rating, comment } => match comment {
                Some(c) => format!(
                    "Công dân đánh giá mức độ hài lòng: {}. Ý kiến: {c}",
                    rating.label()
                ),
                None => format!("Công dân đánh giá mức độ hài lòng: {}.", rating.label()),
            },
            EventKind::ApologiseAndExtend {
                reason, new_due_at, ..
            } => format!(
                "Xin lỗi công dân và gia hạn đến {}. Lý do: {reason}",
                format_vn_datetime(*new_due_at)
            ),
            EventKind::Stop { reason } => format!("Dừng giải quyết. Căn cứ, lý do: {reason}"),
            EventKind::ExtraTime {
                working_days,
                reason,
                note,
                due_at,
                ..
            } => format!(
                "Kéo dài thời hạn giải quyết thêm {working_days} ngày làm việc theo quy định ({reason}); ngày hẹn trả kết quả mới {}.{}",
                format_vn_datetime(*due_at),
                note.as_deref()
                    .map(|n| format!(" Ghi chú: {n}"))
                    .unwrap_or_default()
            ),
            EventKind::Withdraw { reason } => match reason {
                Some(r) => format!("Đã rút hồ sơ theo yêu cầu của người nộp. Lý do: {r}"),
                None => "Đã rút hồ sơ theo yêu cầu của người nộp.".into(),
            },
            EventKind::Pay { payment, .. } | EventKind::Payment { payment } => format!(
                "Thanh toán {} qua {} (mã giao dịch {}): {}.",
                crate::fees::format_vnd(payment.amount_vnd),
                provider_name(&payment.provider),
                payment.txn_ref,
                payment.status.label()
            ),
            EventKind::CollectFee {
                amount_vnd,
                receipt_number,
            } => format!(
                "Đã thu phí, lệ phí {} tại Bộ phận Một cửa, biên lai số {receipt_number}.",
                crate::fees::format_vnd(*amount_vnd)
            ),
        }
    }
}

/// The name of a payment provider as people read it.
pub fn provider_name(provider: &str) -> &str {
    match provider {
        "vnpay" => "VNPAY",
        other => other,
    }
}

/// A new dossier filed online at `now`, and its first event. With `awaiting_payment` (a fee due
/// at filing) it waits for the payment, with no estimated result time yet.
pub fn file(now: i64, expected_at: Option<i64>, awaiting_payment: bool) -> (Dossier, Event) {
    file_via(now, expected_at, awaiting_payment, Channel::Online)
}

/// A new dossier that reached the agency through `channel` at `now`, and its first event. A
/// dossier handed in at the desk or by post is then received at once ([`Command::Receive`]).
pub fn file_via(
    now: i64,
    expected_at: Option<i64>,
    awaiting_payment: bool,
    channel: Channel,
) -> (Dossier, Event) {
    let (status, expected_at) = if awaiting_payment {
        (DossierStatus::AwaitingPayment, None)
    } else {
        (DossierStatus::Submitted, expected_at)
    };
    let d = Dossier {
        status,
        version: 0,
        step: 0,
        step_started_at: None,
        submitted_at: now,
        received_at: None,
        expected_at,
        due_at: None,
        original_due_at: None,
        extension_count: 0,
        extra_working_days: 0,
        assignee_id: None,
        unit: None,
        supplement_count: 0,
        paused_at: None,
        resume_status: None,
        finished_at: None,
        result: None,
        delivery: Delivery::Desk,
        result_signed: false,
        postal_tracking: None,
        rating: None,
    };
    let e = Event {
        at: now,
        from: None,
        to: status,
        step: 0,
        kind: EventKind::File {
            expected_at,
            channel,
        },
    };
    (d, e)
}

fn non_empty(s: &str, message: &str) -> Result<String, Refusal> {
    let t = s.trim();
    if t.is_empty() {
        Err(Refusal::Invalid(message.to_string()))
    } else {
        Ok(t.to_string())
    }
}

/// Whether `actor` may take `action` at all (whatever the dossier's state).
pub fn may(actor: Actor, action: Action) -> bool {
    match actor {
        Actor::Citizen => matches!(
            action,
            Action::Supplement | Action::Withdraw | Action::Rate | Action::Payment
        ),
        Actor::Staff { role, .. } => role.may(action),
        Actor::Gateway => matches!(action, Action::Pay | Action::Payment),
    }
}

/// Actions only the official handling the dossier (its assignee) or a leader may take.
pub fn needs_assignee(action: Action) -> bool {
    matches!(action, Action::SubmitForApproval | Action::Stop)
}

/// Whether `actor` may take `action` on this dossier as far as who holds it goes: "Trình phê
/// duyệt" and "Dừng xử lý" only by its assignee or a leader.
pub fn check_assignee(d: &Dossier, actor: Actor, action: Action) -> Result<(), Refusal> {
    match actor {
        Actor::Staff { id, role }
            if needs_assignee(action) && role != Role::Leader && d.assignee_id != Some(id) =>
        {
            Err(Refusal::NotAllowed(format!(
                "Chỉ người đang được giao xử lý hồ sơ hoặc lãnh đạo được thực hiện thao tác “{}”. \
                 Đề nghị người được giao hoặc lãnh đạo thực hiện, hoặc chuyển hồ sơ cho bạn trước.",
                action.label()
            )))
        }
        _ => Ok(()),
    }
}

/// The fee still owed before the result may be handed over: the procedure's fee is due at the
/// result, the dossier's fee is not zero, and it is neither paid online nor collected at the
/// desk.
pub fn fee_due_at_result(fee: &Fee) -> Option<u64> {
    (fee.timing == PaymentTiming::AtResult
        && fee.amount_vnd > 0
        && !fee.payment.is_some_and(PaymentStatus::is_settled))
    .then_some(fee.amount_vnd)
}

/// Most characters of a receipt number.
pub const MAX_RECEIPT_NUMBER: usize = 50;

/// The receipt (biên lai) number as typed: trimmed, not empty, at most
/// [`MAX_RECEIPT_NUMBER`] letters, digits, spaces and `-/._:`.
pub fn parse_receipt_number(raw: &str) -> Result<String, Refusal> {
    let t = raw.trim();
    let ok = !t.is_empty()
        && t.chars().count() <= MAX_RECEIPT_NUMBER
        && t.chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "-/._:".contains(c));
    if ok {
        Ok(t.split_whitespace().collect::<Vec<_>>().join(" "))
    } else {
        Err(Refusal::Invalid(format!(
            "Nhập số biên lai thu phí, lệ phí đã giao cho công dân (tối đa {MAX_RECEIPT_NUMBER} ký tự: chữ, số, dấu cách và - / . _ :)."
        )))
    }
}

/// Decides what `cmd` by `actor` does to `d` at `now`: the events to record, or why not.
pub fn decide(
    d: &Dossier,
    cmd: &Command,
    actor: Actor,
    rules: &Rules<'_>,
    now: i64,
) -> Result<Vec<Event>, Refusal> {
    let action = cmd.action();
    if !may(actor, action) {
        return Err(Refusal::NotAllowed(match actor {
            Actor::Staff { role, .. } => format!(
                "Vai trò “{}” không được thực hiện thao tác “{}”.",
                role.label(),
                action.label()
            ),
            Actor::Citizen | Actor::Gateway => format!(
                "Thao tác “{}” chỉ do cán bộ có thẩm quyền thực hiện.",
                action.label()
            ),
        }));
    }
    let to = transition(d.status, action)?;
    check_assignee(d, actor, action)?;
    let kind = match cmd {
        Command::Receive => EventKind::Receive {
            due_at: rules.deadline.due(now),
            unit: rules.agency_name.to_string(),
        },
        Command::RequestSupplement { reason, missing } => {
            let reason = non_empty(
                reason,
                "Nhập lý do yêu cầu bổ sung, để công dân biết cần làm gì.",
            )?;
            let missing: Vec<String> = missing
                .iter()
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            if missing.is_empty() {
                return Err(Refusal::Invalid(
                    "Chọn hoặc ghi rõ ít nhất một giấy tờ cần bổ sung.".into(),
                ));
            }
            EventKind::RequestSupplement {
                reason,
                missing,
                paused: d.status != DossierStatus::Submitted,
                counts_as_late: d.supplement_count >= 1,
            }
        }
        Command::Refuse { reason } => EventKind::Refuse {
            reason: non_empty(reason, "Nhập lý do từ chối tiếp nhận hồ sơ.")?,
        },
        Command::Forward { to, note } => {
            let Some(a) = to else {
                return Err(Refusal::Invalid(
                    "Chọn người nhận hồ sơ để chuyển xử lý.".into(),
                ));
            };
            if !matches!(a.role, Role::Specialist | Role::Leader) {
                return Err(Refusal::Invalid(
                    "Chỉ chuyển hồ sơ cho chuyên viên thụ lý hoặc lãnh đạo của đơn vị. Chọn lại người nhận."
                        .into(),
                ));
            }
            EventKind::Forward {
                assignee: Some(a.clone()),
                note: note.clone(),
            }
        }
        Command::SubmitForApproval { to, note } => {
            if let Some(a) = to
                && a.role != Role::Leader
            {
                return Err(Refusal::Invalid(
                    "Chỉ trình lãnh đạo phê duyệt. Chọn lại người nhận.".into(),
                ));
            }
            EventKind::SubmitForApproval {
                assignee: to.clone(),
                note: note.clone(),
            }
        }
        Command::Approve => EventKind::Approve {},
        Command::SendBack { to, reason } => EventKind::SendBack {
            assignee: to.clone(),
            reason: non_empty(reason, "Nhập lý do trả lại để chuyên viên biết cần sửa gì.")?,
        },
        Command::ReturnResult {
            result,
            signer,
            postal_tracking,
        } => {
            if let Some(owed) = fee_due_at_result(&rules.fee) {
                let owed = crate::fees::format_vnd(owed);
                return Err(Refusal::Unpaid(
                    if rules.fee.payment == Some(PaymentStatus::Pending) {
                        format!(
                            "Chưa trả kết quả được: công dân đang thanh toán trực tuyến {owed} phí, lệ phí và giao dịch đang chờ kết quả từ tổ chức thanh toán. Vui lòng chờ kết quả giao dịch rồi trả kết quả."
                        )
                    } else {
                        format!(
                            "Chưa trả kết quả được: công dân chưa nộp {owed} phí, lệ phí phải nộp khi nhận kết quả. Đề nghị công dân thanh toán trực tuyến qua đường dẫn riêng của hồ sơ, hoặc thu tại Bộ phận Một cửa và ghi nhận “Đã thu phí tại Bộ phận Một cửa” kèm số biên lai, rồi trả kết quả."
                        )
                    },
                ));
            }
            if result.is_none() && rules.electronic_result_required {
                return Err(Refusal::Invalid(
                    "Dịch vụ toàn trình: tải lên bản điện tử của kết quả (PDF) trước khi trả kết quả."
                        .into(),
                ));
            }
            if result.is_none() && d.delivery == Delivery::Online {
                return Err(Refusal::Invalid(
                    "Công dân chọn nhận kết quả trực tuyến: tải lên bản điện tử của kết quả (PDF) để ký số và trả qua đường dẫn riêng."
                        .into(),
                ));
            }
            let postal_tracking = match d.delivery {
                Delivery::Post => Some(
                    crate::outcome::parse_tracking(postal_tracking.as_deref().unwrap_or(""))
                        .map_err(|m| Refusal::Invalid(m.to_string()))?,
                ),
                Delivery::Desk | Delivery::Online => None,
            };
            EventKind::ReturnResult {
                result: result.clone(),
                signer: signer.clone().filter(|_| result.is_some()),
                postal_tracking,
            }
        }
        Command::Rate { rating, comment } => {
            if d.rating.is_some() {
                return Err(Refusal::Already(
                    "Ông/Bà đã đánh giá mức độ hài lòng đối với hồ sơ này. Mỗi hồ sơ chỉ được đánh giá một lần; xin cảm ơn Ông/Bà đã góp ý."
                        .into(),
                ));
            }
            EventKind::Rate {
                rating: *rating,
                comment: comment
                    .as_deref()
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| c.chars().take(MAX_RATING_COMMENT).collect()),
            }
        }
        Command::ApologiseAndExtend { reason, new_due_at } => {
            let reason = non_empty(reason, "Nhập lý do chậm trễ để gửi văn bản xin lỗi.")?;
            if *new_due_at <= now {
                return Err(Refusal::Invalid(
                    "Ngày hẹn mới phải sau thời điểm hiện tại.".into(),
                ));
            }
            if let Some(due) = d.due_at
                && *new_due_at <= due
            {
                return Err(Refusal::Invalid(format!(
                    "Ngày hẹn mới phải sau ngày hẹn hiện tại ({}).",
                    format_vn_datetime(due)
                )));
            }
            if d.extension_count >= i64::from(rules.max_extensions) {
                return Err(Refusal::Invalid(format!(
                    "Hồ sơ đã được gia hạn {} lần, bằng số lần tối đa cho phép.",
                    d.extension_count
                )));
            }
            EventKind::ApologiseAndExtend {
                reason,
                previous_due_at: d.due_at,
                new_due_at: *new_due_at,
            }
        }
        Command::Stop { reason } => EventKind::Stop {
            reason: non_empty(reason, "Nhập căn cứ pháp lý và lý do dừng giải quyết.")?,
        },
        Command::Supplement { files, note } => {
            if files.is_empty() {
                return Err(Refusal::Invalid(
                    "Chọn ít nhất một tệp giấy tờ để bổ sung.".into(),
                ));
            }
            let due_at = match (d.paused_at, d.due_at) {
                (Some(paused), Some(due)) => {
                    Some(rules.deadline.extend_for_pause(due, paused, now))
                }
                _ => d.due_at,
            };
            EventKind::Supplement {
                files: files.clone(),
                note: note.clone(),
                due_at,
            }
        }
        Command::GrantExtraTime { variant, note } => {
            let Some(x) = rules.extra_time.get(*variant) else {
                return Err(Refusal::Invalid(
                    "Thủ tục này không có trường hợp kéo dài thời hạn đã chọn. Chọn lại trong danh sách."
                        .into(),
                ));
            };
            let most = rules
                .extra_time
                .iter()
                .map(|x| i64::from(x.working_days))
                .max()
                .unwrap_or(0);
            if d.extra_working_days + i64::from(x.working_days) > most {
                return Err(Refusal::Invalid(format!(
                    "Hồ sơ đã được kéo dài {} ngày làm việc; thủ tục chỉ cho phép kéo dài tối đa {most} ngày làm việc. Nếu vẫn chậm, dùng “Xin lỗi và gia hạn”.",
                    d.extra_working_days
                )));
            }
            let Some(due) = d.due_at else {
                return Err(Refusal::Invalid(
                    "Hồ sơ chưa có ngày hẹn trả kết quả: tiếp nhận hồ sơ trước.".into(),
                ));
            };
            EventKind::ExtraTime {
                working_days: x.working_days,
                reason: x.reason.clone(),
                note: note
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string),
                previous_due_at: Some(due),
                due_at: rules.deadline.add_working_days(due, x.working_days),
                original_due_at: d
                    .original_due_at
                    .map(|o| rules.deadline.add_working_days(o, x.working_days)),
            }
        }
        Command::CollectFee { receipt_number } => {
            let Some(owed) = fee_due_at_result(&rules.fee) else {
                return Err(Refusal::Already(
                    "Hồ sơ không còn khoản phí, lệ phí nào phải thu khi trả kết quả: đã thanh toán trực tuyến, đã thu tại Bộ phận Một cửa, hoặc thủ tục không thu phí khi trả kết quả."
                        .into(),
                ));
            };
            if rules.fee.payment == Some(PaymentStatus::Pending) {
                return Err(Refusal::Unpaid(
                    "Công dân đang thanh toán trực tuyến khoản phí, lệ phí này và giao dịch đang chờ kết quả từ tổ chức thanh toán. Chờ kết quả giao dịch trước khi thu tại Bộ phận Một cửa, để không thu hai lần."
                        .into(),
                ));
            }
            EventKind::CollectFee {
                amount_vnd: owed,
                receipt_number: parse_receipt_number(receipt_number)?,
            }
        }
        Command::RecordPayment { payment } => {
            use crate::payment::PaymentStatus as P;
            // The citizen only starts an attempt; every outcome comes from the provider.
            if actor == Actor::Citizen && payment.status != P::Pending {
                return Err(Refusal::NotAllowed(
                    "Kết quả thanh toán chỉ được ghi nhận theo thông báo của tổ chức thanh toán."
                        .into(),
                ));
            }
            if payment.txn_ref.is_empty() || payment.amount_vnd == 0 {
                return Err(Refusal::Invalid(
                    "Giao dịch thanh toán thiếu mã tham chiếu hoặc số tiền.".into(),
                ));
            }
            if payment.status == P::Pending && d.status.is_closed() {
                return Err(Refusal::State(crate::dossier::IllegalTransition {
                    from: d.status,
                    action,
                }));
            }
            match payment.status {
                P::Paid => EventKind::Pay {
                    payment: payment.clone(),
                    expected_at: (d.status == DossierStatus::AwaitingPayment)
                        .then(|| rules.deadline.due(now)),
                },
                _ => EventKind::Payment {
                    payment: payment.clone(),
                },
            }
        }
        Command::Withdraw { reason } => EventKind::Withdraw {
            reason: reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string),
        },
    };
    let to = match &kind {
        // Back to where it was when the supplement was asked for.
        EventKind::Supplement { .. } => crate::dossier::resume_after_supplement(d.resume_status),
        _ => to,
    };
    let step = match kind {
        // Asking for a supplement does not move the dossier to another step.
        EventKind::RequestSupplement { .. } => d.step,
        _ => step_of(to, rules.steps),
    };
    Ok(vec![Event {
        at: now,
        from: Some(d.status),
        to,
        step,
        kind,
    }])
}

/// The dossier after `e`.
pub fn evolve(d: &Dossier, e: &Event) -> Dossier {
    let mut n = d.clone();
    n.version += 1;
    n.status = e.to;
    if e.step != d.step {
        n.step = e.step;
        n.step_started_at = Some(e.at);
    }
    match &e.kind {
        EventKind::File { expected_at, .. } => {
            n.submitted_at = e.at;
            n.expected_at = *expected_at;
        }
        EventKind::Receive { due_at, unit } => {
            n.received_at = Some(e.at);
            n.due_at = Some(*due_at);
            n.original_due_at = Some(*due_at);
            n.unit = Some(unit.clone());
        }
        EventKind::RequestSupplement { paused, .. } => {
            n.supplement_count += 1;
            n.resume_status = e.from;
            if *paused {
                n.paused_at = Some(e.at);
            }
        }
        EventKind::Supplement { due_at, .. } => {
            // The paused office time is added to both appointments: a lawful pause is not
            // lateness.
            if let (Some(new), Some(old)) = (due_at, d.due_at) {
                let shift = new - old;
                n.due_at = Some(*new);
                n.original_due_at = d.original_due_at.map(|o| o + shift);
            }
            n.paused_at = None;
            n.resume_status = None;
        }
        EventKind::Refuse { .. } | EventKind::Stop { .. } | EventKind::Withdraw { .. } => {
            n.finished_at = Some(e.at);
            n.paused_at = None;
            n.resume_status = None;
        }
        EventKind::Forward { assignee, .. } => {
            if let Some(a) = assignee {
                n.assignee_id = Some(a.id);
                n.unit = Some(a.unit.clone());
            }
        }
        EventKind::SubmitForApproval { assignee, .. } => {
            n.assignee_id = assignee.as_ref().map(|a| a.id);
            if let Some(a) = assignee {
                n.unit = Some(a.unit.clone());
            }
        }
        EventKind::SendBack { assignee, .. } => {
            if let Some(a) = assignee {
                n.assignee_id = Some(a.id);
                n.unit = Some(a.unit.clone());
            }
        }
        EventKind::Approve {} => n.assignee_id = None,
        EventKind::ReturnResult {
            result,
            signer,
            postal_tracking,
        } => {
            n.finished_at = Some(e.at);
            n.assignee_id = None;
            n.result = result.clone();
            n.result_signed = result.is_some() && signer.is_some();
            n.postal_tracking = postal_tracking.clone();
        }
        EventKind::Rate { rating, .. } => n.rating = Some(*rating),
        EventKind::ApologiseAndExtend { new_due_at, .. } => {
            n.due_at = Some(*new_due_at);
            n.extension_count += 1;
        }
        EventKind::Pay { expected_at, .. } => {
            if let Some(x) = expected_at {
                n.expected_at = Some(*x);
            }
        }
        // The fee's state is the caller's to store (the dossier's `payment_status`).
        EventKind::Payment { .. } | EventKind::CollectFee { .. } => {}
        EventKind::ExtraTime {
            working_days,
            due_at,
            original_due_at,
            ..
        } => {
            // Lawful extra time is not lateness: the appointment on-time status is judged
            // against moves too.
            n.due_at = Some(*due_at);
            n.original_due_at = original_due_at.or(Some(*due_at));
            n.extra_working_days += i64::from(*working_days);
        }
    }
    n
}

/// Whether the dossier is (or finished) on time (QĐ 766 operational rule): judged against the
/// appointment given at reception (moved only by lawful pauses), and a second supplement request
/// makes it late.
///
/// The clock stops while the dossier waits for a supplement: it is judged at the moment the
/// clock stopped, so time passing while paused never makes it late. Waiting for a supplement
/// before reception, no appointment runs yet: only the supplement count counts.
pub fn on_time(d: &Dossier, now: i64) -> bool {
    let due = d.original_due_at.or(d.due_at).or(d.expected_at);
    let (due, at) = match (d.finished_at, d.paused_at) {
        (Some(f), _) => (due, f),
        (None, Some(p)) => (due, p),
        (None, None) if d.status == DossierStatus::AwaitingSupplement => (None, now),
        (None, None) => (due, now),
    };
    crate::dossier::on_time(due, at, d.supplement_count)
}

/// Where a dossier stands against its appointment, as the status page, the API and the back
/// office show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    OnTime,
    Late,
    /// Waiting for the applicant: the clock is stopped, never shown as late.
    AwaitingSupplement,
}

impl Progress {
    pub fn as_str(self) -> &'static str {
        match self {
            Progress::OnTime => "on_time",
            Progress::Late => "late",
            Progress::AwaitingSupplement => "awaiting_supplement",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Progress::OnTime => "Trong hạn",
            Progress::Late => "Quá hạn",
            Progress::AwaitingSupplement => "Chờ bổ sung",
        }
    }
}

/// The progress of `d` at `now`: "Chờ bổ sung" while waiting for the applicant, else on time or
/// late by [`on_time`].
pub fn progress(d: &Dossier, now: i64) -> Progress {
    if d.status == DossierStatus::AwaitingSupplement {
        Progress::AwaitingSupplement
    } else if on_time(d, now) {
        Progress::OnTime
    } else {
        Progress::Late
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{DeadlineRule, WorkWeek, WorkingCalendar};
    use proptest::prelude::*;

    const T0: i64 = 1_780_000_000_000; // 2026-05-28

    static EXTRA: std::sync::LazyLock<Vec<crate::catalog::ExtraTime>> =
        std::sync::LazyLock::new(|| {
            vec![crate::catalog::ExtraTime {
                working_days: 5,
                reason: "Cần xác minh".into(),
            }]
        });

    fn rules_with<'a>(policy: &'a DeadlinePolicy<'a>) -> Rules<'a> {
        Rules {
            deadline: policy,
            steps: 4,
            electronic_result_required: false,
            max_extensions: 1,
            agency_name: "UBND xã",
            extra_time: &EXTRA,
            fee: Fee::default(),
        }
    }

    fn staff(role: Role, id: i64) -> Actor {
        Actor::Staff { id, role }
    }

    fn person(id: i64, role: Role) -> Assignee {
        Assignee {
            id,
            role,
            name: format!("Cán bộ {id}"),
            title: "Chuyên viên".into(),
            unit: "Phòng".into(),
        }
    }

    fn run(d: &Dossier, cmd: Command, actor: Actor, now: i64) -> Result<Dossier, Refusal> {
        let cal = WorkingCalendar::shipped();
        let policy = DeadlinePolicy::new(&cal, WorkWeek::default(), DeadlineRule::days(3));
        let rules = rules_with(&policy);
        let events = decide(d, &cmd, actor, &rules, now)?;
        Ok(events.iter().fold(d.clone(), |d, e| evolve(&d, e)))
    }

    /// A dossier through to "Đã có kết quả, chờ trả", delivered as `delivery`.
    fn ready(delivery: Delivery) -> Dossier {
        let (mut d2, _) = file(T0, None, false);
        d2.delivery = delivery;
        let d2 = run(&d2, Command::Receive, staff(Role::Reception, 1), T0).expect("receive");
        let d2 = run(
            &d2,
            Command::Forward {
                to: Some(person(2, Role::Specialist)),
                note: None,
            },
            staff(Role::Reception, 1),
            T0 + 1,
        )
        .expect("forward");
        let d2 = run(
            &d2,
            Command::SubmitForApproval {
                to: None,
                note: None,
            },
            staff(Role::Specialist, 2),
            T0 + 2,
        )
        .expect("submit");
        run(&d2, Command::Approve, staff(Role::Leader, 9), T0 + 3).expect("approve")
    }

    fn return_result(
        d: &Dossier,
        result: bool,
        tracking: Option<&str>,
    ) -> Result<Dossier, Refusal> {
        run(
            d,
            Command::ReturnResult {
                result: result.then(|| ResultFile {
                    key: "k".into(),
                    name: "ket-qua.pdf".into(),
                }),
                signer: Some("CN=UBND xã".into()),
                postal_tracking: tracking.map(str::to_string),
            },
            staff(Role::Reception, 1),
            T0 + 4,
        )
    }

    #[test]
    fn delivery_rules_at_return() {
        // By post: the tracking number is required and normalised.
        let post = ready(Delivery::Post);
        assert!(matches!(
            return_result(&post, false, None),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            return_result(&post, false, Some("abc")),
            Err(Refusal::Invalid(_))
        ));
        let done = return_result(&post, false, Some("eb 123456789 vn")).expect("posted");
        assert_eq!(done.postal_tracking.as_deref(), Some("EB123456789VN"));
        assert!(!done.result_signed);
        // Online: the electronic result is required; signed when a signer is named.
        let online = ready(Delivery::Online);
        assert!(matches!(
            return_result(&online, false, None),
            Err(Refusal::Invalid(_))
        ));
        let done = return_result(&online, true, Some("EB123456789VN")).expect("online");
        assert!(done.result_signed);
        assert_eq!(
            done.postal_tracking, None,
            "no tracking number without post"
        );
        // At the desk: nothing more is needed.
        let desk = return_result(&ready(Delivery::Desk), false, None).expect("desk");
        assert_eq!(desk.status, DossierStatus::Done);
    }

    #[test]
    fn a_rating_once_by_the_citizen_after_the_result() {
        let d = ready(Delivery::Desk);
        let rate = |comment: Option<&str>| Command::Rate {
            rating: Rating::Satisfied,
            comment: comment.map(str::to_string),
        };
        // Not before the result.
        assert!(matches!(
            run(&d, rate(None), Actor::Citizen, T0 + 5),
            Err(Refusal::State(_))
        ));
        let done = return_result(&d, false, None).expect("return");
        // Not by an official.
        assert!(matches!(
            run(&done, rate(None), staff(Role::Reception, 1), T0 + 5),
            Err(Refusal::NotAllowed(_))
        ));
        let rated = run(
            &done,
            rate(Some("  Nhanh, chu đáo  ")),
            Actor::Citizen,
            T0 + 5,
        )
        .expect("rate");
        assert_eq!(rated.rating, Some(Rating::Satisfied));
        assert_eq!(rated.status, DossierStatus::Done);
        assert_eq!(rated.finished_at, done.finished_at);
        // Once.
        assert!(matches!(
            run(&rated, rate(None), Actor::Citizen, T0 + 6),
            Err(Refusal::Already(_))
        ));
    }

    #[test]
    fn happy_path_and_refusals() {
        let (d, _) = file(T0, None, false);
        let d = run(&d, Command::Receive, staff(Role::Reception, 1), T0 + 1).expect("receive");
        assert_eq!(d.status, DossierStatus::Received);
        assert!(d.due_at.is_some_and(|due| due > T0));
        assert_eq!(d.original_due_at, d.due_at);
        assert_eq!(d.version, 1);
        // A specialist may not approve.
        let r = run(&d, Command::Approve, staff(Role::Specialist, 2), T0 + 2);
        assert!(matches!(r, Err(Refusal::NotAllowed(_))));
        // Forward to a reception officer is refused.
        let r = run(
            &d,
            Command::Forward {
                to: Some(person(3, Role::Reception)),
                note: None,
            },
            staff(Role::Reception, 1),
            T0 + 2,
        );
        assert!(matches!(r, Err(Refusal::Invalid(_))));
        let d = run(
            &d,
            Command::Forward {
                to: Some(person(2, Role::Specialist)),
                note: None,
            },
            staff(Role::Reception, 1),
            T0 + 3,
        )
        .expect("forward");
        assert_eq!(d.assignee_id, Some(2));
        let extended = run(
            &d,
            Command::ApologiseAndExtend {
                reason: "Cần xác minh".into(),
                new_due_at: d.due_at.unwrap_or(0) + 86_400_000,
            },
            staff(Role::Specialist, 2),
            T0 + 4,
        )
        .expect("extend");
        assert_eq!(extended.original_due_at, d.original_due_at);
        assert_eq!(extended.extension_count, 1);
        // A second extension is over the limit; an earlier date is refused.
        let again = run(
            &extended,
            Command::ApologiseAndExtend {
                reason: "Lần nữa".into(),
                new_due_at: extended.due_at.unwrap_or(0) + 86_400_000,
            },
            staff(Role::Specialist, 2),
            T0 + 5,
        );
        assert!(matches!(again, Err(Refusal::Invalid(_))));
        let earlier = run(
            &d,
            Command::ApologiseAndExtend {
                reason: "Sớm hơn".into(),
                new_due_at: d.due_at.unwrap_or(0) - 1,
            },
            staff(Role::Specialist, 2),
            T0 + 5,
        );
        assert!(matches!(earlier, Err(Refusal::Invalid(_))));
        // The citizen cannot receive.
        let (fresh, _) = file(T0, None, false);
        assert!(matches!(
            run(&fresh, Command::Receive, Actor::Citizen, T0),
            Err(Refusal::NotAllowed(_))
        ));
    }

    #[test]
    fn supplement_resumes_and_moves_both_appointments_by_the_pause() {
        let (d, _) = file(T0, None, false);
        let d = run(&d, Command::Receive, staff(Role::Reception, 1), T0).expect("receive");
        let asked = run(
            &d,
            Command::RequestSupplement {
                reason: "Thiếu giấy".into(),
                missing: vec!["Tờ khai".into()],
            },
            staff(Role::Reception, 1),
            T0 + 1000,
        )
        .expect("request");
        assert_eq!(asked.status, DossierStatus::AwaitingSupplement);
        assert_eq!(asked.paused_at, Some(T0 + 1000));
        let back = run(
            &asked,
            Command::Supplement {
                files: vec!["a.pdf".into()],
                note: String::new(),
            },
            Actor::Citizen,
            T0 + 3 * 86_400_000,
        )
        .expect("supplement");
        assert_eq!(back.status, DossierStatus::Received);
        assert_eq!(back.paused_at, None);
        let shift = back.due_at.unwrap_or(0) - d.due_at.unwrap_or(0);
        assert!(shift >= 0);
        assert_eq!(
            back.original_due_at.unwrap_or(0) - d.original_due_at.unwrap_or(0),
            shift
        );
    }

    #[test]
    fn a_paused_clock_never_makes_a_dossier_late_and_a_second_request_does() {
        let (d, _) = file(T0, None, false);
        let d = run(&d, Command::Receive, staff(Role::Reception, 1), T0).expect("receive");
        let due = d.due_at.unwrap_or(0);
        let ask = |d: &Dossier, at: i64| {
            run(
                d,
                Command::RequestSupplement {
                    reason: "Thiếu giấy".into(),
                    missing: vec!["Tờ khai".into()],
                },
                staff(Role::Reception, 1),
                at,
            )
        };
        let asked = ask(&d, T0 + 1000).expect("request");
        // Long after the appointment, still waiting: not late, and shown as waiting.
        let later = due + 30 * 86_400_000;
        assert!(on_time(&asked, later));
        assert_eq!(progress(&asked, later), Progress::AwaitingSupplement);
        // Before reception, too.
        let (fresh, _) = file(T0, Some(T0 + 86_400_000), false);
        let early = ask(&fresh, T0 + 1).expect("request before reception");
        assert!(on_time(&early, later));
        // Supplemented, then asked again: allowed, marked, and late by QĐ 766.
        let back = run(
            &asked,
            Command::Supplement {
                files: vec!["a.pdf".into()],
                note: String::new(),
            },
            Actor::Citizen,
            T0 + 2000,
        )
        .expect("supplement");
        assert!(on_time(&back, T0 + 3000));
        let cal = WorkingCalendar::shipped();
        let policy = DeadlinePolicy::new(&cal, WorkWeek::default(), DeadlineRule::days(3));
        let second = decide(
            &back,
            &Command::RequestSupplement {
                reason: "Lần hai".into(),
                missing: vec!["Tờ khai".into()],
            },
            staff(Role::Reception, 1),
            &rules_with(&policy),
            T0 + 4000,
        )
        .expect("second request");
        assert!(matches!(
            second[0].kind,
            EventKind::RequestSupplement {
                counts_as_late: true,
                ..
            }
        ));
        assert!(second[0].kind.note().contains("QĐ 766"));
        let again = evolve(&back, &second[0]);
        assert!(!on_time(&again, T0 + 5000));
        assert_eq!(progress(&again, T0 + 5000), Progress::AwaitingSupplement);
    }

    #[test]
    fn only_the_assignee_or_a_leader_submits_for_approval_or_stops() {
        let (d, _) = file(T0, None, false);
        let d = run(&d, Command::Receive, staff(Role::Reception, 1), T0).expect("receive");
        let leader = Assignee {
            title: "Chủ tịch".into(),
            ..person(9, Role::Leader)
        };
        let submit = || Command::SubmitForApproval {
            to: Some(leader.clone()),
            note: None,
        };
        let stop = || Command::Stop {
            reason: "Căn cứ".into(),
        };
        // Nobody holds it yet: no specialist may, a leader may.
        assert!(matches!(
            run(&d, submit(), staff(Role::Specialist, 2), T0 + 1),
            Err(Refusal::NotAllowed(_))
        ));
        assert!(run(&d, stop(), staff(Role::Leader, 9), T0 + 1).is_ok());
        let held = run(
            &d,
            Command::Forward {
                to: Some(person(2, Role::Specialist)),
                note: None,
            },
            staff(Role::Reception, 1),
            T0 + 2,
        )
        .expect("forward");
        for cmd in [submit(), stop()] {
            assert!(matches!(
                run(&held, cmd.clone(), staff(Role::Specialist, 3), T0 + 3),
                Err(Refusal::NotAllowed(_))
            ));
            assert!(run(&held, cmd, staff(Role::Specialist, 2), T0 + 3).is_ok());
        }
        // A leader stops a dossier held by someone else (and by role never submits).
        assert!(run(&held, stop(), staff(Role::Leader, 8), T0 + 3).is_ok());
    }

    #[test]
    fn lawful_extra_time_is_not_lateness_and_an_apology_is() {
        let (d, _) = file(T0, None, false);
        let d = run(&d, Command::Receive, staff(Role::Reception, 1), T0).expect("receive");
        let due = d.due_at.unwrap_or(0);
        let extra = run(
            &d,
            Command::GrantExtraTime {
                variant: 0,
                note: Some("Xác minh nơi cư trú".into()),
            },
            staff(Role::Specialist, 2),
            T0 + 1,
        )
        .expect("extra time");
        let new_due = extra.due_at.unwrap_or(0);
        assert!(new_due > due + 4 * 86_400_000, "five working days later");
        assert_eq!(extra.original_due_at, extra.due_at);
        assert_eq!(extra.extra_working_days, 5);
        let apology = run(
            &d,
            Command::ApologiseAndExtend {
                reason: "Chậm".into(),
                new_due_at: new_due,
            },
            staff(Role::Specialist, 2),
            T0 + 1,
        )
        .expect("apology");
        assert_eq!(apology.due_at, extra.due_at);
        // Finished between the old and the new appointment: on time with lawful extra time,
        // late after an apology.
        let between = due + 3_600_000;
        assert!(on_time(&extra, between));
        assert!(!on_time(&apology, between));
        // Granted once up to the procedure's most; an unknown variant is refused.
        for (dossier, variant) in [(&extra, 0), (&d, 7)] {
            assert!(matches!(
                run(
                    dossier,
                    Command::GrantExtraTime {
                        variant,
                        note: None
                    },
                    staff(Role::Specialist, 2),
                    T0 + 2,
                ),
                Err(Refusal::Invalid(_))
            ));
        }
        // Not before reception, and not by a leader.
        let (fresh, _) = file(T0, None, false);
        let cmd = Command::GrantExtraTime {
            variant: 0,
            note: None,
        };
        assert!(matches!(
            run(&fresh, cmd.clone(), staff(Role::Reception, 1), T0),
            Err(Refusal::State(_))
        ));
        assert!(matches!(
            run(&d, cmd, staff(Role::Leader, 3), T0),
            Err(Refusal::NotAllowed(_))
        ));
    }

    fn facts(status: crate::payment::PaymentStatus) -> PaymentFacts {
        PaymentFacts {
            status,
            provider: "vnpay".into(),
            txn_ref: "T1".into(),
            amount_vnd: 10_000,
            ..PaymentFacts::default()
        }
    }

    #[test]
    fn a_dossier_owing_a_fee_waits_for_the_provider_and_its_clock_starts_when_paid() {
        use crate::payment::PaymentStatus as P;
        let (d, e) = file(T0, Some(T0 + 86_400_000), true);
        assert_eq!(
            (d.status, e.to),
            (
                DossierStatus::AwaitingPayment,
                DossierStatus::AwaitingPayment
            )
        );
        assert_eq!(d.expected_at, None);
        // Nobody processes it before it is paid.
        assert!(matches!(
            run(&d, Command::Receive, staff(Role::Reception, 1), T0 + 1),
            Err(Refusal::State(_))
        ));
        let pay = |s| Command::RecordPayment { payment: facts(s) };
        // The citizen starts an attempt, but never reports its outcome.
        let started = run(&d, pay(P::Pending), Actor::Citizen, T0 + 2).expect("pending");
        assert_eq!(started.status, DossierStatus::AwaitingPayment);
        for s in [P::Paid, P::Failed, P::Refunded] {
            assert!(matches!(
                run(&started, pay(s), Actor::Citizen, T0 + 3),
                Err(Refusal::NotAllowed(_))
            ));
        }
        // Officials neither.
        assert!(matches!(
            run(&started, pay(P::Paid), staff(Role::Reception, 1), T0 + 3),
            Err(Refusal::NotAllowed(_))
        ));
        let failed = run(&started, pay(P::Failed), Actor::Gateway, T0 + 4).expect("failed");
        assert_eq!(failed.status, DossierStatus::AwaitingPayment);
        let paid_at = T0 + 10 * 86_400_000;
        let paid = run(&failed, pay(P::Paid), Actor::Gateway, paid_at).expect("paid");
        assert_eq!(paid.status, DossierStatus::Submitted);
        assert!(
            paid.expected_at.is_some_and(|x| x > paid_at),
            "the clock starts at payment"
        );
        let received = run(
            &paid,
            Command::Receive,
            staff(Role::Reception, 1),
            paid_at + 1,
        )
        .expect("receive");
        // Paid at the result: the state stays; a refund after a refusal is recorded.
        let again = run(&received, pay(P::Paid), Actor::Gateway, paid_at + 2).expect("paid later");
        assert_eq!(again.status, DossierStatus::Received);
        let refused = run(
            &paid,
            Command::Refuse {
                reason: "Sai thẩm quyền".into(),
            },
            staff(Role::Reception, 1),
            paid_at + 3,
        )
        .expect("refuse");
        let refunded =
            run(&refused, pay(P::Refunded), Actor::Gateway, paid_at + 4).expect("refund");
        assert_eq!(refunded.status, DossierStatus::Refused);
        assert!(matches!(
            run(&refused, pay(P::Pending), Actor::Citizen, paid_at + 5),
            Err(Refusal::State(_))
        ));
        // The public text says nothing of the transaction.
        let k = EventKind::Pay {
            payment: facts(P::Paid),
            expected_at: None,
        };
        assert!(!k.public_text().contains("T1") && k.note().contains("T1"));
        let json = serde_json::to_string(&k).expect("json");
        assert_eq!(serde_json::from_str::<EventKind>(&json).expect("back"), k);
    }

    #[test]
    fn a_fee_due_at_the_result_is_paid_or_collected_at_the_desk_before_the_result_is_handed_over() {
        use crate::payment::PaymentStatus as P;
        let d = ready(Delivery::Desk);
        let cal = WorkingCalendar::shipped();
        let policy = DeadlinePolicy::new(&cal, WorkWeek::default(), DeadlineRule::days(3));
        // Decides `cmd` on `d` with the dossier's fee in state `payment`.
        let with = |d: &Dossier, cmd: Command, actor: Actor, payment: Option<P>| {
            let mut rules = rules_with(&policy);
            rules.fee = Fee {
                timing: PaymentTiming::AtResult,
                amount_vnd: 24_000,
                payment,
            };
            decide(d, &cmd, actor, &rules, T0 + 10)
                .map(|events| (events.iter().fold(d.clone(), |d, e| evolve(&d, e)), events))
        };
        let reception = staff(Role::Reception, 1);
        let give = || Command::ReturnResult {
            result: None,
            signer: None,
            postal_tracking: None,
        };
        // Unpaid: "Trả kết quả" is refused, saying what is owed and what to do.
        for unpaid in [None, Some(P::Created), Some(P::Failed), Some(P::Cancelled)] {
            match with(&d, give(), reception, unpaid) {
                Err(Refusal::Unpaid(m)) => {
                    assert!(m.contains("24.000 đồng"), "{m}");
                    assert!(m.contains("Đã thu phí tại Bộ phận Một cửa"), "{m}");
                }
                other => panic!("{unpaid:?}: {other:?}"),
            }
        }
        // Paid online or collected: handed over.
        for settled in [P::Paid, P::Collected] {
            let (done, _) = with(&d, give(), reception, Some(settled)).expect("return");
            assert_eq!(done.status, DossierStatus::Done);
        }
        // While an online attempt is pending: neither the result nor the desk.
        let collect = |n: &str| Command::CollectFee {
            receipt_number: n.into(),
        };
        assert!(matches!(
            with(&d, give(), reception, Some(P::Pending)),
            Err(Refusal::Unpaid(m)) if m.contains("đang thanh toán")
        ));
        assert!(matches!(
            with(&d, collect("BL-1"), reception, Some(P::Pending)),
            Err(Refusal::Unpaid(_))
        ));
        // Fees due at filing, or none: nothing to settle at the result.
        let fee = |timing, amount_vnd| Fee {
            timing,
            amount_vnd,
            payment: None,
        };
        assert_eq!(
            fee_due_at_result(&fee(PaymentTiming::AtResult, 24_000)),
            Some(24_000)
        );
        assert_eq!(
            fee_due_at_result(&fee(PaymentTiming::AtFiling, 24_000)),
            None
        );
        assert_eq!(fee_due_at_result(&fee(PaymentTiming::None, 24_000)), None);
        assert_eq!(fee_due_at_result(&fee(PaymentTiming::AtResult, 0)), None);
        assert_eq!(
            Fee::stored(PaymentTiming::AtResult, 8_000, Some("collected")).payment,
            Some(P::Collected)
        );
        // Collected at the desk: only the one-stop desk, with a receipt number, once.
        for who in [
            staff(Role::Specialist, 2),
            staff(Role::Leader, 9),
            Actor::Citizen,
        ] {
            assert!(matches!(
                with(&d, collect("BL-1"), who, None),
                Err(Refusal::NotAllowed(_))
            ));
        }
        let long = "9".repeat(MAX_RECEIPT_NUMBER + 1);
        for bad in ["", "   ", "<script>", long.as_str()] {
            assert!(
                matches!(
                    with(&d, collect(bad), reception, None),
                    Err(Refusal::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        let (collected, events) = with(
            &d,
            collect("  Ký hiệu 1C26TAA  số 0000123 "),
            reception,
            Some(P::Created),
        )
        .expect("collect");
        assert_eq!(collected.status, DossierStatus::ResultReady);
        let k = &events[0].kind;
        assert_eq!(
            k,
            &EventKind::CollectFee {
                amount_vnd: 24_000,
                receipt_number: "Ký hiệu 1C26TAA số 0000123".into()
            }
        );
        assert_eq!(events[0].kind.name(), "collect_fee");
        assert!(k.note().contains("24.000 đồng") && k.note().contains("0000123"));
        assert!(!k.public_text().contains("0000123"));
        let json = serde_json::to_string(k).expect("json");
        assert_eq!(serde_json::from_str::<EventKind>(&json).expect("back"), *k);
        for settled in [P::Paid, P::Collected] {
            assert!(matches!(
                with(&d, collect("BL-2"), reception, Some(settled)),
                Err(Refusal::Already(_))
            ));
        }
        // Not before the result is ready.
        let (early, _) = file(T0, None, false);
        assert!(matches!(
            with(&early, collect("BL-1"), reception, None),
            Err(Refusal::State(_))
        ));
    }

    #[test]
    fn a_dossier_handed_in_at_the_desk_says_so_and_is_received_at_once() {
        // Online filings keep the stored form they always had (no channel field).
        let (_, online) = file(T0, None, false);
        let json = serde_json::to_value(&online.kind).expect("json");
        assert!(json["details"].get("channel").is_none(), "{json}");
        for (channel, text) in [
            (Channel::Desk, "trực tiếp tại Bộ phận Một cửa"),
            (Channel::Post, "bưu chính công ích"),
        ] {
            let (d, e) = file_via(T0, Some(T0), false, channel);
            let json = serde_json::to_string(&e.kind).expect("json");
            assert_eq!(
                serde_json::from_str::<EventKind>(&json).expect("back"),
                e.kind
            );
            assert!(e.kind.public_text().contains(text), "{channel:?}");
            assert!(e.kind.note().contains(text), "{channel:?}");
            let received =
                run(&d, Command::Receive, staff(Role::Reception, 1), T0).expect("receive");
            assert_eq!(received.status, DossierStatus::Received);
            assert!(received.due_at.is_some());
        }
        assert_eq!(Channel::from_code(Channel::Post.code()), Channel::Post);
        assert_eq!(Channel::from_code(0), Channel::Desk);
    }

    #[test]
    fn event_kinds_round_trip_as_json_and_read_old_rows() {
        let k = EventKind::RequestSupplement {
            reason: "r".into(),
            missing: vec!["m".into()],
            paused: true,
            counts_as_late: false,
        };
        let json = serde_json::to_string(&k).expect("json");
        assert!(json.contains("\"action\":\"request_supplement\""));
        assert_eq!(serde_json::from_str::<EventKind>(&json).expect("back"), k);
        // Rows written before the typed log: same field names, missing ones defaulted.
        let old: EventKind = serde_json::from_value(serde_json::json!({
            "action": "apologise_and_extend",
            "details": { "reason": "x", "old_due": "10:00, 01/01/2026", "new_due": "10:00, 02/01/2026" }
        }))
        .expect("old row");
        assert!(matches!(old, EventKind::ApologiseAndExtend { .. }));
    }

    #[test]
    fn public_texts_carry_nothing_anyone_wrote() {
        let secret = "Nguyễn Văn A, CCCD 001090012345";
        let kinds = [
            EventKind::RequestSupplement {
                reason: secret.into(),
                missing: vec![secret.into()],
                paused: true,
                counts_as_late: true,
            },
            EventKind::Supplement {
                files: vec![secret.into()],
                note: secret.into(),
                due_at: None,
            },
            EventKind::Refuse {
                reason: secret.into(),
            },
            EventKind::Forward {
                assignee: None,
                note: Some(secret.into()),
            },
            EventKind::SendBack {
                assignee: None,
                reason: secret.into(),
            },
            EventKind::ApologiseAndExtend {
                reason: secret.into(),
                previous_due_at: None,
                new_due_at: T0,
            },
            EventKind::Stop {
                reason: secret.into(),
            },
            EventKind::Withdraw {
                reason: Some(secret.into()),
            },
        ];
        for k in kinds {
            if !matches!(k, EventKind::Forward { .. }) {
                assert!(k.note().contains("Nguyễn Văn A"), "{k:?}");
            }
            assert!(!k.public_text().contains("Nguyễn Văn A"), "{k:?}");
            assert!(!k.public_text().is_empty());
        }
    }

    fn any_role() -> impl Strategy<Value = Role> {
        prop::sample::select(Role::ALL.to_vec())
    }

    fn any_actor() -> impl Strategy<Value = Actor> {
        prop_oneof![
            Just(Actor::Citizen),
            (any_role(), 1i64..4).prop_map(|(role, id)| Actor::Staff { id, role }),
        ]
    }

    fn any_command() -> impl Strategy<Value = Command> {
        let text = prop_oneof![Just(String::new()), Just("Lý do".to_string())];
        let who = prop_oneof![
            Just(None),
            (1i64..4, any_role()).prop_map(|(id, role)| Some(person(id, role)))
        ];
        prop_oneof![
            Just(Command::Receive),
            (text.clone(), prop::collection::vec(text.clone(), 0..2))
                .prop_map(|(reason, missing)| Command::RequestSupplement { reason, missing }),
            text.clone().prop_map(|reason| Command::Refuse { reason }),
            who.clone()
                .prop_map(|to| Command::Forward { to, note: None }),
            who.clone()
                .prop_map(|to| Command::SubmitForApproval { to, note: None }),
            Just(Command::Approve),
            (who, text.clone()).prop_map(|(to, reason)| Command::SendBack { to, reason }),
            Just(Command::ReturnResult {
                result: None,
                signer: None,
                postal_tracking: None
            }),
            (0usize..3, prop::option::of(Just("Chậm".to_string()))).prop_map(|(r, comment)| {
                Command::Rate {
                    rating: Rating::ALL[r],
                    comment,
                }
            }),
            (text.clone(), 0i64..30).prop_map(|(reason, days)| Command::ApologiseAndExtend {
                reason,
                new_due_at: T0 + days * 86_400_000
            }),
            text.clone().prop_map(|reason| Command::Stop { reason }),
            prop::collection::vec(Just("a.pdf".to_string()), 0..2).prop_map(|files| {
                Command::Supplement {
                    files,
                    note: String::new(),
                }
            }),
            Just(Command::Withdraw { reason: None }),
            prop_oneof![Just(String::new()), Just("BL-000123".to_string())]
                .prop_map(|receipt_number| Command::CollectFee { receipt_number }),
            (0usize..2).prop_map(|variant| Command::GrantExtraTime {
                variant,
                note: None
            }),
        ]
    }

    fn check_invariants(d: &Dossier) -> Result<(), TestCaseError> {
        use DossierStatus as S;
        prop_assert_eq!(d.status.is_closed(), d.finished_at.is_some());
        prop_assert_eq!(
            d.paused_at.is_some(),
            d.status == S::AwaitingSupplement && d.resume_status != Some(S::Submitted)
        );
        if matches!(
            d.status,
            S::Received | S::Processing | S::AwaitingApproval | S::ResultReady | S::Done
        ) {
            prop_assert!(d.received_at.is_some());
        }
        if let (Some(r), Some(due)) = (d.received_at, d.due_at) {
            prop_assert!(due >= r, "the appointment precedes receipt");
        }
        if let (Some(o), Some(due)) = (d.original_due_at, d.due_at) {
            prop_assert!(o <= due);
        }
        prop_assert!(d.extension_count <= 1);
        prop_assert!(
            d.extra_working_days <= 5,
            "more lawful extra time than the procedure allows"
        );
        // While waiting for the applicant the clock is stopped: time passing changes nothing,
        // and the dossier is shown as waiting, never as late.
        if d.status == S::AwaitingSupplement {
            prop_assert_eq!(on_time(d, T0), on_time(d, T0 + 400 * 86_400_000));
            prop_assert_eq!(
                progress(d, T0 + 400 * 86_400_000),
                Progress::AwaitingSupplement
            );
        }
        // A second supplement request always counts as late (QĐ 766).
        if d.supplement_count > 1 {
            prop_assert!(!on_time(d, T0));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn random_commands_never_reach_an_illegal_state(
            steps in prop::collection::vec((any_command(), any_actor(), 0i64..(5 * 86_400_000)), 1..25)
        ) {
            let cal = WorkingCalendar::shipped();
            let policy = DeadlinePolicy::new(&cal, WorkWeek::default(), DeadlineRule::days(3));
            let mut rules = rules_with(&policy);
            // A fee due at the result (khai sinh registered late), not paid online.
            rules.fee = Fee { timing: PaymentTiming::AtResult, amount_vnd: 8_000, payment: None };
            let (mut d, _) = file(T0, None, false);
            let mut now = T0;
            for (cmd, actor, dt) in steps {
                now += dt;
                let before = d.clone();
                match decide(&d, &cmd, actor, &rules, now) {
                    Ok(events) => {
                        // Only a rating, once, after the result is returned.
                        if let Command::Rate { .. } = cmd {
                            prop_assert_eq!(before.status, DossierStatus::Done);
                            prop_assert!(before.rating.is_none(), "rated twice");
                        } else {
                            prop_assert!(!before.status.is_closed(), "a closed dossier accepted {:?}", cmd);
                        }
                        if let Actor::Staff { id, role } = actor
                            && needs_assignee(cmd.action())
                        {
                            prop_assert!(role == Role::Leader || before.assignee_id == Some(id));
                        }
                        prop_assert_eq!(events.len(), 1);
                        // The result is handed over only once the fee is settled; collected at
                        // the desk, the caller stores it settled.
                        if let Command::ReturnResult { .. } = cmd {
                            prop_assert!(rules.fee.payment.is_some_and(crate::payment::PaymentStatus::is_settled));
                        }
                        if let Command::CollectFee { .. } = cmd {
                            prop_assert_eq!(before.status, DossierStatus::ResultReady);
                            prop_assert!(rules.fee.payment.is_none(), "collected twice");
                            rules.fee.payment = Some(crate::payment::PaymentStatus::Collected);
                        }
                        for e in &events {
                            d = evolve(&d, e);
                            // Events survive their stored form.
                            let json = serde_json::to_string(&e.kind).expect("json");
                            prop_assert_eq!(&serde_json::from_str::<EventKind>(&json).expect("parse"), &e.kind);
                        }
                        prop_assert_eq!(d.version, before.version + 1);
                        // Paused time is never counted: a supplement moves the appointment by
                        // at least nothing, and never before the pause.
                        if let (EventKind::Supplement { .. }, Some(old), Some(new)) = (&events[0].kind, before.due_at, d.due_at) {
                            prop_assert!(new >= old);
                        }
                        // Lawful extra time moves both appointments later; an apology only the
                        // one in force.
                        match &events[0].kind {
                            EventKind::ExtraTime { .. } => {
                                prop_assert!(d.due_at > before.due_at);
                                prop_assert!(d.original_due_at > before.original_due_at);
                            }
                            EventKind::ApologiseAndExtend { .. } => {
                                prop_assert_eq!(d.original_due_at, before.original_due_at);
                            }
                            _ => {}
                        }
                    }
                    Err(_) => prop_assert_eq!(&d, &before),
                }
                check_invariants(&d)?;
            }
        }
    }
}
