//! Statistics and the QĐ 766/QĐ-TTg indicators, as pure counting rules.
//!
//! Every dossier is counted once, in the **cohort of the day it entered the system** (the local
//! date in Vietnam of its filing or desk intake): of the dossiers received in a period, how many
//! finished early, on time or late, how many are still open, refused, stopped, withdrawn, paid
//! online, and so on. [`metrics`] says which [`Metric`]s one dossier counts in; the store keeps
//! the sums per agency and day and adds the difference ([`delta`]) whenever a dossier changes.
//! Whether an open dossier is overdue depends on the time, so it is not stored: the store counts
//! those at query time with the same rule as [`open_is_late`].
//!
//! The indicators ([`indicators`]) follow the operational formulas of the national dashboard
//! ("Mô tả công thức tính chỉ số 766"), with their thresholds and points; where the official
//! split of a group's points between its indicators is not published, the allocation used here
//! is marked as such in [`Indicator::points_note`].

use crate::dossier::DossierStatus;
use crate::workflow::{Dossier, on_time};
use jiff::civil::Date;
use serde::Serialize;

/// Vietnam is UTC+7 all year (no daylight saving time).
const VN_OFFSET_MS: i64 = 7 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The local day in Vietnam of a UTC millisecond time, as days since 1970-01-01.
pub fn vn_day(ms: i64) -> i64 {
    (ms + VN_OFFSET_MS).div_euclid(DAY_MS)
}

/// The day number of a calendar date (see [`vn_day`]).
pub fn day_of(date: Date) -> i64 {
    date.since(Date::constant(1970, 1, 1))
        .map(|s| i64::from(s.get_days()))
        .unwrap_or(0)
}

/// The calendar date of a day number.
pub fn date_of(day: i64) -> Date {
    let epoch = Date::constant(1970, 1, 1);
    epoch
        .checked_add(jiff::Span::new().days(day))
        .unwrap_or(epoch)
}

/// The month of a day number, as year × 12 + month − 1 (a number that sorts like the months).
pub fn month_of_day(day: i64) -> i64 {
    let d = date_of(day);
    i64::from(d.year()) * 12 + i64::from(d.month()) - 1
}

/// (year, month 1–12) of a month number (see [`month_of_day`]).
pub fn year_month(month: i64) -> (i64, i64) {
    (month.div_euclid(12), month.rem_euclid(12) + 1)
}

/// The first UTC millisecond of a local day.
pub fn day_start_ms(day: i64) -> i64 {
    day * DAY_MS - VN_OFFSET_MS
}

/// How a dossier was filed (KenhThucHien of the national portal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 1 (or unknown): at the one-stop desk.
    Direct,
    /// 2: online.
    Online,
    /// 3: by public postal service.
    Post,
}

impl Channel {
    pub fn from_code(code: i64) -> Channel {
        match code {
            2 => Channel::Online,
            3 => Channel::Post,
            _ => Channel::Direct,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Channel::Direct => "Trực tiếp",
            Channel::Online => "Trực tuyến",
            Channel::Post => "Bưu chính công ích",
        }
    }
}

/// Satisfaction rating (1 rất hài lòng, 2 hài lòng, 3 không hài lòng).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rating {
    VerySatisfied,
    Satisfied,
    Dissatisfied,
}

impl Rating {
    pub fn from_code(code: i64) -> Option<Rating> {
        match code {
            1 => Some(Rating::VerySatisfied),
            2 => Some(Rating::Satisfied),
            3 => Some(Rating::Dissatisfied),
            _ => None,
        }
    }
}

/// One dossier as statistics see it: its workflow state and the facts other features record on
/// it (migration 0007).
#[derive(Debug, Clone)]
pub struct Facts {
    pub dossier: Dossier,
    pub channel: Channel,
    /// Fee owed, in đồng (0: nothing to pay).
    pub fee_vnd: i64,
    /// Paid online (payment state `paid`).
    pub paid_online: bool,
    /// A digitally signed electronic result was issued (`result_electronic = 1`).
    pub result_electronic: bool,
    pub rating: Option<Rating>,
    /// At least one answer filled in from data the State already holds.
    pub reused: bool,
    /// The papers of a desk or postal dossier were scanned.
    pub digitised: bool,
    /// Acknowledged by the national portal.
    pub synced: bool,
}

macro_rules! metrics {
    ($($variant:ident = $bit:literal, $column:literal, $label:literal, $definition:literal;)*) => {
        /// What a dossier counts in. Each is a column of the stored sums (same name).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Metric { $($variant),* }

        impl Metric {
            pub const ALL: [Metric; metrics!(@count $($variant)*)] = [$(Metric::$variant),*];

            fn bit(self) -> u32 { match self { $(Metric::$variant => $bit),* } }

            /// The column of the stored sums and the key in exports.
            pub fn column(self) -> &'static str { match self { $(Metric::$variant => $column),* } }

            /// The figure's name on the page.
            pub fn label(self) -> &'static str { match self { $(Metric::$variant => $label),* } }

            /// What is counted, shown in the definitions.
            pub fn definition(self) -> &'static str { match self { $(Metric::$variant => $definition),* } }
        }
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + metrics!(@count $($tail)*) };
}

metrics! {
    ReceivedDirect = 0, "received_direct", "Tiếp nhận trực tiếp",
        "Hồ sơ nộp tại Bộ phận Một cửa (kênh 1), tính theo ngày hồ sơ vào hệ thống.";
    ReceivedOnline = 1, "received_online", "Tiếp nhận trực tuyến",
        "Hồ sơ nộp trên Cổng Dịch vụ công (kênh 2), tính theo ngày nộp.";
    ReceivedPost = 2, "received_post", "Tiếp nhận qua bưu chính công ích",
        "Hồ sơ gửi qua dịch vụ bưu chính công ích (kênh 3).";
    Counted = 3, "counted", "Hồ sơ tính vào tỷ lệ",
        "Hồ sơ tiếp nhận trong kỳ, trừ hồ sơ công dân rút khi cơ quan chưa tiếp nhận (QĐ 766: hồ sơ rút chỉ tính nếu đã được tiếp nhận).";
    DoneEarly = 4, "done_early", "Đã trả kết quả trước hạn",
        "Hồ sơ đã trả kết quả vào một ngày trước ngày hẹn trả (ngày hẹn ban đầu cộng thời gian kéo dài theo quy định và thời gian chờ bổ sung).";
    DoneOnTime = 5, "done_on_time", "Đã trả kết quả đúng hạn",
        "Hồ sơ đã trả kết quả trong ngày hẹn trả, không muộn hơn giờ hẹn.";
    DoneLate = 6, "done_late", "Đã trả kết quả quá hạn",
        "Hồ sơ đã trả kết quả sau giờ hẹn trả, hoặc đã bị yêu cầu bổ sung từ hai lần trở lên (QĐ 766 tính là quá hạn). Xin lỗi và hẹn lại không làm thay đổi ngày hẹn dùng để đánh giá.";
    Refused = 7, "refused", "Từ chối tiếp nhận",
        "Hồ sơ bị từ chối tiếp nhận, có nêu lý do.";
    Stopped = 8, "stopped", "Dừng xử lý",
        "Hồ sơ bị dừng giải quyết theo căn cứ pháp lý.";
    Withdrawn = 9, "withdrawn", "Công dân rút hồ sơ",
        "Hồ sơ công dân rút theo yêu cầu (trước hoặc sau khi tiếp nhận).";
    FinishedLate = 10, "finished_late", "Đã kết thúc quá hạn",
        "Hồ sơ tính vào tỷ lệ đã kết thúc (trả kết quả, từ chối, dừng, rút) sau ngày hẹn, hoặc bị yêu cầu bổ sung từ hai lần trở lên.";
    InProgress = 11, "in_progress", "Đang xử lý",
        "Hồ sơ chưa kết thúc và không chờ công dân bổ sung. Trong hạn hay quá hạn được tính tại thời điểm xem (hoặc cuối kỳ nếu kỳ đã qua).";
    Awaiting = 12, "awaiting", "Chờ công dân bổ sung",
        "Hồ sơ đang chờ công dân bổ sung giấy tờ; thời gian giải quyết tạm dừng.";
    FeeDue = 13, "fee_due", "Hồ sơ có phí, lệ phí",
        "Hồ sơ phải nộp phí, lệ phí lớn hơn 0 đồng.";
    PaidOnline = 14, "paid_online", "Thanh toán trực tuyến",
        "Hồ sơ có phí, lệ phí đã được thanh toán trực tuyến thành công.";
    ElectronicResult = 15, "e_result", "Cấp kết quả điện tử",
        "Hồ sơ đã trả kết quả có bản điện tử của kết quả (tệp kết quả gửi công dân hoặc kết quả điện tử có ký số).";
    OnlineCounted = 16, "online_counted", "Hồ sơ trực tuyến đạt yêu cầu chỉ số 3.3",
        "Hồ sơ nộp trực tuyến, và nếu đã trả kết quả thì có kết quả điện tử (QĐ 766: hồ sơ trực tuyến phải có kết quả điện tử khi thủ tục có kết quả bằng giấy).";
    Digitised = 17, "digitised", "Hồ sơ được số hóa",
        "Hồ sơ có thành phần điện tử: nộp trực tuyến, hoặc giấy tờ nộp trực tiếp, qua bưu chính đã được quét số hóa.";
    DigitisedWithResult = 18, "digitised_result", "Số hóa hồ sơ và kết quả",
        "Hồ sơ được số hóa và đã có kết quả điện tử (tử số chỉ số 4.2).";
    Reused = 19, "reused", "Sử dụng lại dữ liệu số hóa",
        "Hồ sơ có ít nhất một thông tin được lấy lại từ dữ liệu Nhà nước đã có (không bắt công dân khai lại).";
    Synced = 20, "synced", "Đã đồng bộ lên Cổng DVCQG",
        "Hồ sơ đã được Cổng Dịch vụ công quốc gia xác nhận đồng bộ.";
    RatedVerySatisfied = 21, "rating_very", "Rất hài lòng",
        "Hồ sơ công dân đánh giá “Rất hài lòng”.";
    RatedSatisfied = 22, "rating_good", "Hài lòng",
        "Hồ sơ công dân đánh giá “Hài lòng”.";
    RatedDissatisfied = 23, "rating_bad", "Không hài lòng",
        "Hồ sơ công dân đánh giá “Không hài lòng”.";
    Extended = 24, "extended", "Có xin lỗi, hẹn lại",
        "Hồ sơ cơ quan đã gửi văn bản xin lỗi và hẹn lại ngày trả kết quả ít nhất một lần.";
    Supplemented = 25, "supplemented", "Có yêu cầu bổ sung",
        "Hồ sơ bị yêu cầu bổ sung ít nhất một lần.";
}

/// A set of metrics, stored as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct MetricSet(pub i64);

impl MetricSet {
    pub fn with(mut self, m: Metric) -> Self {
        self.0 |= 1 << m.bit();
        self
    }

    pub fn contains(self, m: Metric) -> bool {
        self.0 & (1 << m.bit()) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Metric> {
        Metric::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

/// Whether an open (unfinished) dossier is overdue at `at` (QĐ 766 operational rule, the same as
/// [`crate::workflow::on_time`]): late once supplements were asked for more than once, or once
/// the appointment (the one given at reception, moved only by lawful pauses and extra time) has
/// passed; while waiting for a supplement the clock is stopped at the moment it was asked.
///
/// The store counts open overdue dossiers in SQL with this same rule (`store::statistics`).
pub fn open_is_late(d: &Dossier, at: i64) -> bool {
    !on_time(d, at)
}

/// The day a dossier is counted in: the day it entered the system.
pub fn cohort_day(f: &Facts) -> i64 {
    vn_day(f.dossier.submitted_at)
}

/// What one dossier counts in.
pub fn metrics(f: &Facts) -> MetricSet {
    use Metric as M;
    let d = &f.dossier;
    let mut s = MetricSet::default().with(match f.channel {
        Channel::Direct => M::ReceivedDirect,
        Channel::Online => M::ReceivedOnline,
        Channel::Post => M::ReceivedPost,
    });
    let withdrawn_unreceived = d.status == DossierStatus::Withdrawn && d.received_at.is_none();
    let counted = !withdrawn_unreceived;
    if counted {
        s = s.with(M::Counted);
    }
    let finished = d.finished_at.is_some()
        || matches!(
            d.status,
            DossierStatus::Done
                | DossierStatus::Refused
                | DossierStatus::Stopped
                | DossierStatus::Withdrawn
        );
    // The moment it is judged at, for a finished dossier (the time of its last state).
    let end = d.finished_at.unwrap_or(d.submitted_at);
    let late = !on_time(d, end);
    match d.status {
        DossierStatus::Done => {
            s = s.with(if late {
                M::DoneLate
            } else if is_early(d, end) {
                M::DoneEarly
            } else {
                M::DoneOnTime
            });
        }
        DossierStatus::Refused => s = s.with(M::Refused),
        DossierStatus::Stopped => s = s.with(M::Stopped),
        DossierStatus::Withdrawn => s = s.with(M::Withdrawn),
        DossierStatus::AwaitingSupplement => s = s.with(M::Awaiting),
        _ => s = s.with(M::InProgress),
    }
    if finished && counted && late {
        s = s.with(M::FinishedLate);
    }
    if f.fee_vnd > 0 {
        s = s.with(M::FeeDue);
        if f.paid_online {
            s = s.with(M::PaidOnline);
        }
    }
    let has_result = d.status == DossierStatus::Done;
    let e_result = has_result && (f.result_electronic || d.result.is_some());
    if e_result {
        s = s.with(M::ElectronicResult);
    }
    if f.channel == Channel::Online && (!has_result || e_result) {
        s = s.with(M::OnlineCounted);
    }
    if f.channel == Channel::Online || f.digitised {
        s = s.with(M::Digitised);
        if e_result {
            s = s.with(M::DigitisedWithResult);
        }
    }
    if f.reused {
        s = s.with(M::Reused);
    }
    if f.synced {
        s = s.with(M::Synced);
    }
    match f.rating {
        Some(Rating::VerySatisfied) => s = s.with(M::RatedVerySatisfied),
        Some(Rating::Satisfied) => s = s.with(M::RatedSatisfied),
        Some(Rating::Dissatisfied) => s = s.with(M::RatedDissatisfied),
        None => {}
    }
    if d.extension_count > 0 {
        s = s.with(M::Extended);
    }
    if d.supplement_count > 0 {
        s = s.with(M::Supplemented);
    }
    s
}

/// What a dossier just filed online counts in (the same for every filing).
pub fn new_online_filing() -> MetricSet {
    let (d, _) = crate::workflow::file(0, None);
    metrics(&Facts {
        dossier: d,
        channel: Channel::Online,
        fee_vnd: 0,
        paid_online: false,
        result_electronic: false,
        rating: None,
        reused: false,
        digitised: false,
        synced: false,
    })
}

/// Finished on a day (in Vietnam) before the day of its appointment.
fn is_early(d: &Dossier, end: i64) -> bool {
    match d.original_due_at.or(d.due_at).or(d.expected_at) {
        Some(due) => vn_day(end) < vn_day(due),
        None => false,
    }
}

/// Sums of every metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts(pub [i64; Metric::ALL.len()]);

impl Counts {
    pub fn get(&self, m: Metric) -> i64 {
        self.0[m as usize]
    }

    pub fn set(&mut self, m: Metric, v: i64) {
        self.0[m as usize] = v;
    }

    /// One dossier's metrics, each counted `sign` (1 or -1).
    pub fn of(set: MetricSet, sign: i64) -> Counts {
        let mut c = Counts::default();
        for m in set.iter() {
            c.0[m as usize] = sign;
        }
        c
    }

    pub fn add(&mut self, other: &Counts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|v| *v == 0)
    }

    pub fn received(&self) -> i64 {
        self.get(Metric::ReceivedDirect)
            + self.get(Metric::ReceivedOnline)
            + self.get(Metric::ReceivedPost)
    }
}

/// What to add to the stored sums when a dossier counted as `old` (day, metrics; `None` if it was
/// not counted yet) is now counted as `new`: one entry per day touched, never an all-zero entry.
pub fn delta<K: PartialEq + Clone>(
    old: Option<(K, MetricSet)>,
    new: (K, MetricSet),
) -> Vec<(K, Counts)> {
    match old {
        None => vec![(new.0, Counts::of(new.1, 1))],
        Some((day, set)) if day == new.0 && set == new.1 => vec![],
        Some((day, set)) if day == new.0 => {
            let mut c = Counts::of(new.1, 1);
            c.add(&Counts::of(set, -1));
            vec![(day, c)]
        }
        Some((day, set)) => vec![(day, Counts::of(set, -1)), (new.0, Counts::of(new.1, 1))],
    }
}

/// The figures of a set of dossiers: the stored sums plus the open ones found overdue at query
/// time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    pub counts: Counts,
    /// Open dossiers (not waiting for a supplement) past their appointment.
    pub in_progress_late: i64,
    /// Dossiers waiting for a supplement that count as late (asked twice, or asked after the
    /// appointment had passed).
    pub awaiting_late: i64,
}

impl Figures {
    pub fn in_progress_on_time(&self) -> i64 {
        self.counts.get(Metric::InProgress) - self.in_progress_late
    }

    /// Counted dossiers late so far: finished late, and open ones overdue.
    pub fn late(&self) -> i64 {
        self.counts.get(Metric::FinishedLate) + self.in_progress_late + self.awaiting_late
    }

    /// Counted dossiers finished or being handled within their time limit.
    pub fn on_time(&self) -> i64 {
        self.counts.get(Metric::Counted) - self.late()
    }

    /// Dossiers rated (any rating).
    pub fn rated(&self) -> i64 {
        self.counts.get(Metric::RatedVerySatisfied)
            + self.counts.get(Metric::RatedSatisfied)
            + self.counts.get(Metric::RatedDissatisfied)
    }
}

/// The scoring groups of QĐ 766 and their maximum points as scored on the national portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Progress,
    OnlineService,
    OnlinePayment,
    Digitisation,
    Satisfaction,
}

impl Group {
    pub const ALL: [Group; 5] = [
        Group::Progress,
        Group::OnlineService,
        Group::OnlinePayment,
        Group::Digitisation,
        Group::Satisfaction,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Group::Progress => "Tiến độ giải quyết",
            Group::OnlineService => "Dịch vụ công trực tuyến",
            Group::OnlinePayment => "Thanh toán trực tuyến",
            Group::Digitisation => "Số hóa hồ sơ",
            Group::Satisfaction => "Mức độ hài lòng",
        }
    }

    /// Maximum points of the whole group (all its indicators, also those not computed here).
    pub fn max_points(self) -> f64 {
        match self {
            Group::Progress => 20.0,
            Group::OnlineService => 12.0,
            Group::OnlinePayment => 10.0,
            Group::Digitisation => 22.0,
            Group::Satisfaction => 18.0,
        }
    }
}

/// An indicator's value: a rate, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Value {
    /// A rate in percent (0–100), from `numerator` ÷ `denominator` (times the sync rate for
    /// 3.3 once it applies).
    Rate {
        percent: f64,
        numerator: i64,
        denominator: i64,
    },
    /// Nothing to compute (no dossier in the denominator, or the feature does not exist yet).
    NotApplicable { reason: String },
}

/// One QĐ 766 indicator computed from our own dossiers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicator {
    /// "2.1", "3.3", …
    pub code: &'static str,
    /// Anchor of its definition on the page (`chi-so-2-1`).
    pub anchor: &'static str,
    pub name: &'static str,
    pub group: Group,
    pub formula: &'static str,
    /// Where the formula comes from.
    pub source: &'static str,
    /// Full points at or above this rate (percent); `None`: points proportional to the rate.
    pub threshold: Option<f64>,
    pub max_points: f64,
    /// How the points are scored, in words.
    pub scoring: String,
    /// Where the maximum points come from (official, or this system's allocation).
    pub points_note: &'static str,
    pub value: Value,
    /// Points scored (`None` when not applicable).
    pub points: Option<f64>,
    /// A remark shown under the value (e.g. the sync rate not yet applicable).
    pub note: Option<String>,
}

/// Points for `rate` percent with threshold `t` (percent): full points at or above it, otherwise
/// rate × max ÷ T; without a threshold, rate × max ÷ 100.
pub fn score(rate: f64, threshold: Option<f64>, max: f64) -> f64 {
    let t = threshold.unwrap_or(100.0);
    let p = if rate >= t { max } else { rate * max / t };
    (p.clamp(0.0, max) * 100.0).round() / 100.0
}

fn rate(numerator: i64, denominator: i64, empty: &str) -> Value {
    if denominator <= 0 {
        Value::NotApplicable {
            reason: empty.to_string(),
        }
    } else {
        Value::Rate {
            percent: round2(numerator as f64 * 100.0 / denominator as f64),
            numerator,
            denominator,
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

const SOURCE: &str = "QĐ 766/QĐ-TTg ngày 23/6/2022; công thức vận hành của Cổng Dịch vụ công quốc gia (“Mô tả công thức tính chỉ số 766”).";
const ALLOCATED: &str = "Phân bổ điểm giữa các chỉ số trong nhóm chưa được công bố chính thức; đây là phân bổ của hệ thống (tổng nhóm theo Cổng DVCQG).";
const NO_DOSSIER: &str = "Chưa có hồ sơ trong kỳ.";

// One row of the table of indicators below, in the order the page shows the fields.
#[allow(clippy::too_many_arguments)]
fn indicator(
    code: &'static str,
    anchor: &'static str,
    name: &'static str,
    group: Group,
    formula: &'static str,
    threshold: Option<f64>,
    max_points: f64,
    points_note: &'static str,
    value: Value,
    note: Option<String>,
) -> Indicator {
    let points = match &value {
        Value::Rate { percent, .. } => Some(score(*percent, threshold, max_points)),
        Value::NotApplicable { .. } => None,
    };
    let scoring = match threshold {
        Some(t) => format!(
            "Đạt {max_points} điểm nếu tỷ lệ từ {t}% trở lên; thấp hơn: tỷ lệ × {max_points} ÷ {t}%."
        ),
        None => format!("Điểm = tỷ lệ × {max_points} điểm (không có ngưỡng)."),
    };
    Indicator {
        code,
        anchor,
        name,
        group,
        formula,
        source: SOURCE,
        threshold,
        max_points,
        scoring,
        points_note,
        value,
        points,
        note,
    }
}

/// The indicators 2.1, 3.3, 3.6, 4.1, 4.2, 4.3 and 5.4 for `f`.
pub fn indicators(f: &Figures) -> Vec<Indicator> {
    use Metric as M;
    let c = &f.counts;
    let counted = c.get(M::Counted);
    let received = c.received();
    let synced = c.get(M::Synced);
    // 3.3: times the sync rate once dossiers are synced with the national portal.
    let (v33, note33) = if synced == 0 {
        (
            rate(c.get(M::OnlineCounted), received, NO_DOSSIER),
            Some("Tỷ lệ đồng bộ với Cổng DVCQG: chưa áp dụng (chưa kết nối đồng bộ hồ sơ); tỷ lệ tính trên hồ sơ của hệ thống.".to_string()),
        )
    } else {
        let sync = synced as f64 / received.max(1) as f64;
        let v = match rate(c.get(M::OnlineCounted), received, NO_DOSSIER) {
            Value::Rate {
                percent,
                numerator,
                denominator,
            } => Value::Rate {
                percent: round2(percent * sync),
                numerator,
                denominator,
            },
            other => other,
        };
        (
            v,
            Some(format!(
                "Đã nhân với tỷ lệ đồng bộ {:.2}% ({synced}/{received} hồ sơ).",
                sync * 100.0
            )),
        )
    };
    let v54 = if counted <= 0 {
        Value::NotApplicable {
            reason: NO_DOSSIER.into(),
        }
    } else {
        let late = f.late() as f64 / counted as f64;
        let dislike = c.get(M::RatedDissatisfied) as f64 / counted as f64;
        let satisfied = counted - f.late() - c.get(M::RatedDissatisfied);
        Value::Rate {
            percent: round2(((1.0 - late - dislike) * 100.0).max(0.0)),
            numerator: satisfied.max(0),
            denominator: counted,
        }
    };
    vec![
        indicator(
            "2.1",
            "chi-so-2-1",
            "Tỷ lệ hồ sơ xử lý trước hạn, đúng hạn",
            Group::Progress,
            "Số hồ sơ đã và đang xử lý trước hạn, đúng hạn hoặc trong hạn trong kỳ ÷ tổng số hồ sơ được tiếp nhận, xử lý trong kỳ × 100%. Hồ sơ kết thúc (trả kết quả, dừng, từ chối, rút) đúng hạn khi thời điểm kết thúc không muộn hơn ngày hẹn trả; thời gian chờ công dân bổ sung không tính; yêu cầu bổ sung từ lần thứ hai tính là quá hạn; hồ sơ đang xử lý được đánh giá tại cuối kỳ (hoặc thời điểm xem); hồ sơ rút chỉ tính nếu đã được tiếp nhận.",
            None,
            20.0,
            "Nhóm Tiến độ giải quyết tối đa 20 điểm (Cổng DVCQG); chỉ số 2.1 được tính toàn bộ nhóm.",
            rate(f.on_time(), counted, NO_DOSSIER),
            None,
        ),
        indicator(
            "3.3",
            "chi-so-3-3",
            "Tỷ lệ hồ sơ trực tuyến",
            Group::OnlineService,
            "Số hồ sơ tiếp nhận trực tuyến trong kỳ (kênh 2; nếu đã trả kết quả thì phải có kết quả điện tử) ÷ tổng số hồ sơ tiếp nhận trong kỳ × tỷ lệ đồng bộ × 100%.",
            Some(50.0),
            6.0,
            ALLOCATED,
            v33,
            note33,
        ),
        indicator(
            "3.6",
            "chi-so-3-6",
            "Tỷ lệ hồ sơ thanh toán trực tuyến",
            Group::OnlinePayment,
            "Số hồ sơ đã thanh toán trực tuyến trong kỳ ÷ số hồ sơ của thủ tục có phí, lệ phí khác 0 đồng trong kỳ × 100%.",
            None,
            6.0,
            "Tối đa 6 điểm trong nhóm Thanh toán trực tuyến 10 điểm (Cổng DVCQG).",
            rate(
                c.get(M::PaidOnline),
                c.get(M::FeeDue),
                "Chưa áp dụng: chưa có hồ sơ phải nộp phí, lệ phí qua thanh toán trực tuyến trong kỳ.",
            ),
            None,
        ),
        indicator(
            "4.1",
            "chi-so-4-1",
            "Tỷ lệ cấp kết quả điện tử",
            Group::Digitisation,
            "Số hồ sơ đã trả kết quả có bản điện tử của kết quả ÷ số hồ sơ đã trả kết quả trong kỳ (thủ tục có kết quả bằng giấy) × 100%.",
            None,
            4.0,
            ALLOCATED,
            rate(
                c.get(M::ElectronicResult),
                c.get(M::DoneEarly) + c.get(M::DoneOnTime) + c.get(M::DoneLate),
                "Chưa có hồ sơ trả kết quả trong kỳ.",
            ),
            None,
        ),
        indicator(
            "4.2",
            "chi-so-4-2",
            "Tỷ lệ số hóa hồ sơ",
            Group::Digitisation,
            "Số hồ sơ được số hóa thành phần hồ sơ và có kết quả điện tử ÷ tổng số hồ sơ thuộc thẩm quyền tiếp nhận trong kỳ × 100%.",
            Some(80.0),
            6.0,
            ALLOCATED,
            rate(c.get(M::DigitisedWithResult), counted, NO_DOSSIER),
            None,
        ),
        indicator(
            "4.3",
            "chi-so-4-3",
            "Tỷ lệ khai thác, sử dụng lại dữ liệu số hóa",
            Group::Digitisation,
            "Số hồ sơ tiếp nhận trong kỳ có ít nhất một thành phần được sử dụng lại từ dữ liệu đã số hóa ÷ tổng số hồ sơ tiếp nhận trong kỳ × 100%.",
            Some(80.0),
            4.0,
            ALLOCATED,
            rate(c.get(M::Reused), received, NO_DOSSIER),
            None,
        ),
        indicator(
            "5.4",
            "chi-so-5-4",
            "Tỷ lệ hài lòng trong tiếp nhận, giải quyết TTHC",
            Group::Satisfaction,
            "100% − (tỷ lệ hồ sơ giải quyết quá hạn + tỷ lệ hồ sơ có phản ánh, kiến nghị hoặc đánh giá không hài lòng), cùng mẫu số là hồ sơ tiếp nhận, xử lý trong kỳ.",
            Some(90.0),
            6.0,
            "Tối đa 6 trong 18 điểm của nhóm Mức độ hài lòng (Cổng DVCQG).",
            v54,
            (f.rated() == 0).then(|| {
                "Chưa có đánh giá hài lòng của công dân trong kỳ: chỉ tính phần hồ sơ quá hạn."
                    .to_string()
            }),
        ),
    ]
}

/// One group's points: what the computed indicators scored, out of what they could score, and
/// the group's full maximum.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupTotal {
    pub group: Group,
    pub label: &'static str,
    pub points: f64,
    /// Sum of the maximum points of the indicators computed (and applicable).
    pub computed_max: f64,
    pub group_max: f64,
    /// Codes of the indicators included.
    pub indicators: Vec<&'static str>,
}

pub fn group_totals(indicators: &[Indicator]) -> Vec<GroupTotal> {
    Group::ALL
        .iter()
        .map(|g| {
            let mine: Vec<&Indicator> = indicators.iter().filter(|i| i.group == *g).collect();
            let applicable = mine.iter().filter(|i| i.points.is_some());
            GroupTotal {
                group: *g,
                label: g.label(),
                points: round2(applicable.clone().filter_map(|i| i.points).sum()),
                computed_max: applicable.map(|i| i.max_points).sum(),
                group_max: g.max_points(),
                indicators: mine.iter().map(|i| i.code).collect(),
            }
        })
        .collect()
}

/// A period of whole local days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Date,
    pub to: Date,
}

/// Longest period one request may ask for (ten years).
pub const MAX_PERIOD_DAYS: i64 = 3_660;

impl Period {
    pub fn from_day(&self) -> i64 {
        day_of(self.from)
    }

    pub fn to_day(&self) -> i64 {
        day_of(self.to)
    }

    /// The first UTC millisecond after the period.
    pub fn end_ms(&self) -> i64 {
        day_start_ms(self.to_day() + 1)
    }

    pub fn year(year: i16) -> Result<Period, PeriodError> {
        check_year(year)?;
        Ok(Period {
            from: Date::new(year, 1, 1).map_err(|_| PeriodError::Year)?,
            to: Date::new(year, 12, 31).map_err(|_| PeriodError::Year)?,
        })
    }

    pub fn quarter(year: i16, q: i8) -> Result<Period, PeriodError> {
        check_year(year)?;
        if !(1..=4).contains(&q) {
            return Err(PeriodError::Quarter);
        }
        let from = Date::new(year, (q - 1) * 3 + 1, 1).map_err(|_| PeriodError::Quarter)?;
        let last = Date::new(year, q * 3, 1).map_err(|_| PeriodError::Quarter)?;
        Ok(Period {
            from,
            to: last.last_of_month(),
        })
    }

    pub fn month(year: i16, m: i8) -> Result<Period, PeriodError> {
        check_year(year)?;
        let from = Date::new(year, m, 1).map_err(|_| PeriodError::Month)?;
        Ok(Period {
            from,
            to: from.last_of_month(),
        })
    }

    pub fn between(from: Date, to: Date) -> Result<Period, PeriodError> {
        check_year(from.year())?;
        check_year(to.year())?;
        if to < from {
            return Err(PeriodError::Reversed);
        }
        if day_of(to) - day_of(from) >= MAX_PERIOD_DAYS {
            return Err(PeriodError::TooLong);
        }
        Ok(Period { from, to })
    }

    /// "01/01/2026 – 31/12/2026".
    pub fn label(&self) -> String {
        format!(
            "{} – {}",
            self.from.strftime("%d/%m/%Y"),
            self.to.strftime("%d/%m/%Y")
        )
    }

    /// The calendar months the period touches, as (year, month, first day, last day) clipped to
    /// the period.
    pub fn months(&self) -> Vec<(i16, i8, i64, i64)> {
        let mut out = vec![];
        let mut first = self.from.first_of_month();
        while first <= self.to && out.len() < 200 {
            let last = first.last_of_month();
            out.push((
                first.year(),
                first.month(),
                day_of(first.max(self.from)),
                day_of(last.min(self.to)),
            ));
            match first.checked_add(jiff::Span::new().months(1)) {
                Ok(n) => first = n,
                Err(_) => break,
            }
        }
        out
    }
}

fn check_year(year: i16) -> Result<(), PeriodError> {
    if (2000..=2100).contains(&year) {
        Ok(())
    } else {
        Err(PeriodError::Year)
    }
}

/// Why a period was not accepted; the message says how to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("Năm phải là một số từ 2000 đến 2100, ví dụ 2026.")]
    Year,
    #[error("Quý phải từ 1 đến 4.")]
    Quarter,
    #[error("Tháng phải từ 1 đến 12.")]
    Month,
    #[error("Ngày phải viết theo dạng năm-tháng-ngày, ví dụ 2026-01-31.")]
    Date,
    #[error("Ngày bắt đầu phải trước hoặc bằng ngày kết thúc.")]
    Reversed,
    #[error("Khoảng thời gian dài nhất là 10 năm; hãy chọn khoảng ngắn hơn.")]
    TooLong,
}

/// A date written `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, PeriodError> {
    let s = s.trim();
    if s.len() != 10 {
        return Err(PeriodError::Date);
    }
    s.parse::<Date>().map_err(|_| PeriodError::Date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{ResultFile, file};

    const H: i64 = 3_600_000;
    const T0: i64 = 1_780_000_000_000; // 2026-05-28 20:26 UTC = 2026-05-29 03:26 in Vietnam

    fn facts(d: Dossier) -> Facts {
        Facts {
            dossier: d,
            channel: Channel::Online,
            fee_vnd: 0,
            paid_online: false,
            result_electronic: false,
            rating: None,
            reused: false,
            digitised: false,
            synced: false,
        }
    }

    fn received(due_in_h: i64) -> Dossier {
        let (mut d, _) = file(T0, None);
        d.status = DossierStatus::Received;
        d.received_at = Some(T0 + H);
        d.due_at = Some(T0 + due_in_h * H);
        d.original_due_at = d.due_at;
        d
    }

    fn done(mut d: Dossier, at: i64) -> Dossier {
        d.status = DossierStatus::Done;
        d.finished_at = Some(at);
        d
    }

    #[test]
    fn days_are_vietnamese_days() {
        // 2026-05-28 17:00 UTC is midnight in Vietnam.
        let midnight = "2026-05-28T17:00:00Z"
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .unwrap_or(0);
        assert_eq!(vn_day(midnight), day_of(Date::constant(2026, 5, 29)));
        assert_eq!(vn_day(midnight - 1), day_of(Date::constant(2026, 5, 28)));
        assert_eq!(day_start_ms(vn_day(midnight)), midnight);
        assert_eq!(
            date_of(day_of(Date::constant(2026, 12, 31))),
            Date::constant(2026, 12, 31)
        );
        assert_eq!(day_of(Date::constant(1970, 1, 2)), 1);
    }

    #[test]
    fn finished_early_on_time_late() {
        let due = 72;
        let early = metrics(&facts(done(received(due), T0 + 2 * H)));
        assert!(early.contains(Metric::DoneEarly), "{early:?}");
        assert!(!early.contains(Metric::FinishedLate));
        let same_day = metrics(&facts(done(received(due), T0 + (due - 1) * H)));
        assert!(same_day.contains(Metric::DoneOnTime));
        let late = metrics(&facts(done(received(due), T0 + (due + 1) * H)));
        assert!(late.contains(Metric::DoneLate) && late.contains(Metric::FinishedLate));
        for s in [early, same_day, late] {
            assert!(s.contains(Metric::ReceivedOnline) && s.contains(Metric::Counted));
            assert!(!s.contains(Metric::InProgress));
        }
    }

    #[test]
    fn an_apology_does_not_move_the_appointment_judged_but_extra_time_does() {
        let mut d = received(24);
        d.due_at = Some(T0 + 100 * H);
        d.extension_count = 1;
        let s = metrics(&facts(done(d.clone(), T0 + 50 * H)));
        assert!(s.contains(Metric::DoneLate) && s.contains(Metric::Extended));
        d.original_due_at = Some(T0 + 100 * H); // lawful extra time moved it
        let s = metrics(&facts(done(d, T0 + 50 * H)));
        assert!(s.contains(Metric::DoneEarly));
    }

    #[test]
    fn a_second_supplement_request_is_late() {
        let mut d = received(72);
        d.supplement_count = 1;
        assert!(metrics(&facts(done(d.clone(), T0 + 2 * H))).contains(Metric::DoneEarly));
        d.supplement_count = 2;
        let s = metrics(&facts(done(d.clone(), T0 + 2 * H)));
        assert!(s.contains(Metric::DoneLate) && s.contains(Metric::Supplemented));
        // Still waiting for the second supplement: overdue already.
        d.status = DossierStatus::AwaitingSupplement;
        d.paused_at = Some(T0 + 2 * H);
        assert!(metrics(&facts(d.clone())).contains(Metric::Awaiting));
        assert!(open_is_late(&d, T0 + 3 * H));
        d.supplement_count = 1;
        assert!(!open_is_late(&d, T0 + 1000 * H), "the clock is stopped");
    }

    #[test]
    fn refused_stopped_withdrawn() {
        let (mut d, _) = file(T0, Some(T0 + 72 * H));
        d.status = DossierStatus::Withdrawn;
        d.finished_at = Some(T0 + H);
        let s = metrics(&facts(d));
        assert!(s.contains(Metric::Withdrawn) && !s.contains(Metric::Counted));
        let mut d = received(72);
        d.status = DossierStatus::Withdrawn;
        d.finished_at = Some(T0 + 2 * H);
        assert!(metrics(&facts(d)).contains(Metric::Counted));
        let (mut d, _) = file(T0, Some(T0 + 72 * H));
        d.status = DossierStatus::Refused;
        d.finished_at = Some(T0 + H);
        let s = metrics(&facts(d));
        assert!(s.contains(Metric::Refused) && s.contains(Metric::Counted));
        let mut d = received(2);
        d.status = DossierStatus::Stopped;
        d.finished_at = Some(T0 + 5 * H);
        let s = metrics(&facts(d));
        assert!(s.contains(Metric::Stopped) && s.contains(Metric::FinishedLate));
    }

    #[test]
    fn facts_of_other_features() {
        let mut f = facts(done(received(72), T0 + 2 * H));
        f.dossier.result = Some(ResultFile {
            key: "k".into(),
            name: "kq.pdf".into(),
        });
        f.fee_vnd = 8000;
        f.paid_online = true;
        f.reused = true;
        f.rating = Some(Rating::Dissatisfied);
        let s = metrics(&f);
        for m in [
            Metric::FeeDue,
            Metric::PaidOnline,
            Metric::ElectronicResult,
            Metric::OnlineCounted,
            Metric::Digitised,
            Metric::DigitisedWithResult,
            Metric::Reused,
            Metric::RatedDissatisfied,
        ] {
            assert!(s.contains(m), "{m:?}");
        }
        // Done at the desk without an electronic result: not an online dossier for 3.3.
        let mut f = facts(done(received(72), T0 + 2 * H));
        assert!(!metrics(&f).contains(Metric::OnlineCounted));
        f.channel = Channel::Direct;
        let s = metrics(&f);
        assert!(s.contains(Metric::ReceivedDirect) && !s.contains(Metric::Digitised));
    }

    #[test]
    fn deltas_move_counts() {
        let a = MetricSet::default()
            .with(Metric::ReceivedOnline)
            .with(Metric::InProgress);
        let b = MetricSet::default()
            .with(Metric::ReceivedOnline)
            .with(Metric::DoneOnTime);
        assert_eq!(delta(Some((5, a)), (5, a)), vec![]);
        let d = delta(Some((5, a)), (5, b));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].1.get(Metric::ReceivedOnline), 0);
        assert_eq!(d[0].1.get(Metric::InProgress), -1);
        assert_eq!(d[0].1.get(Metric::DoneOnTime), 1);
        assert_eq!(
            month_of_day(day_of(Date::constant(2026, 3, 31))),
            2026 * 12 + 2
        );
        assert_eq!(year_month(2026 * 12 + 2), (2026, 3));
        assert_eq!(delta(None, (5, a))[0].1.get(Metric::InProgress), 1);
        assert_eq!(delta(Some((4, a)), (5, b)).len(), 2);
    }

    #[test]
    fn indicators_and_scores() {
        assert_eq!(score(85.0, Some(80.0), 6.0), 6.0);
        assert_eq!(score(40.0, Some(80.0), 6.0), 3.0);
        assert_eq!(score(50.0, None, 20.0), 10.0);
        let mut c = Counts::default();
        c.set(Metric::ReceivedOnline, 8);
        c.set(Metric::ReceivedDirect, 2);
        c.set(Metric::Counted, 10);
        c.set(Metric::OnlineCounted, 6);
        c.set(Metric::FinishedLate, 1);
        c.set(Metric::InProgress, 3);
        c.set(Metric::RatedDissatisfied, 1);
        let f = Figures {
            counts: c,
            in_progress_late: 1,
            awaiting_late: 0,
        };
        assert_eq!(f.in_progress_on_time(), 2);
        let ind = indicators(&f);
        let get = |code: &str| ind.iter().find(|i| i.code == code).cloned();
        let v = |code: &str| match get(code).map(|i| i.value) {
            Some(Value::Rate { percent, .. }) => Some(percent),
            _ => None,
        };
        assert_eq!(v("2.1"), Some(80.0));
        assert_eq!(get("2.1").and_then(|i| i.points), Some(16.0));
        assert_eq!(v("3.3"), Some(60.0));
        assert_eq!(get("3.3").and_then(|i| i.points), Some(6.0));
        assert_eq!(v("3.6"), None, "no fee: not applicable");
        assert_eq!(v("5.4"), Some(70.0));
        assert_eq!(get("5.4").and_then(|i| i.points), Some(4.67));
        let groups = group_totals(&ind);
        let progress = &groups[0];
        assert_eq!((progress.points, progress.group_max), (16.0, 20.0));
        let pay = groups.iter().find(|g| g.group == Group::OnlinePayment);
        assert_eq!(pay.map(|g| g.computed_max), Some(0.0));
    }

    #[test]
    fn periods() {
        let q = Period::quarter(2026, 4).expect("q4");
        assert_eq!(q.from, Date::constant(2026, 10, 1));
        assert_eq!(q.to, Date::constant(2026, 12, 31));
        assert_eq!(
            Period::month(2026, 2).map(|p| p.to),
            Ok(Date::constant(2026, 2, 28))
        );
        assert_eq!(Period::year(2026).map(|p| p.months().len()), Ok(12));
        assert_eq!(Period::month(2026, 13), Err(PeriodError::Month));
        assert_eq!(Period::year(1999), Err(PeriodError::Year));
        assert_eq!(parse_date("2026-13-01"), Err(PeriodError::Date));
        assert_eq!(
            Period::between(Date::constant(2026, 2, 1), Date::constant(2026, 1, 1)),
            Err(PeriodError::Reversed)
        );
        let p = Period::between(Date::constant(2026, 1, 15), Date::constant(2026, 3, 2))
            .expect("range");
        let m = p.months();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].2, day_of(Date::constant(2026, 1, 15)));
        assert_eq!(m[2].3, day_of(Date::constant(2026, 3, 2)));
        assert_eq!(p.end_ms(), day_start_ms(day_of(Date::constant(2026, 3, 3))));
    }

    #[test]
    fn columns_are_unique_and_bits_distinct() {
        let mut cols: Vec<&str> = Metric::ALL.iter().map(|m| m.column()).collect();
        cols.sort();
        cols.dedup();
        assert_eq!(cols.len(), Metric::ALL.len());
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(*m as usize, i);
            assert_eq!(m.bit() as usize, i);
        }
    }
}
