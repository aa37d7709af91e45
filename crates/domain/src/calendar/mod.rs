//! Working-day calendar: the Vietnamese lunar calendar at UTC+7, public holidays and deadlines.
//!
//! - [`lunar`]: solar ↔ lunar conversion (Hồ Ngọc Đức's published rules, computed at UTC+7).
//! - [`holidays`]: the holidays of Bộ luật Lao động 2019 Điều 112 and the yearly decisions
//!   (days off, swapped working Saturdays) that override them, as data.
//! - [`deadline`]: due dates for periods in working days or working hours (Bộ luật Dân sự 2015
//!   Điều 147–148), with cut-off hours and pauses.
//!
//! [`WorkingCalendar`] puts them together. It is pure: decisions are passed in (the shipped ones
//! are embedded at compile time), and every function takes the time it needs as an argument.

pub mod deadline;
pub mod holidays;
pub mod lunar;

pub use deadline::{DeadlinePolicy, DeadlineRule, format_vn_datetime};
pub use holidays::{
    DecisionDay, DecisionError, HolidayRule, RuleHoliday, YearDecisions, rule_holidays,
    shipped_decisions,
};
pub use lunar::{LunarDate, lunar_to_solar, solar_to_lunar};

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The time zone of every local date and time here.
pub const TZ: &str = "Asia/Ho_Chi_Minh";

/// Vietnam's time zone (falls back to a fixed UTC+7 if the bundled database lacks it).
pub fn vn_tz() -> TimeZone {
    TimeZone::get(TZ).unwrap_or_else(|_| jiff::tz::offset(7).to_time_zone())
}

/// The days of the week an agency works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkWeek {
    /// Bit `n` set = ISO weekday `n + 1` (Monday = bit 0) is a working day.
    mask: u8,
}

impl WorkWeek {
    const MONDAY_TO_FRIDAY: u8 = 0b001_1111;

    /// From ISO weekday numbers (1 = Monday … 7 = Sunday); values outside 1..=7 are ignored.
    /// An empty list (or one with no valid day) means Monday to Friday.
    pub fn from_iso_days(days: &[u8]) -> WorkWeek {
        let mask = days
            .iter()
            .filter(|d| (1..=7).contains(*d))
            .fold(0u8, |m, d| m | (1 << (d - 1)));
        WorkWeek {
            mask: if mask == 0 {
                Self::MONDAY_TO_FRIDAY
            } else {
                mask
            },
        }
    }

    pub fn contains(&self, weekday: Weekday) -> bool {
        let bit = weekday.to_monday_zero_offset();
        self.mask & (1 << bit) != 0
    }

    /// The working days as ISO weekday numbers, ascending.
    pub fn iso_days(&self) -> Vec<u8> {
        (1..=7u8)
            .filter(|d| self.mask & (1 << (d - 1)) != 0)
            .collect()
    }
}

impl Default for WorkWeek {
    fn default() -> Self {
        WorkWeek {
            mask: Self::MONDAY_TO_FRIDAY,
        }
    }
}

/// Daily office hours: one or more sessions, e.g. 07:30–11:30 and 13:30–17:00 (the default).
/// Working-hour periods count only time inside the sessions; a period in days ends at the close
/// of the last session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeHours {
    /// Sessions as seconds after midnight, sorted, non-empty, non-overlapping.
    sessions: Vec<(i64, i64)>,
}

/// Invalid office hours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfficeHoursError {
    #[error(
        "Giờ làm việc phải có ít nhất một buổi, mỗi buổi kết thúc sau khi bắt đầu và các buổi không chồng lên nhau (ví dụ 07:30–11:30, 13:30–17:00)."
    )]
    Invalid,
}

pub(crate) fn seconds_of(t: Time) -> i64 {
    i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
}

pub(crate) fn time_of(seconds: i64) -> Time {
    let s = seconds.clamp(0, 86_399);
    Time::new((s / 3600) as i8, (s / 60 % 60) as i8, (s % 60) as i8, 0).unwrap_or(Time::MIN)
}

impl OfficeHours {
    /// Sessions as (start, end) local times, in order.
    pub fn new(sessions: &[(Time, Time)]) -> Result<Self, OfficeHoursError> {
        let v: Vec<(i64, i64)> = sessions
            .iter()
            .map(|(s, e)| (seconds_of(*s), seconds_of(*e)))
            .collect();
        let ordered = v.iter().all(|(s, e)| s < e) && v.windows(2).all(|w| w[0].1 <= w[1].0);
        if v.is_empty() || !ordered {
            return Err(OfficeHoursError::Invalid);
        }
        Ok(Self { sessions: v })
    }

    pub fn sessions(&self) -> Vec<(Time, Time)> {
        self.sessions
            .iter()
            .map(|(s, e)| (time_of(*s), time_of(*e)))
            .collect()
    }

    /// Opening time of the first session.
    pub fn opening(&self) -> Time {
        time_of(self.sessions.first().map_or(0, |s| s.0))
    }

    /// Closing time of the last session (the end of a working day).
    pub fn closing(&self) -> Time {
        time_of(self.sessions.last().map_or(86_399, |s| s.1))
    }

    /// Office time in one working day.
    pub fn daily(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs(self.sessions.iter().map(|(s, e)| e - s).sum())
    }

    pub(crate) fn raw(&self) -> &[(i64, i64)] {
        &self.sessions
    }
}

impl Default for OfficeHours {
    fn default() -> Self {
        Self {
            sessions: vec![
                (7 * 3600 + 30 * 60, 11 * 3600 + 30 * 60),
                (13 * 3600 + 30 * 60, 17 * 3600),
            ],
        }
    }
}

/// Days off and explicit working days of one solar year, all rules and decisions applied.
#[derive(Debug, Clone, Default)]
struct YearDays {
    off: BTreeMap<Date, String>,
    work: BTreeMap<Date, String>,
}

/// Years whose computed days are cached (computed lazily on first use).
const CACHE_FIRST_YEAR: i16 = 1900;
const CACHE_YEARS: usize = 201;

/// The public-holiday calendar (rules + yearly decisions) with office hours.
#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    decisions: BTreeMap<i16, YearDecisions>,
    office: OfficeHours,
    tz: TimeZone,
    cache: Vec<OnceLock<YearDays>>,
}

impl WorkingCalendar {
    /// The rules plus these decisions. When several decisions are for the same year, the last one
    /// wins (so pass shipped decisions first, then administrators' files).
    pub fn new(decisions: Vec<YearDecisions>) -> Self {
        let mut map = BTreeMap::new();
        for d in decisions {
            map.insert(d.year, d);
        }
        Self {
            decisions: map,
            office: OfficeHours::default(),
            tz: vn_tz(),
            cache: (0..CACHE_YEARS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The rules plus the decisions shipped in `catalog/calendar/`.
    pub fn shipped() -> Self {
        Self::new(shipped_decisions())
    }

    /// Replaces the office hours (default 07:30–11:30 and 13:30–17:00).
    pub fn with_office_hours(mut self, office: OfficeHours) -> Self {
        self.office = office;
        self
    }

    pub fn office_hours(&self) -> &OfficeHours {
        &self.office
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The decision in force for `year`, if any.
    pub fn decision(&self, year: i16) -> Option<&YearDecisions> {
        self.decisions.get(&year)
    }

    /// Years that have a decision.
    pub fn decision_years(&self) -> Vec<i16> {
        self.decisions.keys().copied().collect()
    }

    fn year_days(&self, year: i16) -> Cow<'_, YearDays> {
        let slot = usize::try_from(i32::from(year) - i32::from(CACHE_FIRST_YEAR))
            .ok()
            .and_then(|i| self.cache.get(i));
        match slot {
            Some(cell) => Cow::Borrowed(cell.get_or_init(|| self.compute_year(year))),
            None => Cow::Owned(self.compute_year(year)),
        }
    }

    fn compute_year(&self, year: i16) -> YearDays {
        let decision = self.decisions.get(&year);
        let rules: Vec<RuleHoliday> = rule_holidays(year)
            .into_iter()
            .filter(|h| !decision.is_some_and(|d| d.replaces(h.rule)))
            .collect();
        let mut decided_off = BTreeMap::new();
        let mut work = BTreeMap::new();
        let neighbours = [year.checked_sub(1), Some(year), year.checked_add(1)];
        for d in neighbours
            .into_iter()
            .flatten()
            .filter_map(|y| self.decisions.get(&y))
        {
            for day in d.days_off.iter().filter(|x| x.date.year() == year) {
                decided_off.insert(day.date, day.name.clone());
            }
            for day in d.working_days.iter().filter(|x| x.date.year() == year) {
                work.insert(day.date, day.name.clone());
            }
        }

        // Rule days, then compensatory days on the Monday–Friday week: a holiday that does not
        // take a weekday of its own (weekend, or a date shared with another holiday) gives the
        // next weekday that is no other day off.
        let occupied: BTreeSet<Date> = rules
            .iter()
            .map(|h| h.date)
            .chain(decided_off.keys().copied())
            .collect();
        let mut taken = BTreeSet::new();
        let mut off: BTreeMap<Date, String> = BTreeMap::new();
        for h in &rules {
            off.entry(h.date)
                .and_modify(|n| {
                    n.push_str("; ");
                    n.push_str(&h.name);
                })
                .or_insert_with(|| h.name.clone());
            if !holidays::is_weekend(h.date) && taken.insert(h.date) {
                continue;
            }
            let mut day = h.date.tomorrow().ok();
            for _ in 0..60 {
                let Some(d) = day else { break };
                if !holidays::is_weekend(d)
                    && !occupied.contains(&d)
                    && !taken.contains(&d)
                    && !work.contains_key(&d)
                {
                    taken.insert(d);
                    if d.year() == year {
                        let base = h.name.split(" (").next().unwrap_or(&h.name);
                        off.insert(d, format!("Nghỉ bù {base} ({})", h.date.strftime("%d/%m")));
                    }
                    break;
                }
                day = d.tomorrow().ok();
            }
        }
        off.extend(decided_off);
        for d in work.keys() {
            off.remove(d);
        }
        YearDays { off, work }
    }

    /// Public days off of `year`, sorted: rule-based holidays (also those on a weekend),
    /// compensatory days, and the days off of decisions, minus decided working days.
    pub fn holidays(&self, year: i16) -> Vec<(Date, String)> {
        self.year_days(year)
            .off
            .iter()
            .map(|(d, n)| (*d, n.clone()))
            .collect()
    }

    /// Days a decision turns into working days in `year` (e.g. swapped Saturdays), sorted.
    pub fn extra_working_days(&self, year: i16) -> Vec<(Date, String)> {
        self.year_days(year)
            .work
            .iter()
            .map(|(d, n)| (*d, n.clone()))
            .collect()
    }

    /// The name of the public day off on `date`, if it is one.
    pub fn holiday_name(&self, date: Date) -> Option<String> {
        self.year_days(date.year()).off.get(&date).cloned()
    }

    /// Whether `date` is a working day for an agency working `week`: not a public day off, and
    /// either in the agency's week or a working day by decision (a swapped Saturday).
    pub fn is_working_day(&self, date: Date, week: &WorkWeek) -> bool {
        let y = self.year_days(date.year());
        if y.off.contains_key(&date) {
            return false;
        }
        y.work.contains_key(&date) || week.contains(date.weekday())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn days(cal: &WorkingCalendar, year: i16) -> Vec<String> {
        cal.holidays(year)
            .into_iter()
            .map(|(d, n)| format!("{d} {n}"))
            .collect()
    }

    #[test]
    fn work_week() {
        let w = WorkWeek::default();
        assert!(w.contains(Weekday::Friday) && !w.contains(Weekday::Saturday));
        assert_eq!(WorkWeek::from_iso_days(&[]), w);
        assert_eq!(WorkWeek::from_iso_days(&[0, 8]), w);
        let six = WorkWeek::from_iso_days(&[1, 2, 3, 4, 5, 6]);
        assert!(six.contains(Weekday::Saturday) && !six.contains(Weekday::Sunday));
        assert_eq!(six.iso_days(), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn office_hours() {
        let o = OfficeHours::default();
        assert_eq!(o.opening(), Time::constant(7, 30, 0, 0));
        assert_eq!(o.closing(), Time::constant(17, 0, 0, 0));
        assert_eq!(o.daily(), jiff::SignedDuration::from_mins(450));
        assert!(OfficeHours::new(&[]).is_err());
        assert!(
            OfficeHours::new(&[
                (Time::constant(8, 0, 0, 0), Time::constant(12, 0, 0, 0)),
                (Time::constant(11, 0, 0, 0), Time::constant(17, 0, 0, 0)),
            ])
            .is_err()
        );
    }

    #[test]
    fn vn_time_zone() {
        assert_eq!(vn_tz().iana_name(), Some(TZ));
    }

    #[test]
    fn rule_based_2024() {
        let cal = WorkingCalendar::new(vec![]);
        assert_eq!(
            days(&cal, 2024),
            vec![
                "2024-01-01 Tết Dương lịch",
                "2024-02-09 Tết Nguyên Đán (30 tháng Chạp)",
                "2024-02-10 Tết Nguyên Đán (mùng 1 tháng Giêng)",
                "2024-02-11 Tết Nguyên Đán (mùng 2 tháng Giêng)",
                "2024-02-12 Tết Nguyên Đán (mùng 3 tháng Giêng)",
                "2024-02-13 Tết Nguyên Đán (mùng 4 tháng Giêng)",
                "2024-02-14 Nghỉ bù Tết Nguyên Đán (10/02)",
                "2024-02-15 Nghỉ bù Tết Nguyên Đán (11/02)",
                "2024-04-18 Giỗ Tổ Hùng Vương (10/3 âm lịch)",
                "2024-04-30 Ngày Chiến thắng",
                "2024-05-01 Ngày Quốc tế Lao động",
                "2024-09-02 Quốc khánh",
                "2024-09-03 Quốc khánh (ngày liền kề)",
            ]
        );
    }

    #[test]
    fn shipped_2025_and_2026() {
        let cal = WorkingCalendar::shipped();
        let h25 = cal.holidays(2025);
        let tet: Vec<Date> = h25
            .iter()
            .filter(|(_, n)| n.contains("Tết Nguyên Đán"))
            .map(|(d, _)| *d)
            .collect();
        assert_eq!(tet.first(), Some(&date(2025, 1, 25)));
        assert_eq!(tet.last(), Some(&date(2025, 2, 2)));
        assert_eq!(tet.len(), 9);
        // The rule-based compensatory day for mùng 4 (Sat 01/02) is replaced by the decision.
        assert!(cal.is_working_day(date(2025, 2, 3), &WorkWeek::default()));
        assert!(cal.holiday_name(date(2025, 5, 2)).is_some());
        assert!(cal.is_working_day(date(2025, 4, 26), &WorkWeek::default()));
        assert_eq!(
            cal.extra_working_days(2025),
            vec![(
                date(2025, 4, 26),
                "Làm bù cho thứ Sáu 02/05/2025".to_string()
            )]
        );
        assert!(!cal.is_working_day(date(2025, 9, 1), &WorkWeek::default()));

        let h26 = days(&cal, 2026);
        assert_eq!(
            h26,
            vec![
                "2026-01-01 Tết Dương lịch",
                "2026-02-14 Nghỉ Tết Nguyên Đán Bính Ngọ",
                "2026-02-15 Nghỉ Tết Nguyên Đán Bính Ngọ",
                "2026-02-16 Nghỉ Tết Nguyên Đán Bính Ngọ",
                "2026-02-17 Nghỉ Tết Nguyên Đán Bính Ngọ",
                "2026-02-18 Nghỉ Tết Nguyên Đán Bính Ngọ",
                "2026-02-19 Nghỉ Tết Nguyên Đán Bính Ngọ",
                "2026-02-20 Nghỉ Tết Nguyên Đán Bính Ngọ",
                "2026-02-21 Nghỉ Tết Nguyên Đán Bính Ngọ",
                "2026-02-22 Nghỉ Tết Nguyên Đán Bính Ngọ",
                "2026-04-26 Giỗ Tổ Hùng Vương (10/3 âm lịch)",
                "2026-04-27 Nghỉ bù Giỗ Tổ Hùng Vương (26/04)",
                "2026-04-30 Ngày Chiến thắng",
                "2026-05-01 Ngày Quốc tế Lao động",
                "2026-09-01 Quốc khánh (ngày liền kề)",
                "2026-09-02 Quốc khánh",
            ]
        );
        assert!(cal.is_working_day(date(2026, 2, 23), &WorkWeek::default()));
    }

    #[test]
    fn compensatory_day_for_30_4_on_weekend_and_for_coinciding_holidays() {
        let cal = WorkingCalendar::new(vec![]);
        // 2027: 30/4 is a Friday, 1/5 a Saturday → Monday 03/05 off.
        assert_eq!(
            cal.holiday_name(date(2027, 5, 3)).as_deref(),
            Some("Nghỉ bù Ngày Quốc tế Lao động (01/05)")
        );
        // 2028: 1/1 is a Saturday → Monday 03/01 off.
        assert!(cal.holiday_name(date(2028, 1, 3)).is_some());
        // A decision day off is skipped when looking for the compensatory day.
        let d = YearDecisions::from_toml(
            "year = 2027\n[[days_off]]\ndate = 2027-05-03\nname = \"Nghỉ theo quyết định\"",
        )
        .expect("valid");
        let cal = WorkingCalendar::new(vec![d]);
        assert_eq!(
            cal.holiday_name(date(2027, 5, 3)).as_deref(),
            Some("Nghỉ theo quyết định")
        );
        assert!(cal.holiday_name(date(2027, 5, 4)).is_some());
        // Two holidays on the same weekday: the second gets the next weekday.
        let shared = (1900..=2100i16).find_map(|y| {
            let r = rule_holidays(y);
            r.windows(2)
                .find(|w| w[0].date == w[1].date && !holidays::is_weekend(w[0].date))
                .map(|w| w[0].date)
        });
        if let Some(day) = shared {
            let cal = WorkingCalendar::new(vec![]);
            let name = cal.holiday_name(day).expect("holiday");
            assert!(name.contains("; "), "{day}: {name}");
        }
    }

    #[test]
    fn replaced_rules_and_all() {
        let d =
            YearDecisions::from_toml("year = 2027\nreplaces_rules_for = [\"all\"]").expect("valid");
        let cal = WorkingCalendar::new(vec![d]);
        assert!(cal.holidays(2027).is_empty());
        assert!(!cal.holidays(2028).is_empty());
        // Later decisions for the same year win.
        let a =
            YearDecisions::from_toml("year = 2027\nreplaces_rules_for = [\"all\"]").expect("valid");
        let cal = WorkingCalendar::new(vec![a, YearDecisions::empty(2027)]);
        assert!(!cal.holidays(2027).is_empty());
    }

    #[test]
    fn decision_days_in_neighbouring_year() {
        let d = YearDecisions::from_toml(
            "year = 2027\n[[days_off]]\ndate = 2026-12-31\nname = \"Nghỉ hoán đổi dịp Tết Dương lịch\"",
        )
        .expect("valid");
        let cal = WorkingCalendar::new(vec![d]);
        assert!(!cal.is_working_day(date(2026, 12, 31), &WorkWeek::default()));
        assert!(
            cal.holidays(2026)
                .iter()
                .any(|(d, _)| *d == date(2026, 12, 31))
        );
    }

    #[test]
    fn outside_cached_range_still_works() {
        let cal = WorkingCalendar::new(vec![]);
        assert!(!cal.is_working_day(date(2150, 1, 1), &WorkWeek::default()));
        assert_eq!(cal.holidays(2150).len(), cal.holidays(2150).len());
    }
}
