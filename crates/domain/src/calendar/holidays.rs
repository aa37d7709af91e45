//! Public holidays: the rules of Bộ luật Lao động 2019 Điều 112, and the yearly decisions that
//! override them.
//!
//! # Rules (used when no decision says otherwise)
//!
//! - Tết Dương lịch: 01/01.
//! - Tết Nguyên Đán: 5 days. The law lets the employer choose 1 day before + 4 after lunar New
//!   Year or 2 + 3, and the Prime Minister fixes the days for civil servants each year. **Default
//!   here: the last day of the lunar year (29 or 30 tháng Chạp) and mùng 1 to mùng 4.**
//! - Giỗ Tổ Hùng Vương: 10/3 âm lịch (of the regular, not leap, month 3).
//! - Ngày Chiến thắng: 30/04. Ngày Quốc tế Lao động: 01/05.
//! - Quốc khánh: 02/09 and one adjacent day (01/09 or 03/09), which the Prime Minister fixes
//!   each year. **Default here: 03/09 when 02/09 falls on a Sunday, Monday or Thursday, otherwise
//!   01/09**, so that the two days touch the weekend when they can. This reproduces the decisions
//!   of 2021 (3/9), 2022 (1/9), 2024 (3/9) and 2025 (1/9).
//!
//! Compensatory days (nghỉ bù, Điều 111 khoản 3) are computed on the civil servants' Monday–Friday
//! week: a holiday on a Saturday or Sunday, or on a date already taken by another holiday, gives
//! the next Monday–Friday day that is not itself a day off. See `WorkingCalendar`.
//!
//! # Decisions
//!
//! A [`YearDecisions`] holds what the Prime Minister / Bộ Nội vụ announced for one year: extra
//! days off, swapped working days (usually Saturdays), and which rule-based holidays it replaces.
//! Decisions are data (`catalog/calendar/<year>.toml`), embedded with [`shipped_decisions`] and
//! editable by administrators; the file format is documented on [`YearDecisions::from_toml`].

use super::lunar::{LunarDate, lunar_to_solar, solar_to_lunar, tet};
use jiff::civil::{Date, Weekday};
use std::collections::BTreeSet;

/// Years for which decision files are accepted.
pub const DECISION_YEARS: std::ops::RangeInclusive<i16> = 1900..=2100;

/// The rule-based public holidays of Điều 112.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HolidayRule {
    TetDuongLich,
    TetNguyenDan,
    GioToHungVuong,
    ChienThang,
    QuocTeLaoDong,
    QuocKhanh,
}

impl HolidayRule {
    pub const ALL: [HolidayRule; 6] = [
        HolidayRule::TetDuongLich,
        HolidayRule::TetNguyenDan,
        HolidayRule::GioToHungVuong,
        HolidayRule::ChienThang,
        HolidayRule::QuocTeLaoDong,
        HolidayRule::QuocKhanh,
    ];

    /// The key used in decision files (`replaces_rules_for`).
    pub fn key(self) -> &'static str {
        match self {
            HolidayRule::TetDuongLich => "tet_duong_lich",
            HolidayRule::TetNguyenDan => "tet_nguyen_dan",
            HolidayRule::GioToHungVuong => "gio_to_hung_vuong",
            HolidayRule::ChienThang => "chien_thang",
            HolidayRule::QuocTeLaoDong => "quoc_te_lao_dong",
            HolidayRule::QuocKhanh => "quoc_khanh",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.key() == key)
    }

    /// The holiday's Vietnamese name.
    pub fn name(self) -> &'static str {
        match self {
            HolidayRule::TetDuongLich => "Tết Dương lịch",
            HolidayRule::TetNguyenDan => "Tết Nguyên Đán",
            HolidayRule::GioToHungVuong => "Giỗ Tổ Hùng Vương",
            HolidayRule::ChienThang => "Ngày Chiến thắng",
            HolidayRule::QuocTeLaoDong => "Ngày Quốc tế Lao động",
            HolidayRule::QuocKhanh => "Quốc khánh",
        }
    }
}

/// One rule-based holiday date (before compensatory days).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHoliday {
    pub date: Date,
    pub name: String,
    pub rule: HolidayRule,
}

/// Saturday or Sunday: the weekly rest days of the civil servants' week.
pub(crate) fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// The day adjacent to Quốc khánh (02/09) by the documented default (see the module docs).
pub fn quoc_khanh_adjacent_day(year: i16) -> Option<Date> {
    let national_day = Date::new(year, 9, 2).ok()?;
    let day = match national_day.weekday() {
        Weekday::Sunday | Weekday::Monday | Weekday::Thursday => 3,
        _ => 1,
    };
    Date::new(year, 9, day).ok()
}

/// The rule-based holidays of `year` (Điều 112 khoản 1), sorted by date, without compensatory
/// days.
pub fn rule_holidays(year: i16) -> Vec<RuleHoliday> {
    let mut out = Vec::new();
    let mut push = |date: Option<Date>, rule: HolidayRule, detail: Option<String>| {
        if let Some(date) = date {
            let name = match detail {
                Some(d) => format!("{} ({d})", rule.name()),
                None => rule.name().to_string(),
            };
            out.push(RuleHoliday { date, name, rule });
        }
    };
    push(Date::new(year, 1, 1).ok(), HolidayRule::TetDuongLich, None);
    if let Some(new_year) = tet(year) {
        let eve = new_year.yesterday().ok();
        let eve_day = eve.map(|d| solar_to_lunar(d).day).unwrap_or(30);
        push(
            eve,
            HolidayRule::TetNguyenDan,
            Some(format!("{eve_day} tháng Chạp")),
        );
        let mut day = Some(new_year);
        for n in 1..=4 {
            push(
                day,
                HolidayRule::TetNguyenDan,
                Some(format!("mùng {n} tháng Giêng")),
            );
            day = day.and_then(|d| d.tomorrow().ok());
        }
    }
    push(
        lunar_to_solar(LunarDate::new(10, 3, year, false)),
        HolidayRule::GioToHungVuong,
        Some("10/3 âm lịch".to_string()),
    );
    push(Date::new(year, 4, 30).ok(), HolidayRule::ChienThang, None);
    push(Date::new(year, 5, 1).ok(), HolidayRule::QuocTeLaoDong, None);
    push(Date::new(year, 9, 2).ok(), HolidayRule::QuocKhanh, None);
    push(
        quoc_khanh_adjacent_day(year),
        HolidayRule::QuocKhanh,
        Some("ngày liền kề".to_string()),
    );
    out.sort_by_key(|h| (h.date, h.rule));
    out
}

/// A day named in a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionDay {
    pub date: Date,
    pub name: String,
}

/// The decisions announced for one year (days off, swapped working days), overriding the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearDecisions {
    pub year: i16,
    /// The announcing document, for the record.
    pub source: Option<String>,
    /// Rule-based holidays this decision replaces (their days, and their compensatory days, are
    /// dropped for the year; the decision's `days_off` stand instead).
    pub replaces_rules_for: Vec<HolidayRule>,
    /// Days off, sorted by date.
    pub days_off: Vec<DecisionDay>,
    /// Days that become working days (e.g. a Saturday worked in exchange for a day off), sorted.
    pub working_days: Vec<DecisionDay>,
}

/// An invalid decision file. Messages are for the administrator who edits it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error("Tệp quyết định không đúng cú pháp TOML hoặc có khóa không hợp lệ: {0}")]
    Parse(String),
    #[error("Năm {0} không được hỗ trợ; khóa `year` phải trong khoảng 1900–2100.")]
    Year(i64),
    #[error(
        "Mục {section} thứ {index}: ngày «{value}» không hợp lệ; ghi theo dạng YYYY-MM-DD, ví dụ 2026-02-16."
    )]
    BadDate {
        section: &'static str,
        index: usize,
        value: String,
    },
    #[error(
        "Mục {section} thứ {index}: cần khóa `date`, hoặc cặp `from` và `to` (không dùng cả hai cách)."
    )]
    MissingDate { section: &'static str, index: usize },
    #[error(
        "Mục {section} thứ {index}: `from` ({from}) phải không sau `to` ({to}), và khoảng dài tối đa 31 ngày."
    )]
    BadRange {
        section: &'static str,
        index: usize,
        from: Date,
        to: Date,
    },
    #[error(
        "Mục {section} thứ {index}: ngày {date} quá xa năm {year}; chỉ nhận ngày trong năm đó, năm trước hoặc năm sau."
    )]
    OutsideYear {
        section: &'static str,
        index: usize,
        date: Date,
        year: i16,
    },
    #[error(
        "Mục {section} thứ {index}: khóa `name` không được để trống; ghi tên ngày nghỉ hoặc lý do làm bù."
    )]
    EmptyName { section: &'static str, index: usize },
    #[error(
        "Quy tắc «{0}» trong `replaces_rules_for` không tồn tại; dùng tet_duong_lich, tet_nguyen_dan, gio_to_hung_vuong, chien_thang, quoc_te_lao_dong, quoc_khanh hoặc all."
    )]
    UnknownRule(String),
    #[error("Ngày {0} được khai báo hai lần; xóa một mục.")]
    Duplicate(Date),
    #[error("Ngày {0} vừa là ngày nghỉ vừa là ngày làm việc; bỏ một trong hai mục.")]
    Conflict(Date),
}

mod raw {
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct File {
        pub year: i64,
        #[serde(default)]
        pub source: Option<String>,
        #[serde(default)]
        pub replaces_rules_for: Vec<String>,
        #[serde(default)]
        pub days_off: Vec<Day>,
        #[serde(default)]
        pub working_days: Vec<Day>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Day {
        #[serde(default)]
        pub date: Option<toml::Value>,
        #[serde(default)]
        pub from: Option<toml::Value>,
        #[serde(default)]
        pub to: Option<toml::Value>,
        #[serde(default)]
        pub name: String,
    }
}

fn value_to_date(value: &toml::Value) -> Option<Date> {
    match value {
        toml::Value::String(s) => s.trim().parse::<Date>().ok(),
        toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
            let d = dt.date?;
            Date::new(
                i16::try_from(d.year).ok()?,
                i8::try_from(d.month).ok()?,
                i8::try_from(d.day).ok()?,
            )
            .ok()
        }
        _ => None,
    }
}

fn value_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(dt) => dt.to_string(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

const MAX_RANGE_DAYS: i64 = 31;

fn expand_days(
    section: &'static str,
    year: i16,
    raw: Vec<raw::Day>,
) -> Result<Vec<DecisionDay>, DecisionError> {
    let mut out = Vec::new();
    for (i, day) in raw.into_iter().enumerate() {
        let index = i + 1;
        let name = day.name.trim().to_string();
        if name.is_empty() {
            return Err(DecisionError::EmptyName { section, index });
        }
        let parse = |v: &toml::Value| {
            value_to_date(v).ok_or_else(|| DecisionError::BadDate {
                section,
                index,
                value: value_text(v),
            })
        };
        let dates: Vec<Date> = match (&day.date, &day.from, &day.to) {
            (Some(d), None, None) => vec![parse(d)?],
            (None, Some(f), Some(t)) => {
                let (from, to) = (parse(f)?, parse(t)?);
                let span = super::lunar::jdn(to) - super::lunar::jdn(from);
                if !(0..MAX_RANGE_DAYS).contains(&span) {
                    return Err(DecisionError::BadRange {
                        section,
                        index,
                        from,
                        to,
                    });
                }
                let mut v = Vec::new();
                let mut d = Some(from);
                while let Some(x) = d.filter(|x| *x <= to) {
                    v.push(x);
                    d = x.tomorrow().ok();
                }
                v
            }
            _ => return Err(DecisionError::MissingDate { section, index }),
        };
        for date in dates {
            if (i32::from(date.year()) - i32::from(year)).abs() > 1 {
                return Err(DecisionError::OutsideYear {
                    section,
                    index,
                    date,
                    year,
                });
            }
            out.push(DecisionDay {
                date,
                name: name.clone(),
            });
        }
    }
    out.sort_by_key(|d| d.date);
    if let Some(w) = out.windows(2).find(|w| w[0].date == w[1].date) {
        return Err(DecisionError::Duplicate(w[0].date));
    }
    Ok(out)
}

impl YearDecisions {
    /// An empty decision for `year` (the rules apply unchanged).
    pub fn empty(year: i16) -> Self {
        Self {
            year,
            source: None,
            replaces_rules_for: Vec::new(),
            days_off: Vec::new(),
            working_days: Vec::new(),
        }
    }

    /// Whether this decision replaces the rule-based days of `rule`.
    pub fn replaces(&self, rule: HolidayRule) -> bool {
        self.replaces_rules_for.contains(&rule)
    }

    /// Parses and validates a decision file.
    ///
    /// ```toml
    /// year = 2026                          # required, 1900–2100
    /// source = "Thông báo ... của Bộ Nội vụ" # optional: the announcing document
    /// replaces_rules_for = ["tet_nguyen_dan"]
    /// # Rule-based holidays this file replaces for the year instead of adding to them:
    /// # tet_duong_lich, tet_nguyen_dan, gio_to_hung_vuong, chien_thang, quoc_te_lao_dong,
    /// # quoc_khanh, or "all". Their compensatory days are dropped too.
    ///
    /// [[days_off]]                         # a day off: `date`, or `from` + `to` (inclusive)
    /// from = 2026-02-14                    # TOML dates or "YYYY-MM-DD" strings
    /// to = 2026-02-22
    /// name = "Nghỉ Tết Nguyên Đán Bính Ngọ"
    ///
    /// [[working_days]]                     # a day worked in exchange (làm bù), e.g. a Saturday
    /// date = 2025-04-26
    /// name = "Làm bù cho ngày 02/05/2025"
    /// ```
    ///
    /// Dates may fall in the year before or after `year` (e.g. 31/12 for Tết Dương lịch). A date
    /// may not be both a day off and a working day.
    pub fn from_toml(text: &str) -> Result<Self, DecisionError> {
        let file: raw::File =
            toml::from_str(text).map_err(|e| DecisionError::Parse(e.to_string()))?;
        let year = i16::try_from(file.year)
            .ok()
            .filter(|y| DECISION_YEARS.contains(y))
            .ok_or(DecisionError::Year(file.year))?;
        let mut rules = BTreeSet::new();
        for key in &file.replaces_rules_for {
            let key = key.trim();
            if key == "all" {
                rules.extend(HolidayRule::ALL);
            } else {
                rules.insert(
                    HolidayRule::from_key(key)
                        .ok_or_else(|| DecisionError::UnknownRule(key.to_string()))?,
                );
            }
        }
        let days_off = expand_days("days_off", year, file.days_off)?;
        let working_days = expand_days("working_days", year, file.working_days)?;
        if let Some(d) = days_off
            .iter()
            .find(|d| working_days.iter().any(|w| w.date == d.date))
        {
            return Err(DecisionError::Conflict(d.date));
        }
        Ok(Self {
            year,
            source: file
                .source
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            replaces_rules_for: rules.into_iter().collect(),
            days_off,
            working_days,
        })
    }

    /// Writes the decision back as a decision file (one entry per day; comments are not kept).
    pub fn to_toml(&self) -> String {
        let mut out = format!("year = {}\n", self.year);
        if let Some(source) = &self.source {
            out.push_str(&format!("source = {}\n", toml_string(source)));
        }
        let keys: Vec<String> = self
            .replaces_rules_for
            .iter()
            .map(|r| toml_string(r.key()))
            .collect();
        out.push_str(&format!("replaces_rules_for = [{}]\n", keys.join(", ")));
        for (section, days) in [
            ("days_off", &self.days_off),
            ("working_days", &self.working_days),
        ] {
            for d in days {
                out.push_str(&format!(
                    "\n[[{section}]]\ndate = {}\nname = {}\n",
                    d.date,
                    toml_string(&d.name)
                ));
            }
        }
        out
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The decision files shipped in `catalog/calendar/`, one per year officially announced.
const SHIPPED_FILES: [&str; 2] = [
    include_str!("../../../../catalog/calendar/2025.toml"),
    include_str!("../../../../catalog/calendar/2026.toml"),
];

/// The shipped decisions, sorted by year. (A file that fails to parse is skipped; the tests
/// guarantee none does.)
pub fn shipped_decisions() -> Vec<YearDecisions> {
    let mut v: Vec<YearDecisions> = SHIPPED_FILES
        .iter()
        .filter_map(|t| YearDecisions::from_toml(t).ok())
        .collect();
    v.sort_by_key(|d| d.year);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn dates_of(year: i16, rule: HolidayRule) -> Vec<Date> {
        rule_holidays(year)
            .into_iter()
            .filter(|h| h.rule == rule)
            .map(|h| h.date)
            .collect()
    }

    #[test]
    fn tet_and_gio_to_2024_2031() {
        let tet = [
            (2024, date(2024, 2, 10)),
            (2025, date(2025, 1, 29)),
            (2026, date(2026, 2, 17)),
            (2027, date(2027, 2, 6)),
            (2028, date(2028, 1, 26)),
            (2029, date(2029, 2, 13)),
            (2030, date(2030, 2, 2)),
            (2031, date(2031, 1, 23)),
        ];
        for (year, first) in tet {
            let days = dates_of(year, HolidayRule::TetNguyenDan);
            assert_eq!(days.len(), 5, "{year}");
            assert_eq!(days[1], first, "mùng 1 Tết {year}");
            assert_eq!(days[0], first.yesterday().expect("date"));
            assert_eq!(
                days[4],
                first.checked_add(jiff::ToSpan::days(3)).expect("date")
            );
        }
        let gio_to = [
            (2024, date(2024, 4, 18)),
            (2025, date(2025, 4, 7)),
            (2026, date(2026, 4, 26)),
            (2027, date(2027, 4, 16)),
            (2028, date(2028, 4, 4)),
            (2029, date(2029, 4, 23)),
            (2030, date(2030, 4, 12)),
            (2031, date(2031, 4, 1)),
        ];
        for (year, day) in gio_to {
            assert_eq!(
                dates_of(year, HolidayRule::GioToHungVuong),
                vec![day],
                "Giỗ Tổ {year}"
            );
        }
    }

    #[test]
    fn tet_eve_is_named_by_its_lunar_day() {
        let h = rule_holidays(2026);
        let eve = h.iter().find(|h| h.date == date(2026, 2, 16)).expect("eve");
        assert_eq!(eve.name, "Tết Nguyên Đán (29 tháng Chạp)");
    }

    #[test]
    fn quoc_khanh_default_matches_past_decisions() {
        assert_eq!(quoc_khanh_adjacent_day(2021), Some(date(2021, 9, 3)));
        assert_eq!(quoc_khanh_adjacent_day(2022), Some(date(2022, 9, 1)));
        assert_eq!(quoc_khanh_adjacent_day(2024), Some(date(2024, 9, 3)));
        assert_eq!(quoc_khanh_adjacent_day(2025), Some(date(2025, 9, 1)));
    }

    #[test]
    fn shipped_files_parse() {
        for text in SHIPPED_FILES {
            YearDecisions::from_toml(text).expect("shipped decision file");
        }
        let years: Vec<i16> = shipped_decisions().iter().map(|d| d.year).collect();
        assert_eq!(years, vec![2025, 2026]);
    }

    #[test]
    fn parses_ranges_strings_and_rules() {
        let d = YearDecisions::from_toml(
            r#"
            year = 2026
            replaces_rules_for = ["tet_nguyen_dan", "quoc_khanh"]
            [[days_off]]
            from = 2026-02-14
            to = "2026-02-16"
            name = "Nghỉ Tết"
            [[working_days]]
            date = "2026-01-10"
            name = "Làm bù"
            "#,
        )
        .expect("valid");
        assert_eq!(d.days_off.len(), 3);
        assert_eq!(
            d.replaces_rules_for,
            vec![HolidayRule::TetNguyenDan, HolidayRule::QuocKhanh]
        );
        assert_eq!(d.working_days[0].date, date(2026, 1, 10));
        let again = YearDecisions::from_toml(&d.to_toml()).expect("round trip");
        assert_eq!(again, d);
        let all =
            YearDecisions::from_toml("year = 2030\nreplaces_rules_for = [\"all\"]").expect("valid");
        assert_eq!(all.replaces_rules_for.len(), 6);
    }

    #[test]
    fn rejects_bad_files() {
        let err = |t: &str| YearDecisions::from_toml(t).expect_err("invalid");
        assert!(matches!(err("year = 1800"), DecisionError::Year(1800)));
        assert!(matches!(
            err("year = 2026\nfoo = 1"),
            DecisionError::Parse(_)
        ));
        assert!(matches!(
            err("year = 2026\nreplaces_rules_for = [\"tet\"]"),
            DecisionError::UnknownRule(_)
        ));
        assert!(matches!(
            err("year = 2026\n[[days_off]]\ndate = \"2026-02-30\"\nname = \"x\""),
            DecisionError::BadDate { .. }
        ));
        assert!(matches!(
            err("year = 2026\n[[days_off]]\nname = \"x\""),
            DecisionError::MissingDate { .. }
        ));
        assert!(matches!(
            err("year = 2026\n[[days_off]]\nfrom = 2026-03-01\nto = 2026-02-01\nname = \"x\""),
            DecisionError::BadRange { .. }
        ));
        assert!(matches!(
            err("year = 2026\n[[days_off]]\ndate = 2030-01-01\nname = \"x\""),
            DecisionError::OutsideYear { .. }
        ));
        assert!(matches!(
            err("year = 2026\n[[days_off]]\ndate = 2026-01-02\nname = \" \""),
            DecisionError::EmptyName { .. }
        ));
        assert!(matches!(
            err(
                "year = 2026\n[[days_off]]\ndate = 2026-01-02\nname = \"a\"\n[[days_off]]\nfrom = 2026-01-01\nto = 2026-01-03\nname = \"b\""
            ),
            DecisionError::Duplicate(_)
        ));
        assert!(matches!(
            err(
                "year = 2026\n[[days_off]]\ndate = 2026-01-02\nname = \"a\"\n[[working_days]]\ndate = 2026-01-02\nname = \"b\""
            ),
            DecisionError::Conflict(_)
        ));
        // Messages are Vietnamese and say how to fix.
        assert!(err("year = 1800").to_string().contains("1900–2100"));
    }
}
