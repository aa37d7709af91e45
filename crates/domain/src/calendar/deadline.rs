//! Deadlines in working days or working hours.
//!
//! - A period of N working days starts the day after receipt (Bộ luật Dân sự 2015 Điều 147: the
//!   first day is not counted) and ends at the close of the N-th working day (Điều 148, with the
//!   office's closing time standing for the end of the day).
//! - A receipt on a non-working day, after closing time, or after the procedure's cut-off hour
//!   (e.g. 15:00 for same-day hộ tịch and chứng thực) counts as received at the opening of the
//!   next working day.
//! - `working_days = 0` with no hours means "the same working day": due at the close of the
//!   (effective) receipt day.
//! - A period in working hours counts only office time (default 07:30–11:30, 13:30–17:00) on
//!   working days, starting at the (effective) receipt.
//! - The clock can be paused (waiting for the citizen); the office time inside the pause is added
//!   back to the due date ([`WorkingCalendar::extend_for_pause`]).

use super::{WorkWeek, WorkingCalendar, time_of};
use jiff::civil::{Date, DateTime};
use jiff::{Timestamp, ZonedDateTime};

/// How long a procedure may take.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct DeadlineRule {
    /// Working days; 0 means the same working day, or a period in hours if `working_hours > 0`.
    pub working_days: u32,
    /// Working hours, used when `working_days == 0` and this is > 0.
    #[serde(default)]
    pub working_hours: u32,
    /// Receipts at or after this local hour (0–23) count from the next working day.
    #[serde(default)]
    pub cutoff_hour: Option<u8>,
}

impl DeadlineRule {
    pub const fn days(working_days: u32) -> Self {
        Self {
            working_days,
            working_hours: 0,
            cutoff_hour: None,
        }
    }

    pub const fn hours(working_hours: u32) -> Self {
        Self {
            working_days: 0,
            working_hours,
            cutoff_hour: None,
        }
    }

    /// Same working day, with an optional cut-off hour.
    pub const fn same_day(cutoff_hour: Option<u8>) -> Self {
        Self {
            working_days: 0,
            working_hours: 0,
            cutoff_hour,
        }
    }

    pub const fn with_cutoff(mut self, hour: u8) -> Self {
        self.cutoff_hour = Some(hour);
        self
    }
}

/// How an agency counts a procedure's time limit: its calendar (holidays, office hours), its
/// working week and the procedure's rule. The one place deadlines are computed from, by the
/// portal, the back office, the progress view and the CLI alike. Times are UTC milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct DeadlinePolicy<'a> {
    pub calendar: &'a WorkingCalendar,
    pub week: WorkWeek,
    pub rule: DeadlineRule,
}

impl<'a> DeadlinePolicy<'a> {
    pub fn new(calendar: &'a WorkingCalendar, week: WorkWeek, rule: DeadlineRule) -> Self {
        DeadlinePolicy {
            calendar,
            week,
            rule,
        }
    }

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// The appointment for a dossier received at `received_ms`.
    pub fn due(&self, received_ms: i64) -> i64 {
        self.calendar
            .due(Self::ts(received_ms), &self.rule, &self.week)
            .timestamp()
            .as_millisecond()
    }

    /// The appointment `due_ms` moved by the office time paused from `paused_ms` to `resumed_ms`.
    pub fn extend_for_pause(&self, due_ms: i64, paused_ms: i64, resumed_ms: i64) -> i64 {
        let due = Self::ts(due_ms).to_zoned_datetime(self.calendar.time_zone().clone());
        self.calendar
            .extend_for_pause(&due, Self::ts(paused_ms), Self::ts(resumed_ms), &self.week)
            .timestamp()
            .as_millisecond()
    }

    /// The appointment `due_ms` moved by `days` more working days: the office's closing time on
    /// the `days`-th working day after the appointment's day.
    pub fn add_working_days(&self, due_ms: i64, days: u32) -> i64 {
        self.calendar
            .add_working_days(Self::ts(due_ms), days, &self.week)
            .timestamp()
            .as_millisecond()
    }

    /// Office time between two instants, in seconds.
    pub fn office_seconds(&self, from_ms: i64, to_ms: i64) -> i64 {
        self.calendar
            .office_time_between(Self::ts(from_ms), Self::ts(to_ms), &self.week)
            .as_secs()
    }
}

/// "14:05, 28/11/2026": a UTC millisecond instant in Vietnam's local time, as pages, e-mails and
/// the timeline show it.
pub fn format_vn_datetime(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(super::vn_tz())
        .strftime("%H:%M, %d/%m/%Y")
        .to_string()
}

/// Longest period counted, in working days (about 40 years); longer periods are cut to it.
pub const MAX_WORKING_DAYS: u32 = 10_000;
/// How far to look for the next working day before giving up.
const SEARCH_DAYS: usize = 3_700;
/// Longest span walked when measuring or adding office time, in days (about 100 years).
const WALK_DAYS: usize = 36_600;

impl WorkingCalendar {
    fn local(&self, ts: Timestamp) -> DateTime {
        self.tz.to_datetime(ts)
    }

    fn zoned(&self, dt: DateTime, fallback: Timestamp) -> ZonedDateTime {
        self.tz
            .to_zoned_datetime(dt)
            .unwrap_or_else(|_| ZonedDateTime::new(fallback, self.tz.clone()))
    }

    /// The first working day after `date`, or the day after `date` if none is found within about
    /// ten years.
    pub fn next_working_day(&self, date: Date, week: &WorkWeek) -> Date {
        let mut d = date;
        for _ in 0..SEARCH_DAYS {
            match d.tomorrow() {
                Ok(next) => d = next,
                Err(_) => return d,
            }
            if self.is_working_day(d, week) {
                return d;
            }
        }
        date.tomorrow().unwrap_or(date)
    }

    /// The working day a receipt counts as received on: the receipt day itself if it is a working
    /// day and the receipt is before closing time and before the rule's cut-off hour; otherwise the
    /// next working day.
    pub fn effective_receipt_day(
        &self,
        received: Timestamp,
        rule: &DeadlineRule,
        week: &WorkWeek,
    ) -> Date {
        let (date, late) = self.receipt(received, rule);
        if !late && self.is_working_day(date, week) {
            date
        } else {
            self.next_working_day(date, week)
        }
    }

    /// Local receipt date, and whether the receipt is after closing time or the cut-off hour.
    fn receipt(&self, received: Timestamp, rule: &DeadlineRule) -> (Date, bool) {
        let local = self.local(received);
        let t = super::seconds_of(local.time());
        let close = super::seconds_of(self.office.closing());
        let after_cutoff = rule
            .cutoff_hour
            .filter(|h| *h < 24)
            .is_some_and(|h| t >= i64::from(h) * 3600);
        (local.date(), t >= close || after_cutoff)
    }

    /// Due date for a period of `rule` starting at receipt `received`: the close of the last
    /// working day (by the office hours), or the end of the span for a period in hours.
    pub fn due(&self, received: Timestamp, rule: &DeadlineRule, week: &WorkWeek) -> ZonedDateTime {
        if rule.working_days == 0 && rule.working_hours > 0 {
            let (date, late) = self.receipt(received, rule);
            let start = if !late && self.is_working_day(date, week) {
                self.local(received)
            } else {
                self.next_working_day(date, week)
                    .to_datetime(self.office.opening())
            };
            let end = self.add_office_seconds(start, i64::from(rule.working_hours) * 3600, week);
            return self.zoned(end, received);
        }
        let mut day = self.effective_receipt_day(received, rule, week);
        for _ in 0..rule.working_days.min(MAX_WORKING_DAYS) {
            day = self.next_working_day(day, week);
        }
        self.zoned(day.to_datetime(self.office.closing()), received)
    }

    /// `due` moved by `days` more working days (a lawful extension of the time limit): the
    /// close of the `days`-th working day after its day.
    pub fn add_working_days(&self, due: Timestamp, days: u32, week: &WorkWeek) -> ZonedDateTime {
        let mut day = self.local(due).date();
        for _ in 0..days.min(MAX_WORKING_DAYS) {
            day = self.next_working_day(day, week);
        }
        self.zoned(day.to_datetime(self.office.closing()), due)
    }

    /// Moves a due date after the clock was paused from `paused_at` to `resumed_at`: the office
    /// time on working days inside the pause is added to the due date. A pause outside office
    /// time (or an empty or reversed one) leaves the due date unchanged.
    pub fn extend_for_pause(
        &self,
        due: &ZonedDateTime,
        paused_at: Timestamp,
        resumed_at: Timestamp,
        week: &WorkWeek,
    ) -> ZonedDateTime {
        let lost = self.office_seconds_between(paused_at, resumed_at, week);
        if lost <= 0 {
            return due.clone();
        }
        let end = self.add_office_seconds(self.local(due.timestamp()), lost, week);
        self.zoned(end, due.timestamp())
    }

    /// Office time on working days between two instants (zero if `to <= from`).
    pub fn office_time_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        week: &WorkWeek,
    ) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs(self.office_seconds_between(from, to, week))
    }

    fn office_seconds_between(&self, from: Timestamp, to: Timestamp, week: &WorkWeek) -> i64 {
        if to <= from {
            return 0;
        }
        let (a, b) = (self.local(from), self.local(to));
        let mut total = 0;
        let mut date = a.date();
        for _ in 0..WALK_DAYS {
            if date > b.date() {
                break;
            }
            if self.is_working_day(date, week) {
                let lo = if date == a.date() {
                    super::seconds_of(a.time())
                } else {
                    0
                };
                let hi = if date == b.date() {
                    super::seconds_of(b.time())
                } else {
                    86_400
                };
                for (s, e) in self.office.raw() {
                    let (x, y) = ((*s).max(lo), (*e).min(hi));
                    if y > x {
                        total += y - x;
                    }
                }
            }
            match date.tomorrow() {
                Ok(d) => date = d,
                Err(_) => break,
            }
        }
        total
    }

    /// The local time reached after `seconds` of office time on working days from `start`.
    /// When the time runs out exactly at the end of a session, that end is returned.
    fn add_office_seconds(&self, start: DateTime, seconds: i64, week: &WorkWeek) -> DateTime {
        if seconds <= 0 {
            return start;
        }
        let mut remaining = seconds;
        let mut date = start.date();
        let mut from = super::seconds_of(start.time());
        for _ in 0..WALK_DAYS {
            if self.is_working_day(date, week) {
                for (s, e) in self.office.raw() {
                    if *e <= from {
                        continue;
                    }
                    let begin = (*s).max(from);
                    let available = e - begin;
                    if remaining <= available {
                        return date.to_datetime(time_of(begin + remaining));
                    }
                    remaining -= available;
                }
            }
            match date.tomorrow() {
                Ok(d) => date = d,
                Err(_) => break,
            }
            from = 0;
        }
        date.to_datetime(self.office.closing())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{WorkWeek, WorkingCalendar, YearDecisions};
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("RFC 3339")
    }

    fn show(z: &ZonedDateTime) -> String {
        z.strftime("%Y-%m-%d %H:%M").to_string()
    }

    fn week() -> WorkWeek {
        WorkWeek::default()
    }

    #[test]
    fn same_day_with_cutoff() {
        let cal = WorkingCalendar::new(vec![]);
        let rule = DeadlineRule::same_day(Some(15));
        // Wed 14/04/2027.
        let due = cal.due(at("2027-04-14T14:59:00+07:00"), &rule, &week());
        assert_eq!(show(&due), "2027-04-14 17:00");
        let due = cal.due(at("2027-04-14T15:30:00+07:00"), &rule, &week());
        assert_eq!(show(&due), "2027-04-15 17:00");
        // Thu 15/04/2027 after 15:00: Fri 16/04 is Giỗ Tổ Hùng Vương → Mon 19/04.
        let due = cal.due(at("2027-04-15T15:00:00+07:00"), &rule, &week());
        assert_eq!(show(&due), "2027-04-19 17:00");
        // Without a cut-off, a receipt before closing is the same day.
        let due = cal.due(
            at("2027-04-14T16:30:00+07:00"),
            &DeadlineRule::same_day(None),
            &week(),
        );
        assert_eq!(show(&due), "2027-04-14 17:00");
        // The cut-off applies to day periods too.
        let due = cal.due(
            at("2027-04-13T15:30:00+07:00"),
            &DeadlineRule::days(1).with_cutoff(15),
            &week(),
        );
        assert_eq!(show(&due), "2027-04-15 17:00");
    }

    #[test]
    fn counting_starts_the_day_after_receipt() {
        let cal = WorkingCalendar::new(vec![]);
        // Wed 14/04/2027 10:00 + 1 → Thu 15/04; + 2 → Mon 19/04 (Fri is Giỗ Tổ).
        let received = at("2027-04-14T10:00:00+07:00");
        assert_eq!(
            show(&cal.due(received, &DeadlineRule::days(1), &week())),
            "2027-04-15 17:00"
        );
        assert_eq!(
            show(&cal.due(received, &DeadlineRule::days(2), &week())),
            "2027-04-19 17:00"
        );
        // UTC input is converted to Vietnam time: 2027-04-14T01:00Z is 08:00 local.
        assert_eq!(
            show(&cal.due(at("2027-04-14T01:00:00Z"), &DeadlineRule::days(1), &week())),
            "2027-04-15 17:00"
        );
        // Before opening on a working day: that day is the receipt day.
        assert_eq!(
            show(&cal.due(
                at("2027-04-14T06:00:00+07:00"),
                &DeadlineRule::days(1),
                &week()
            )),
            "2027-04-15 17:00"
        );
        // After closing: received the next working day, counted from the day after.
        assert_eq!(
            show(&cal.due(
                at("2027-04-14T18:00:00+07:00"),
                &DeadlineRule::days(1),
                &week()
            )),
            "2027-04-19 17:00"
        );
        // On a Saturday: received Monday, due Tuesday for one day.
        assert_eq!(
            show(&cal.due(
                at("2027-04-10T09:00:00+07:00"),
                &DeadlineRule::days(1),
                &week()
            )),
            "2027-04-13 17:00"
        );
    }

    #[test]
    fn across_tet_2026() {
        let cal = WorkingCalendar::shipped();
        // Fri 13/02/2026; off 14–22/02; 3 working days → Mon 23, Tue 24, Wed 25.
        let due = cal.due(
            at("2026-02-13T10:00:00+07:00"),
            &DeadlineRule::days(3),
            &week(),
        );
        assert_eq!(show(&due), "2026-02-25 17:00");
        // Received during Tết: counts from Mon 23/02, so 1 day → Tue 24/02.
        let due = cal.due(
            at("2026-02-18T10:00:00+07:00"),
            &DeadlineRule::days(1),
            &week(),
        );
        assert_eq!(show(&due), "2026-02-24 17:00");
    }

    #[test]
    fn across_30_4_and_1_5_with_compensatory_day() {
        let cal = WorkingCalendar::shipped();
        // 2027: Fri 30/04, Sat 01/05 → compensatory Mon 03/05.
        let due = cal.due(
            at("2027-04-29T10:00:00+07:00"),
            &DeadlineRule::days(2),
            &week(),
        );
        assert_eq!(show(&due), "2027-05-05 17:00");
    }

    #[test]
    fn across_swapped_saturday_2025() {
        let cal = WorkingCalendar::shipped();
        let received = at("2025-04-25T10:00:00+07:00"); // Friday
        let due = |n| show(&cal.due(received, &DeadlineRule::days(n), &week()));
        assert_eq!(due(1), "2025-04-26 17:00"); // Saturday worked in exchange
        assert_eq!(due(2), "2025-04-28 17:00");
        assert_eq!(due(3), "2025-04-29 17:00");
        // 30/4, 1/5, 2/5 (swapped) off, then the weekend.
        assert_eq!(due(4), "2025-05-05 17:00");
        // Received on the swapped Saturday itself: that is a working day.
        assert_eq!(
            cal.effective_receipt_day(
                at("2025-04-26T09:00:00+07:00"),
                &DeadlineRule::days(1),
                &week()
            ),
            date(2025, 4, 26)
        );
    }

    #[test]
    fn agency_working_saturdays() {
        let cal = WorkingCalendar::new(vec![]);
        let six = WorkWeek::from_iso_days(&[1, 2, 3, 4, 5, 6]);
        // Fri 09/04/2027 + 1 → Sat 10/04 for a Monday–Saturday agency.
        let due = cal.due(
            at("2027-04-09T10:00:00+07:00"),
            &DeadlineRule::days(1),
            &six,
        );
        assert_eq!(show(&due), "2027-04-10 17:00");
    }

    #[test]
    fn working_hours() {
        let cal = WorkingCalendar::new(vec![]);
        // Mon 12/04/2027 10:00 + 8 h: 1.5 h + 3.5 h today, 3 h tomorrow → Tue 10:30.
        let due = cal.due(
            at("2027-04-12T10:00:00+07:00"),
            &DeadlineRule::hours(8),
            &week(),
        );
        assert_eq!(show(&due), "2027-04-13 10:30");
        // Received at lunch: counts from 13:30.
        let due = cal.due(
            at("2027-04-12T12:00:00+07:00"),
            &DeadlineRule::hours(2),
            &week(),
        );
        assert_eq!(show(&due), "2027-04-12 15:30");
        // Ending exactly at closing time stays on that day.
        let due = cal.due(
            at("2027-04-12T14:00:00+07:00"),
            &DeadlineRule::hours(3),
            &week(),
        );
        assert_eq!(show(&due), "2027-04-12 17:00");
        // Received Friday evening: from Monday 07:30.
        let due = cal.due(
            at("2027-04-09T18:00:00+07:00"),
            &DeadlineRule::hours(4),
            &week(),
        );
        assert_eq!(show(&due), "2027-04-12 11:30");
        // With a cut-off hour.
        let due = cal.due(
            at("2027-04-12T15:10:00+07:00"),
            &DeadlineRule::hours(1).with_cutoff(15),
            &week(),
        );
        assert_eq!(show(&due), "2027-04-13 08:30");
    }

    #[test]
    fn pause_and_resume() {
        let cal = WorkingCalendar::new(vec![]);
        let received = at("2027-04-05T10:00:00+07:00"); // Monday
        let due = cal.due(received, &DeadlineRule::days(3), &week());
        assert_eq!(show(&due), "2027-04-08 17:00");
        // Paused Tue 10:00 → Wed 10:00: one full office day (7.5 h) → due moves to Fri 17:00.
        let moved = cal.extend_for_pause(
            &due,
            at("2027-04-06T10:00:00+07:00"),
            at("2027-04-07T10:00:00+07:00"),
            &week(),
        );
        assert_eq!(show(&moved), "2027-04-09 17:00");
        // Paused over the weekend only: nothing to add.
        let same = cal.extend_for_pause(
            &due,
            at("2027-04-09T17:30:00+07:00"),
            at("2027-04-12T07:00:00+07:00"),
            &week(),
        );
        assert_eq!(same, due);
        // Reversed interval: unchanged.
        let same = cal.extend_for_pause(
            &due,
            at("2027-04-07T10:00:00+07:00"),
            at("2027-04-06T10:00:00+07:00"),
            &week(),
        );
        assert_eq!(same, due);
        // Two office hours paused: due moves into the next working day's morning, skipping
        // Giỗ Tổ (Fri 16/04/2027).
        let due = cal.due(received, &DeadlineRule::days(8), &week());
        assert_eq!(show(&due), "2027-04-15 17:00");
        let moved = cal.extend_for_pause(
            &due,
            at("2027-04-06T08:00:00+07:00"),
            at("2027-04-06T10:00:00+07:00"),
            &week(),
        );
        assert_eq!(show(&moved), "2027-04-19 09:30");
        // A pause across Tết 2026 counts only working time.
        let cal = WorkingCalendar::shipped();
        let lost = cal.office_time_between(
            at("2026-02-13T07:30:00+07:00"),
            at("2026-02-24T07:30:00+07:00"),
            &week(),
        );
        assert_eq!(lost, jiff::SignedDuration::from_mins(2 * 450));
    }

    #[test]
    fn decision_working_day_ignored_elsewhere() {
        let d = YearDecisions::from_toml(
            "year = 2027\n[[working_days]]\ndate = 2027-04-10\nname = \"Làm bù\"",
        )
        .expect("valid");
        let cal = WorkingCalendar::new(vec![d]);
        let due = cal.due(
            at("2027-04-09T10:00:00+07:00"),
            &DeadlineRule::days(1),
            &week(),
        );
        assert_eq!(show(&due), "2027-04-10 17:00");
        assert_eq!(date(2027, 4, 10).weekday(), jiff::civil::Weekday::Saturday);
    }

    fn any_receipt() -> impl Strategy<Value = Timestamp> {
        // 2024-01-01T00:00+07:00 … 2031-12-31.
        (1_704_042_000i64..1_956_502_800).prop_map(|s| Timestamp::from_second(s).expect("ts"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn due_is_the_nth_working_day_at_closing(received in any_receipt(), n in 0u32..40, weekend_work in any::<bool>()) {
            let cal = WorkingCalendar::shipped();
            let week = if weekend_work { WorkWeek::from_iso_days(&[1, 2, 3, 4, 5, 6]) } else { WorkWeek::default() };
            let rule = DeadlineRule::days(n);
            let due = cal.due(received, &rule, &week);
            let start = cal.effective_receipt_day(received, &rule, &week);
            prop_assert!(cal.is_working_day(start, &week));
            prop_assert!(cal.is_working_day(due.date(), &week));
            prop_assert_eq!(due.time(), cal.office_hours().closing());
            prop_assert!(due.timestamp() > received);
            // Exactly n working days in (start, due].
            let mut count = 0;
            let mut d = start;
            while d < due.date() {
                d = d.tomorrow().expect("date");
                if cal.is_working_day(d, &week) { count += 1; }
            }
            prop_assert_eq!(count, n);
            let later = cal.due(received, &DeadlineRule::days(n + 1), &week);
            prop_assert!(later > due);
        }

        #[test]
        fn hours_span_contains_exactly_that_office_time(received in any_receipt(), h in 1u32..60) {
            let cal = WorkingCalendar::shipped();
            let week = WorkWeek::default();
            let due = cal.due(received, &DeadlineRule::hours(h), &week);
            let worked = cal.office_time_between(received, due.timestamp(), &week);
            prop_assert_eq!(worked.as_secs(), i64::from(h) * 3600);
        }

        #[test]
        fn pause_adds_back_its_office_time(received in any_receipt(), n in 1u32..20, p in 0i64..(20 * 86_400), len in 0i64..(10 * 86_400)) {
            let cal = WorkingCalendar::shipped();
            let week = WorkWeek::default();
            let due = cal.due(received, &DeadlineRule::days(n), &week);
            let paused = received.checked_add(jiff::SignedDuration::from_secs(p)).expect("ts");
            let resumed = paused.checked_add(jiff::SignedDuration::from_secs(len)).expect("ts");
            let moved = cal.extend_for_pause(&due, paused, resumed, &week);
            let lost = cal.office_time_between(paused, resumed, &week);
            prop_assert!(moved >= due);
            prop_assert_eq!(cal.office_time_between(due.timestamp(), moved.timestamp(), &week), lost);
        }

        #[test]
        fn lunar_dates_are_valid_or_rejected(day in 1u8..=30, month in 1u8..=12, year in 1900i16..2100, leap in any::<bool>()) {
            let l = super::super::LunarDate::new(day, month, year, leap);
            if let Some(d) = super::super::lunar_to_solar(l) {
                prop_assert_eq!(super::super::solar_to_lunar(d), l);
            }
            if !leap && day <= 29 {
                prop_assert!(super::super::lunar_to_solar(l).is_some());
            }
        }
    }
}
