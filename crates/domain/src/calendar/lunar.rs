//! The Vietnamese lunar calendar (âm lịch), computed for the meridian 105°E (UTC+7).
//!
//! This is an independent implementation of the rules published by Hồ Ngọc Đức
//! (<https://www.informatik.uni-leipzig.de/~duc/amlich/>):
//!
//! - a lunar month starts on the day (at UTC+7) that contains the new moon (điểm Sóc);
//! - the winter solstice (Đông chí) always falls in month 11;
//! - a year with 13 months between two months 11 has a leap month: the first month after
//!   month 11 that contains no major solar term (Trung khí).
//!
//! New moons and the sun's longitude use the same simplified astronomical series as the published
//! algorithm (Meeus), so results match the published tables. The algorithm is tested exhaustively
//! for 1900–2100; outside that range it still answers, with decreasing precision.

use jiff::civil::Date;
use std::f64::consts::PI;

/// Offset of Vietnam's civil time from UTC, in hours, used for the lunar calendar.
const TIME_ZONE_HOURS: f64 = 7.0;
/// Mean synodic month, in days.
const SYNODIC_MONTH: f64 = 29.530_588_853;
/// Julian day of the new moon of 1900-01-01 (the epoch for new-moon numbers `k`).
const NEW_MOON_EPOCH: f64 = 2_415_021.076_998_695;

/// A date of the Vietnamese lunar calendar.
///
/// `year` is the solar year in which the lunar year starts (Tết of lunar year 2026 is
/// 17/02/2026). `leap` marks the leap month (tháng nhuận), which repeats the number of the
/// month before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LunarDate {
    pub day: u8,
    pub month: u8,
    pub year: i16,
    pub leap: bool,
}

impl LunarDate {
    pub const fn new(day: u8, month: u8, year: i16, leap: bool) -> Self {
        Self {
            day,
            month,
            year,
            leap,
        }
    }
}

impl std::fmt::Display for LunarDate {
    /// `17/2/2026 âm lịch`, or `5/4 nhuận/2023 âm lịch` for a leap month.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let leap = if self.leap { " nhuận" } else { "" };
        write!(
            f,
            "{}/{}{}/{} âm lịch",
            self.day, self.month, leap, self.year
        )
    }
}

/// Julian Day Number of a proleptic Gregorian date.
pub(crate) fn jdn_from_ymd(year: i64, month: i64, day: i64) -> i64 {
    let a = (14 - month).div_euclid(12);
    let y = year + 4800 - a;
    let m = month + 12 * a - 3;
    day + (153 * m + 2).div_euclid(5) + 365 * y + y.div_euclid(4) - y.div_euclid(100)
        + y.div_euclid(400)
        - 32045
}

/// Julian Day Number of a date.
pub fn jdn(date: Date) -> i64 {
    jdn_from_ymd(
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    )
}

/// The proleptic Gregorian date of a Julian Day Number, if representable.
pub fn date_from_jdn(jd: i64) -> Option<Date> {
    let a = jd + 32044;
    let b = (4 * a + 3).div_euclid(146_097);
    let c = a - (146_097 * b).div_euclid(4);
    let d = (4 * c + 3).div_euclid(1461);
    let e = c - (1461 * d).div_euclid(4);
    let m = (5 * e + 2).div_euclid(153);
    let day = e - (153 * m + 2).div_euclid(5) + 1;
    let month = m + 3 - 12 * m.div_euclid(10);
    let year = 100 * b + d - 4800 + m.div_euclid(10);
    Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()
}

/// Julian day (fractional, UT) of the `k`-th new moon after 1900-01-01.
fn new_moon(k: i64) -> f64 {
    let k = k as f64;
    let t = k / 1236.85;
    let t2 = t * t;
    let t3 = t2 * t;
    let dr = PI / 180.0;
    let mut jd1 = 2_415_020.759_33 + 29.530_588_68 * k + 0.000_117_8 * t2 - 0.000_000_155 * t3;
    jd1 += 0.000_33 * ((166.56 + 132.87 * t - 0.009_173 * t2) * dr).sin();
    // Sun's mean anomaly, moon's mean anomaly, moon's argument of latitude.
    let m = 359.2242 + 29.105_356_08 * k - 0.000_033_3 * t2 - 0.000_003_47 * t3;
    let mpr = 306.0253 + 385.816_918_06 * k + 0.010_730_6 * t2 + 0.000_012_36 * t3;
    let f = 21.2964 + 390.670_506_46 * k - 0.001_652_8 * t2 - 0.000_002_39 * t3;
    let mut c1 = (0.1734 - 0.000_393 * t) * (m * dr).sin() + 0.0021 * (2.0 * dr * m).sin();
    c1 = c1 - 0.4068 * (mpr * dr).sin() + 0.0161 * (dr * 2.0 * mpr).sin();
    c1 -= 0.0004 * (dr * 3.0 * mpr).sin();
    c1 = c1 + 0.0104 * (dr * 2.0 * f).sin() - 0.0051 * (dr * (m + mpr)).sin();
    c1 = c1 - 0.0074 * (dr * (m - mpr)).sin() + 0.0004 * (dr * (2.0 * f + m)).sin();
    c1 = c1 - 0.0004 * (dr * (2.0 * f - m)).sin() - 0.0006 * (dr * (2.0 * f + mpr)).sin();
    c1 = c1 + 0.0010 * (dr * (2.0 * f - mpr)).sin() + 0.0005 * (dr * (2.0 * mpr + m)).sin();
    let delta_t = if t < -11.0 {
        0.001 + 0.000_839 * t + 0.000_226_1 * t2 - 0.000_008_45 * t3 - 0.000_000_081 * t * t3
    } else {
        -0.000_278 + 0.000_265 * t + 0.000_262 * t2
    };
    jd1 + c1 - delta_t
}

/// The sun's apparent longitude, in radians in `[0, 2π)`, at Julian day `jd` (UT).
fn sun_longitude(jd: f64) -> f64 {
    let t = (jd - 2_451_545.0) / 36_525.0;
    let t2 = t * t;
    let dr = PI / 180.0;
    let m = 357.529_10 + 35_999.050_30 * t - 0.000_155_9 * t2 - 0.000_000_48 * t * t2;
    let l0 = 280.466_45 + 36_000.769_83 * t + 0.000_303_2 * t2;
    let mut dl = (1.914_600 - 0.004_817 * t - 0.000_014 * t2) * (dr * m).sin();
    dl = dl + (0.019_993 - 0.000_101 * t) * (dr * 2.0 * m).sin() + 0.000_290 * (dr * 3.0 * m).sin();
    let omega = 125.04 - 1934.136 * t;
    let l = (l0 + dl - 0.005_69 - 0.004_78 * (omega * dr).sin()) * dr;
    l.rem_euclid(2.0 * PI)
}

/// The local (UTC+7) day number on which the `k`-th new moon falls.
fn new_moon_day(k: i64) -> i64 {
    (new_moon(k) + 0.5 + TIME_ZONE_HOURS / 24.0).floor() as i64
}

/// Which of the twelve 30° sectors the sun is in at the start of local day `day_number`
/// (0 = from the spring equinox; 9 = from the winter solstice).
fn sun_sector(day_number: i64) -> i64 {
    (sun_longitude(day_number as f64 - 0.5 - TIME_ZONE_HOURS / 24.0) / PI * 6.0).floor() as i64
}

/// Day number of the start of lunar month 11 (the month containing the winter solstice) that
/// begins in solar year `year`.
fn lunar_month_11(year: i64) -> i64 {
    let off = (jdn_from_ymd(year, 12, 31) - 2_415_021) as f64;
    let k = (off / SYNODIC_MONTH).floor() as i64;
    let nm = new_moon_day(k);
    if sun_sector(nm) >= 9 {
        new_moon_day(k - 1)
    } else {
        nm
    }
}

/// New-moon number of the month starting on day `a11`.
fn new_moon_index(month_start: i64) -> i64 {
    ((month_start as f64 - NEW_MOON_EPOCH) / SYNODIC_MONTH + 0.5).floor() as i64
}

/// For a lunar year of 13 months whose month 11 starts on `a11`: how many months after month 11
/// the leap month comes (the first month without a major solar term).
fn leap_month_offset(a11: i64) -> i64 {
    let k = new_moon_index(a11);
    let mut i = 1;
    let mut arc = sun_sector(new_moon_day(k + i));
    loop {
        let last = arc;
        i += 1;
        arc = sun_sector(new_moon_day(k + i));
        if arc == last || i >= 14 {
            break;
        }
    }
    i - 1
}

/// Converts a solar (Gregorian) date to the Vietnamese lunar calendar.
pub fn solar_to_lunar(date: Date) -> LunarDate {
    let day_number = jdn(date);
    let year = i64::from(date.year());
    // The published code tries new moons k+1 then k; when a new moon falls just after local
    // midnight (e.g. 2054-05-08 00:02 UTC+7) the mean-motion estimate of k is one too high, so
    // step back until the month has started.
    let mut k = ((day_number as f64 - NEW_MOON_EPOCH) / SYNODIC_MONTH).floor() as i64 + 1;
    let mut month_start = new_moon_day(k);
    for _ in 0..3 {
        if month_start <= day_number {
            break;
        }
        k -= 1;
        month_start = new_moon_day(k);
    }
    let mut a11 = lunar_month_11(year);
    let mut b11 = a11;
    let mut lunar_year;
    if a11 >= month_start {
        lunar_year = year;
        a11 = lunar_month_11(year - 1);
    } else {
        lunar_year = year + 1;
        b11 = lunar_month_11(year + 1);
    }
    let lunar_day = day_number - month_start + 1;
    let diff = (month_start - a11).div_euclid(29);
    let mut leap = false;
    let mut lunar_month = diff + 11;
    if b11 - a11 > 365 {
        let leap_diff = leap_month_offset(a11);
        if diff >= leap_diff {
            lunar_month = diff + 10;
            leap = diff == leap_diff;
        }
    }
    if lunar_month > 12 {
        lunar_month -= 12;
    }
    if lunar_month >= 11 && diff < 4 {
        lunar_year -= 1;
    }
    LunarDate {
        // Day 1..=30 and month 1..=12 by construction.
        day: lunar_day.clamp(1, 30) as u8,
        month: lunar_month.clamp(1, 12) as u8,
        year: lunar_year.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16,
        leap,
    }
}

/// Converts a lunar date to the solar (Gregorian) calendar; `None` if that lunar date does not
/// exist (day 30 of a 29-day month, a leap flag on a month that is not the leap month, ...).
pub fn lunar_to_solar(lunar: LunarDate) -> Option<Date> {
    if !(1..=12).contains(&lunar.month) || !(1..=30).contains(&lunar.day) {
        return None;
    }
    let month = i64::from(lunar.month);
    let year = i64::from(lunar.year);
    let (a11, b11) = if month < 11 {
        (lunar_month_11(year - 1), lunar_month_11(year))
    } else {
        (lunar_month_11(year), lunar_month_11(year + 1))
    };
    let k = new_moon_index(a11);
    let mut off = (month - 11).rem_euclid(12);
    if b11 - a11 > 365 {
        let leap_off = leap_month_offset(a11);
        let leap_month = (leap_off - 2).rem_euclid(12);
        if lunar.leap && month != leap_month {
            return None;
        }
        if lunar.leap || off >= leap_off {
            off += 1;
        }
    } else if lunar.leap {
        return None;
    }
    let month_start = new_moon_day(k + off);
    let month_len = new_moon_day(k + off + 1) - month_start;
    if i64::from(lunar.day) > month_len {
        return None;
    }
    date_from_jdn(month_start + i64::from(lunar.day) - 1)
}

/// Mùng 1 Tết (lunar New Year's day) of lunar year `year`.
pub fn tet(year: i16) -> Option<Date> {
    lunar_to_solar(LunarDate::new(1, 1, year, false))
}

/// The leap month of lunar year `year` (months numbered as the month it repeats), if any.
pub fn leap_month(year: i16) -> Option<u8> {
    (1..=12u8).find(|&m| {
        lunar_to_solar(LunarDate::new(1, m, year, true)).is_some_and(|d| {
            let back = solar_to_lunar(d);
            back.leap && back.year == year
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn jdn_round_trip_and_known_values() {
        assert_eq!(jdn(date(2000, 1, 1)), 2_451_545);
        assert_eq!(jdn(date(1900, 1, 1)), 2_415_021);
        for d in [
            date(1900, 1, 1),
            date(1970, 1, 1),
            date(2024, 2, 29),
            date(2100, 12, 31),
            date(-9999, 1, 1),
            date(9999, 12, 31),
        ] {
            assert_eq!(date_from_jdn(jdn(d)), Some(d));
        }
    }

    #[test]
    fn published_test_vectors() {
        // domain.md §5.3.
        assert_eq!(
            solar_to_lunar(date(1983, 6, 25)),
            LunarDate::new(15, 5, 1983, false)
        );
        assert_eq!(
            solar_to_lunar(date(1989, 10, 30)),
            LunarDate::new(2, 10, 1989, false)
        );
        assert_eq!(
            solar_to_lunar(date(2025, 12, 20)),
            LunarDate::new(1, 11, 2025, false)
        );
        assert_eq!(
            solar_to_lunar(date(2026, 2, 17)),
            LunarDate::new(1, 1, 2026, false)
        );
        // 27 tháng Chạp Ất Tỵ and mùng 6 Bính Ngọ (the 2026 holiday notice).
        assert_eq!(
            solar_to_lunar(date(2026, 2, 14)),
            LunarDate::new(27, 12, 2025, false)
        );
        assert_eq!(
            solar_to_lunar(date(2026, 2, 22)),
            LunarDate::new(6, 1, 2026, false)
        );
    }

    #[test]
    fn tet_dates() {
        let known = [
            // Vietnam differs from the UTC+8 (Chinese) calendar in 1985 and 2007.
            (1985, date(1985, 1, 21)),
            (2007, date(2007, 2, 17)),
            (2024, date(2024, 2, 10)),
            (2025, date(2025, 1, 29)),
            (2026, date(2026, 2, 17)),
            (2027, date(2027, 2, 6)),
            (2028, date(2028, 1, 26)),
            (2029, date(2029, 2, 13)),
            // The new moon of 2030-02-02 is at 16:07 UT: 23:07 in Vietnam, 00:07 in China.
            (2030, date(2030, 2, 2)),
            (2031, date(2031, 1, 23)),
        ];
        for (year, expected) in known {
            assert_eq!(tet(year), Some(expected), "Tết {year}");
        }
    }

    #[test]
    fn leap_months() {
        // 2023 had a leap month 2, 2025 a leap month 6, 2026 none.
        assert_eq!(leap_month(2023), Some(2));
        assert_eq!(leap_month(2025), Some(6));
        assert_eq!(leap_month(2026), None);
        assert_eq!(
            lunar_to_solar(LunarDate::new(1, 3, 2026, true)),
            None,
            "no leap month in 2026"
        );
    }

    #[test]
    fn rejects_nonexistent_dates() {
        assert_eq!(lunar_to_solar(LunarDate::new(0, 1, 2026, false)), None);
        assert_eq!(lunar_to_solar(LunarDate::new(31, 1, 2026, false)), None);
        assert_eq!(lunar_to_solar(LunarDate::new(1, 13, 2026, false)), None);
        // Tháng Chạp Ất Tỵ (lunar 2025) has 29 days: 16/02/2026 is its last day.
        assert_eq!(
            lunar_to_solar(LunarDate::new(29, 12, 2025, false)),
            Some(date(2026, 2, 16))
        );
        assert_eq!(lunar_to_solar(LunarDate::new(30, 12, 2025, false)), None);
    }

    /// Every day of 1900–2100: solar → lunar → solar is the identity, and consecutive days
    /// advance the lunar date by one day or start a new month.
    #[test]
    fn round_trip_every_day_1900_2100() {
        let first = jdn(date(1900, 1, 1));
        let last = jdn(date(2100, 12, 31));
        let mut previous: Option<LunarDate> = None;
        for jd in first..=last {
            let d = date_from_jdn(jd).expect("valid date");
            let l = solar_to_lunar(d);
            assert_eq!(lunar_to_solar(l), Some(d), "{d} -> {l:?}");
            if let Some(p) = previous {
                if l.day == 1 {
                    assert!((29..=30).contains(&p.day), "{d}: month of {} days", p.day);
                } else {
                    assert_eq!(l.day, p.day + 1, "{d}");
                    assert_eq!((l.month, l.year, l.leap), (p.month, p.year, p.leap));
                }
            }
            previous = Some(l);
        }
    }
}
