//! Dossiers: their code (mã hồ sơ) and their lifecycle.
//!
//! Code format, Điều 19 TT 01/2018/TT-VPCP: `<agency code>-YYMMDD-XXXX`, where YYMMDD is the date
//! of receipt in Asia/Ho_Chi_Minh and XXXX the 4-digit sequence of dossiers received that day by
//! that agency. The code identifies a dossier; it is not a secret and grants no access to
//! personal data.

use crate::agency::AgencyCode;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DossierCode {
    agency: AgencyCode,
    date: Date,
    seq: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DossierCodeError {
    #[error("Mã hồ sơ có dạng <mã cơ quan>-YYMMDD-XXXX, ví dụ 000.00.00.H31-261128-0001.")]
    Shape,
    #[error("Phần ngày của mã hồ sơ (YYMMDD) không phải ngày có thật.")]
    Date,
    #[error("Số thứ tự trong ngày phải từ 0001 đến 9999.")]
    Sequence,
}

impl DossierCode {
    pub fn new(agency: AgencyCode, date: Date, seq: u16) -> Result<Self, DossierCodeError> {
        if seq == 0 || seq > 9999 {
            return Err(DossierCodeError::Sequence);
        }
        if !(2000..=2099).contains(&date.year()) {
            return Err(DossierCodeError::Date);
        }
        Ok(Self { agency, date, seq })
    }

    pub fn parse(s: &str) -> Result<Self, DossierCodeError> {
        let s = s.trim().to_ascii_uppercase();
        let (rest, seq) = s.rsplit_once('-').ok_or(DossierCodeError::Shape)?;
        let (agency, ymd) = rest.rsplit_once('-').ok_or(DossierCodeError::Shape)?;
        if seq.len() != 4
            || !seq.chars().all(|c| c.is_ascii_digit())
            || ymd.len() != 6
            || !ymd.chars().all(|c| c.is_ascii_digit())
        {
            return Err(DossierCodeError::Shape);
        }
        let agency = AgencyCode::parse(agency).map_err(|_| DossierCodeError::Shape)?;
        let yy: i16 = ymd[0..2].parse().map_err(|_| DossierCodeError::Shape)?;
        let mm: i8 = ymd[2..4].parse().map_err(|_| DossierCodeError::Shape)?;
        let dd: i8 = ymd[4..6].parse().map_err(|_| DossierCodeError::Shape)?;
        let date = Date::new(2000 + yy, mm, dd).map_err(|_| DossierCodeError::Date)?;
        let seq: u16 = seq.parse().map_err(|_| DossierCodeError::Shape)?;
        Self::new(agency, date, seq)
    }

    pub fn agency(&self) -> &AgencyCode {
        &self.agency
    }
    pub fn date(&self) -> Date {
        self.date
    }
    pub fn seq(&self) -> u16 {
        self.seq
    }
}

impl fmt::Display for DossierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{:02}{:02}{:02}-{:04}",
            self.agency,
            self.date.year() % 100,
            self.date.month(),
            self.date.day(),
            self.seq
        )
    }
}

impl TryFrom<String> for DossierCode {
    type Error = DossierCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DossierCode> for String {
    fn from(value: DossierCode) -> Self {
        value.to_string()
    }
}

/// How a dossier reached the agency (the national portal's `KenhThucHien` codes, QĐ 766
/// operational rules): 1 trực tiếp, 2 trực tuyến, 3 bưu chính công ích.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Handed in at the Bộ phận Một cửa.
    Desk,
    /// Filed on the portal.
    #[default]
    Online,
    /// Sent through the public postal service (bưu chính công ích).
    Post,
}

impl Channel {
    /// The stored code (`dossiers.channel`).
    pub fn code(self) -> i64 {
        match self {
            Channel::Desk => 1,
            Channel::Online => 2,
            Channel::Post => 3,
        }
    }

    /// The channel of a stored code (1 or NULL is trực tiếp, as the national portal reads it).
    pub fn from_code(code: i64) -> Channel {
        match code {
            2 => Channel::Online,
            3 => Channel::Post,
            _ => Channel::Desk,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Channel::Desk => "Trực tiếp",
            Channel::Online => "Trực tuyến",
            Channel::Post => "Qua dịch vụ bưu chính công ích",
        }
    }

    pub fn is_online(&self) -> bool {
        *self == Channel::Online
    }
}

/// Where a dossier is in its lifecycle (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DossierStatus {
    /// Filed online, waiting for the one-stop desk to check it.
    Submitted,
    /// Filed online with a fee due at filing, not paid yet: nobody processes it and its clock
    /// has not started.
    AwaitingPayment,
    /// Accepted by the one-stop desk; the appointment date is set.
    Received,
    /// Being handled by a unit or a specialist.
    Processing,
    /// Waiting for the citizen to add what is missing; the clock is paused.
    AwaitingSupplement,
    /// Proposed result waiting for a leader's decision.
    AwaitingApproval,
    /// Result ready to be returned.
    ResultReady,
    /// Result returned to the citizen.
    Done,
    /// Refused (not accepted) with a reason.
    Refused,
    /// Processing stopped with a legal reason.
    Stopped,
    /// Withdrawn by the applicant.
    Withdrawn,
}

impl DossierStatus {
    pub const ALL: [DossierStatus; 11] = [
        DossierStatus::Submitted,
        DossierStatus::AwaitingPayment,
        DossierStatus::Received,
        DossierStatus::Processing,
        DossierStatus::AwaitingSupplement,
        DossierStatus::AwaitingApproval,
        DossierStatus::ResultReady,
        DossierStatus::Done,
        DossierStatus::Refused,
        DossierStatus::Stopped,
        DossierStatus::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DossierStatus::Submitted => "submitted",
            DossierStatus::AwaitingPayment => "awaiting_payment",
            DossierStatus::Received => "received",
            DossierStatus::Processing => "processing",
            DossierStatus::AwaitingSupplement => "awaiting_supplement",
            DossierStatus::AwaitingApproval => "awaiting_approval",
            DossierStatus::ResultReady => "result_ready",
            DossierStatus::Done => "done",
            DossierStatus::Refused => "refused",
            DossierStatus::Stopped => "stopped",
            DossierStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The label citizens and officials see.
    pub fn label(self) -> &'static str {
        match self {
            DossierStatus::Submitted => "Đã nộp trực tuyến, chờ tiếp nhận",
            DossierStatus::AwaitingPayment => "Chờ thanh toán",
            DossierStatus::Received => "Đã tiếp nhận",
            DossierStatus::Processing => "Đang xử lý",
            DossierStatus::AwaitingSupplement => "Chờ công dân bổ sung hồ sơ",
            DossierStatus::AwaitingApproval => "Chờ lãnh đạo phê duyệt",
            DossierStatus::ResultReady => "Đã có kết quả, chờ trả",
            DossierStatus::Done => "Đã trả kết quả",
            DossierStatus::Refused => "Từ chối tiếp nhận",
            DossierStatus::Stopped => "Dừng xử lý",
            DossierStatus::Withdrawn => "Đã rút hồ sơ theo yêu cầu của người nộp",
        }
    }

    /// Closed states accept no further action.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            DossierStatus::Done
                | DossierStatus::Refused
                | DossierStatus::Stopped
                | DossierStatus::Withdrawn
        )
    }

    /// The deadline clock is paused while waiting for the citizen.
    pub fn clock_paused(self) -> bool {
        matches!(self, DossierStatus::AwaitingSupplement)
    }
}

/// Actions that move a dossier between states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Receive,
    RequestSupplement,
    Supplement,
    Refuse,
    Forward,
    SubmitForApproval,
    Approve,
    SendBack,
    ReturnResult,
    Stop,
    Withdraw,
    ApologiseAndExtend,
    /// A lawful extension of the time limit declared by the procedure (not lateness).
    ExtraTime,
    /// The citizen rates their satisfaction, once, after the result (the dossier stays done).
    Rate,
    /// The payment provider confirmed the fee was paid.
    Pay,
    /// A payment attempt changed state (started, failed, cancelled, expired, refunded).
    Payment,
    /// An official records that the fee due at the result was collected at the one-stop desk
    /// (with the receipt number); the dossier stays "result ready".
    CollectFee,
}

impl Action {
    pub const ALL: [Action; 17] = [
        Action::Receive,
        Action::RequestSupplement,
        Action::Supplement,
        Action::Refuse,
        Action::Forward,
        Action::SubmitForApproval,
        Action::Approve,
        Action::SendBack,
        Action::ReturnResult,
        Action::Stop,
        Action::Withdraw,
        Action::ApologiseAndExtend,
        Action::ExtraTime,
        Action::Rate,
        Action::Pay,
        Action::Payment,
        Action::CollectFee,
    ];

    /// The name stored in the event log and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Receive => "receive",
            Action::RequestSupplement => "request_supplement",
            Action::Supplement => "supplement",
            Action::Refuse => "refuse",
            Action::Forward => "forward",
            Action::SubmitForApproval => "submit_for_approval",
            Action::Approve => "approve",
            Action::SendBack => "send_back",
            Action::ReturnResult => "return_result",
            Action::Stop => "stop",
            Action::Withdraw => "withdraw",
            Action::ApologiseAndExtend => "apologise_and_extend",
            Action::ExtraTime => "extra_time",
            Action::Rate => "rate",
            Action::Pay => "pay",
            Action::Payment => "payment",
            Action::CollectFee => "collect_fee",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The label of the action's button and of its entry in messages.
    pub fn label(self) -> &'static str {
        match self {
            Action::Receive => "Tiếp nhận",
            Action::RequestSupplement => "Yêu cầu bổ sung",
            Action::Supplement => "Bổ sung hồ sơ",
            Action::Refuse => "Từ chối",
            Action::Forward => "Chuyển xử lý",
            Action::SubmitForApproval => "Trình phê duyệt",
            Action::Approve => "Phê duyệt",
            Action::SendBack => "Trả lại",
            Action::ReturnResult => "Trả kết quả",
            Action::Stop => "Dừng xử lý",
            Action::Withdraw => "Rút hồ sơ",
            Action::ApologiseAndExtend => "Xin lỗi và gia hạn",
            Action::ExtraTime => "Kéo dài thời hạn theo quy định",
            Action::Rate => "Đánh giá mức độ hài lòng",
            Action::Pay => "Xác nhận thanh toán",
            Action::Payment => "Cập nhật thanh toán",
            Action::CollectFee => "Đã thu phí tại Bộ phận Một cửa",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Không thể thực hiện thao tác này khi hồ sơ đang ở trạng thái “{}”.", .from.label())]
pub struct IllegalTransition {
    pub from: DossierStatus,
    pub action: Action,
}

/// The state machine: the state after `action` in state `from`, or why not.
pub fn transition(from: DossierStatus, action: Action) -> Result<DossierStatus, IllegalTransition> {
    use Action as A;
    use DossierStatus as S;
    let to = match (from, action) {
        (S::Submitted, A::Receive) => S::Received,
        (S::Submitted, A::RequestSupplement) => S::AwaitingSupplement,
        (S::Submitted, A::Refuse) => S::Refused,
        (S::Received | S::Processing, A::Forward) => S::Processing,
        (S::Received | S::Processing, A::RequestSupplement) => S::AwaitingSupplement,
        (S::Received | S::Processing, A::SubmitForApproval) => S::AwaitingApproval,
        (S::AwaitingSupplement, A::Supplement) => S::Processing,
        (S::AwaitingApproval, A::Approve) => S::ResultReady,
        (S::AwaitingApproval, A::SendBack) => S::Processing,
        (S::ResultReady, A::ReturnResult) => S::Done,
        // A fee due at the result, collected in cash at the desk before the result is handed over.
        (S::ResultReady, A::CollectFee) => S::ResultReady,
        (S::Received | S::Processing | S::AwaitingApproval | S::AwaitingSupplement, A::Stop) => {
            S::Stopped
        }
        (s, A::ApologiseAndExtend)
            if !s.is_closed() && s != S::Submitted && s != S::AwaitingPayment =>
        {
            s
        }
        (s @ (S::Received | S::Processing), A::ExtraTime) => s,
        (S::Done, A::Rate) => S::Done,
        (s, A::Withdraw) if !s.is_closed() && s != S::ResultReady => S::Withdrawn,
        // Paid at filing: the dossier is filed for processing now. Paid later (at the result),
        // or after it closed (a late confirmation, refunded afterwards): the state stays.
        (S::AwaitingPayment, A::Pay) => S::Submitted,
        (s, A::Pay | A::Payment) => s,
        _ => return Err(IllegalTransition { from, action }),
    };
    Ok(to)
}

/// The state a dossier returns to once the citizen has supplemented it: where it was when the
/// supplement was requested (still waiting for reception, or being processed).
pub fn resume_after_supplement(before: Option<DossierStatus>) -> DossierStatus {
    match before {
        Some(
            s @ (DossierStatus::Submitted | DossierStatus::Received | DossierStatus::Processing),
        ) => s,
        _ => DossierStatus::Processing,
    }
}

/// The workflow step (index into the procedure's steps) that a status belongs to.
/// Steps are Tiếp nhận → Thụ lý → Phê duyệt → Trả kết quả by default.
pub fn step_of(status: DossierStatus, steps: usize) -> usize {
    let last = steps.saturating_sub(1);
    let idx = match status {
        DossierStatus::Submitted | DossierStatus::AwaitingPayment => 0,
        DossierStatus::Received | DossierStatus::Processing | DossierStatus::AwaitingSupplement => {
            1
        }
        DossierStatus::AwaitingApproval => 2,
        DossierStatus::ResultReady | DossierStatus::Done => 3,
        DossierStatus::Refused | DossierStatus::Stopped | DossierStatus::Withdrawn => 0,
    };
    idx.min(last)
}

/// Whether a dossier counts as on time (QĐ 766 operational rule): not past its due time (or
/// finished by it), and supplements were asked for at most once.
pub fn on_time(due_ms: Option<i64>, finished_or_now_ms: i64, supplement_requests: i64) -> bool {
    if supplement_requests > 1 {
        return false;
    }
    due_ms.is_none_or(|d| finished_or_now_ms <= d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn on_time_rules() {
        assert!(on_time(Some(10), 10, 0));
        assert!(!on_time(Some(10), 11, 0));
        assert!(
            !on_time(Some(10), 5, 2),
            "a second supplement request counts as late"
        );
        assert!(on_time(None, 5, 1));
        assert_eq!(
            resume_after_supplement(Some(DossierStatus::Submitted)),
            DossierStatus::Submitted
        );
        assert_eq!(resume_after_supplement(None), DossierStatus::Processing);
        assert_eq!(step_of(DossierStatus::AwaitingApproval, 4), 2);
        assert_eq!(step_of(DossierStatus::AwaitingApproval, 2), 1);
    }

    #[test]
    fn formats_and_parses() {
        let agency = AgencyCode::parse("000.00.00.H49").expect("agency");
        let code =
            DossierCode::new(agency, Date::new(2025, 7, 15).expect("date"), 1).expect("code");
        assert_eq!(code.to_string(), "000.00.00.H49-250715-0001");
        assert_eq!(DossierCode::parse("000.00.00.h49-250715-0001"), Ok(code));
    }

    #[test]
    fn rejects_bad_codes() {
        assert_eq!(DossierCode::parse("abc"), Err(DossierCodeError::Shape));
        assert_eq!(
            DossierCode::parse("H49-250230-0001"),
            Err(DossierCodeError::Date)
        );
        assert_eq!(
            DossierCode::parse("H49-250715-0000"),
            Err(DossierCodeError::Sequence)
        );
        assert_eq!(
            DossierCode::parse("H49-250715-001"),
            Err(DossierCodeError::Shape)
        );
        assert_eq!(
            DossierCode::parse("-250715-0001"),
            Err(DossierCodeError::Shape)
        );
    }

    #[test]
    fn happy_path_transitions() {
        use Action::*;
        let mut s = DossierStatus::Submitted;
        for a in [
            Receive,
            Forward,
            RequestSupplement,
            Supplement,
            SubmitForApproval,
            SendBack,
            SubmitForApproval,
            Approve,
            ReturnResult,
        ] {
            s = transition(s, a).expect("legal");
        }
        assert_eq!(s, DossierStatus::Done);
    }

    #[test]
    fn closed_states_refuse_everything() {
        use Action::*;
        for s in DossierStatus::ALL.into_iter().filter(|s| s.is_closed()) {
            for a in [
                Receive,
                RequestSupplement,
                Supplement,
                Refuse,
                Forward,
                SubmitForApproval,
                Approve,
                SendBack,
                ReturnResult,
                Stop,
                Withdraw,
                ApologiseAndExtend,
            ] {
                assert!(transition(s, a).is_err(), "{s:?} {a:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(y in 2000i16..2100, m in 1i8..=12, d in 1i8..=28, seq in 1u16..=9999, a in "[0-9]{3}\\.[0-9]{2}\\.[0-9]{2}\\.[A-Z][0-9]{2}") {
            let code = DossierCode::new(AgencyCode::parse(&a).expect("agency"), Date::new(y, m, d).expect("date"), seq).expect("code");
            prop_assert_eq!(DossierCode::parse(&code.to_string()), Ok(code));
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = DossierCode::parse(&s);
        }
    }
}

#[cfg(test)]
mod transition_table {
    use super::*;

    /// Every legal (state, action) pair, written out; everything else must be refused.
    #[test]
    fn every_illegal_transition_is_refused() {
        use Action as A;
        use DossierStatus as S;
        let open_not_submitted = [
            S::Received,
            S::Processing,
            S::AwaitingSupplement,
            S::AwaitingApproval,
            S::ResultReady,
        ];
        let mut legal: Vec<(S, A, S)> = vec![
            (S::Submitted, A::Receive, S::Received),
            (S::Submitted, A::RequestSupplement, S::AwaitingSupplement),
            (S::Submitted, A::Refuse, S::Refused),
            (S::Received, A::Forward, S::Processing),
            (S::Processing, A::Forward, S::Processing),
            (S::Received, A::RequestSupplement, S::AwaitingSupplement),
            (S::Processing, A::RequestSupplement, S::AwaitingSupplement),
            (S::Received, A::SubmitForApproval, S::AwaitingApproval),
            (S::Processing, A::SubmitForApproval, S::AwaitingApproval),
            (S::AwaitingSupplement, A::Supplement, S::Processing),
            (S::AwaitingApproval, A::Approve, S::ResultReady),
            (S::AwaitingApproval, A::SendBack, S::Processing),
            (S::ResultReady, A::ReturnResult, S::Done),
            (S::ResultReady, A::CollectFee, S::ResultReady),
            (S::Received, A::Stop, S::Stopped),
            (S::Processing, A::Stop, S::Stopped),
            (S::AwaitingApproval, A::Stop, S::Stopped),
            (S::AwaitingSupplement, A::Stop, S::Stopped),
            (S::Received, A::ExtraTime, S::Received),
            (S::Processing, A::ExtraTime, S::Processing),
            (S::Done, A::Rate, S::Done),
        ];
        for s in open_not_submitted {
            legal.push((s, A::ApologiseAndExtend, s));
        }
        for s in [
            S::Submitted,
            S::AwaitingPayment,
            S::Received,
            S::Processing,
            S::AwaitingSupplement,
            S::AwaitingApproval,
        ] {
            legal.push((s, A::Withdraw, S::Withdrawn));
        }
        for s in DossierStatus::ALL {
            legal.push((s, A::Payment, s));
            if s != S::AwaitingPayment {
                legal.push((s, A::Pay, s));
            }
        }
        legal.push((S::AwaitingPayment, A::Pay, S::Submitted));
        for s in DossierStatus::ALL {
            for a in Action::ALL {
                let expected = legal
                    .iter()
                    .find(|(ls, la, _)| *ls == s && *la == a)
                    .map(|(_, _, to)| *to);
                match transition(s, a) {
                    Ok(to) => assert_eq!(Some(to), expected, "{s:?} + {a:?}"),
                    // A refusal names the pair it refused.
                    Err(e) => {
                        assert_eq!(expected, None, "{s:?} + {a:?}");
                        assert_eq!((e.from, e.action), (s, a));
                    }
                }
            }
        }
    }
}
