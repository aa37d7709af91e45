//! `dichvucong calendar …`: public holidays, due dates and the yearly holiday decisions.
//!
//! The calendar used here is the rules plus the decisions shipped in `catalog/calendar/`, plus
//! every `*.toml` decision file in `<data_dir>/calendar/` (read in file-name order; a file for a
//! year overrides the shipped decision for that year). `calendar import FILE` validates a file and
//! copies it there as `<year>.toml`.

pub use crate::calendar::{decisions_dir, load_calendar, load_decisions, read_decisions};
use anyhow::{Context, anyhow, bail};
use dvc_domain::agency::{Agency, AgencyCode};
use dvc_domain::calendar::{DeadlinePolicy, DeadlineRule, WorkWeek, YearDecisions, holidays};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand, Debug)]
pub enum CalendarCmd {
    /// Liệt kê các ngày nghỉ lễ, Tết (kể cả nghỉ bù và ngày nghỉ theo quyết định) của một năm.
    Holidays {
        /// Năm, ví dụ 2026.
        year: i16,
    },
    /// Tính hạn giải quyết: in ra `YYYY-MM-DD<TAB>HH:MM`.
    Due {
        /// Thời điểm tiếp nhận theo RFC 3339, ví dụ 2027-04-14T10:00:00+07:00.
        #[arg(long)]
        from: String,
        /// Số ngày làm việc (0 = trong ngày làm việc).
        #[arg(long)]
        days: u32,
        /// Số giờ làm việc (dùng khi --days 0).
        #[arg(long)]
        hours: Option<u32>,
        /// Giờ chốt tiếp nhận (0–23): hồ sơ nhận từ giờ này tính từ ngày làm việc tiếp theo.
        #[arg(long)]
        cutoff: Option<u8>,
        /// Mã cơ quan giải quyết, để dùng các ngày làm việc trong tuần của cơ quan đó.
        #[arg(long)]
        agency: Option<String>,
    },
    /// Kiểm tra một tệp quyết định nghỉ lễ (TOML) và in các ngày trong tệp.
    Check {
        /// Đường dẫn tệp quyết định, ví dụ catalog/calendar/2026.toml.
        path: PathBuf,
    },
    /// Kiểm tra rồi chép một tệp quyết định vào thư mục dữ liệu (`<data_dir>/calendar/<năm>.toml`).
    Import {
        /// Đường dẫn tệp quyết định.
        path: PathBuf,
    },
}

fn check_year(year: i16) -> anyhow::Result<()> {
    if !holidays::DECISION_YEARS.contains(&year) {
        bail!("Năm {year} không được hỗ trợ; chọn năm trong khoảng 1900–2100.");
    }
    Ok(())
}

fn agency_week(agencies: &[Agency], code: &str) -> anyhow::Result<WorkWeek> {
    let parsed = AgencyCode::parse(code)
        .map_err(|e| anyhow!("Mã cơ quan «{code}» không hợp lệ: {e} Ví dụ: 000.00.01.H31."))?;
    let agency = agencies
        .iter()
        .find(|a| a.code == parsed)
        .or_else(|| agencies.iter().find(|a| a.former_codes.contains(&parsed)))
        .ok_or_else(|| {
            anyhow!(
                "Không tìm thấy cơ quan có mã «{code}». Kiểm tra mã trong danh mục cơ quan (catalog/agencies.toml) hoặc bỏ tùy chọn --agency để dùng tuần làm việc thứ Hai–thứ Sáu."
            )
        })?;
    Ok(agency.work_week())
}

fn describe(d: &YearDecisions) -> String {
    let mut out = String::new();
    let rules: Vec<&str> = d.replaces_rules_for.iter().map(|r| r.key()).collect();
    let _ = writeln!(
        out,
        "Tệp hợp lệ: năm {}, {} ngày nghỉ, {} ngày làm bù{}.",
        d.year,
        d.days_off.len(),
        d.working_days.len(),
        if rules.is_empty() {
            String::new()
        } else {
            format!("; thay quy tắc: {}", rules.join(", "))
        }
    );
    for day in &d.days_off {
        let _ = writeln!(out, "{}\tnghỉ\t{}", day.date, day.name);
    }
    for day in &d.working_days {
        let _ = writeln!(out, "{}\tlàm việc\t{}", day.date, day.name);
    }
    out
}

/// Runs a `calendar` subcommand and returns the text to print.
pub fn run(cmd: CalendarCmd, data_dir: &Path, agencies: &[Agency]) -> anyhow::Result<String> {
    match cmd {
        CalendarCmd::Holidays { year } => {
            check_year(year)?;
            let cal = load_calendar(data_dir)?;
            let mut out = String::new();
            for (date, name) in cal.holidays(year) {
                let _ = writeln!(out, "{date}\t{name}");
            }
            Ok(out)
        }
        CalendarCmd::Due {
            from,
            days,
            hours,
            cutoff,
            agency,
        } => {
            let received: jiff::Timestamp = from.trim().parse().map_err(|_| {
                anyhow!(
                    "Thời điểm «{from}» không đúng định dạng RFC 3339, ví dụ 2027-04-14T10:00:00+07:00."
                )
            })?;
            check_year(
                received
                    .to_zoned_datetime(dvc_domain::calendar::vn_tz())
                    .year(),
            )?;
            let hours = hours.unwrap_or(0);
            if days > 0 && hours > 0 {
                bail!(
                    "Chỉ dùng một cách tính: --days N (ngày làm việc) hoặc --days 0 --hours H (giờ làm việc)."
                );
            }
            if days > dvc_domain::calendar::deadline::MAX_WORKING_DAYS {
                bail!(
                    "Số ngày làm việc tối đa là {}; kiểm tra lại --days.",
                    dvc_domain::calendar::deadline::MAX_WORKING_DAYS
                );
            }
            if let Some(h) = cutoff.filter(|h| *h > 23) {
                bail!(
                    "Giờ chốt {h} không hợp lệ; --cutoff nhận giờ từ 0 đến 23, ví dụ --cutoff 15."
                );
            }
            let week = match agency.as_deref() {
                Some(code) => agency_week(agencies, code)?,
                None => WorkWeek::default(),
            };
            let rule = DeadlineRule {
                working_days: days,
                working_hours: hours,
                cutoff_hour: cutoff,
            };
            let cal = load_calendar(data_dir)?;
            let due = DeadlinePolicy::new(&cal, week, rule).due(received.as_millisecond());
            let due = crate::ts(due).to_zoned_datetime(dvc_domain::calendar::vn_tz());
            Ok(format!("{}\n", due.strftime("%Y-%m-%d\t%H:%M")))
        }
        CalendarCmd::Check { path } => Ok(describe(&read_decisions(&path)?)),
        CalendarCmd::Import { path } => {
            let decision = read_decisions(&path)?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("Không đọc được tệp {}.", path.display()))?;
            let dir = decisions_dir(data_dir);
            std::fs::create_dir_all(&dir).with_context(|| {
                format!(
                    "Không tạo được thư mục {}; kiểm tra quyền ghi vào thư mục dữ liệu.",
                    dir.display()
                )
            })?;
            let target = dir.join(format!("{}.toml", decision.year));
            // Write to a temporary file first so a failed copy never leaves half a file behind.
            let tmp = dir.join(format!(".{}.toml.tmp", decision.year));
            std::fs::write(&tmp, text)
                .and_then(|()| std::fs::rename(&tmp, &target))
                .with_context(|| {
                    format!(
                        "Không ghi được tệp {}; kiểm tra quyền ghi vào thư mục dữ liệu.",
                        target.display()
                    )
                })?;
            Ok(format!(
                "Đã nhập quyết định năm {} vào {} (thay cho quyết định có sẵn của năm này, nếu có).\n{}",
                decision.year,
                target.display(),
                describe(&decision)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dvc-calendar-{name}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn due(
        data_dir: &Path,
        from: &str,
        days: u32,
        agency: Option<&str>,
        agencies: &[Agency],
    ) -> anyhow::Result<String> {
        run(
            CalendarCmd::Due {
                from: from.to_string(),
                days,
                hours: None,
                cutoff: None,
                agency: agency.map(str::to_string),
            },
            data_dir,
            agencies,
        )
    }

    #[test]
    fn holidays_and_due() {
        let dir = tmp_dir("basic");
        let out = run(CalendarCmd::Holidays { year: 2026 }, &dir, &[]).expect("holidays");
        assert!(out.starts_with("2026-01-01\tTết Dương lịch\n"), "{out}");
        assert!(out.contains("2026-04-27\tNghỉ bù Giỗ Tổ Hùng Vương (26/04)\n"));
        let out = due(&dir, "2027-04-14T10:00:00+07:00", 2, None, &[]).expect("due");
        assert_eq!(out, "2027-04-19\t17:00\n");
        let err = due(&dir, "14/04/2027", 2, None, &[]).expect_err("bad time");
        assert!(err.to_string().contains("RFC 3339"));
        let err =
            due(&dir, "2027-04-14T10:00:00+07:00", 2, Some("H99.99"), &[]).expect_err("agency");
        assert!(err.to_string().contains("Không tìm thấy cơ quan"));
        let err = run(CalendarCmd::Holidays { year: 1800 }, &dir, &[]).expect_err("year");
        assert!(err.to_string().contains("1900–2100"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn agency_week_is_used() {
        let dir = tmp_dir("agency");
        let agencies = dvc_domain::catalog::AgenciesFile::from_toml(
            "[[agencies]]\ncode = \"H31.01\"\nname = \"X\"\nkind = \"xa\"\nworking_weekdays = [1, 2, 3, 4, 5, 6]",
        )
        .expect("agencies")
        .agencies;
        // Fri 09/04/2027 + 1 working day: Saturday for a Monday–Saturday agency.
        let out = due(
            &dir,
            "2027-04-09T10:00:00+07:00",
            1,
            Some("H31.01"),
            &agencies,
        )
        .expect("due");
        assert_eq!(out, "2027-04-10\t17:00\n");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn import_overrides_a_shipped_year() {
        let dir = tmp_dir("import");
        let file = dir.join("my-2026.toml");
        std::fs::write(
            &file,
            "year = 2026\nreplaces_rules_for = [\"tet_nguyen_dan\"]\n[[days_off]]\nfrom = 2026-02-16\nto = 2026-02-20\nname = \"Nghỉ Tết\"\n[[working_days]]\ndate = 2026-01-10\nname = \"Làm bù\"\n",
        )
        .expect("write");
        let out = run(CalendarCmd::Check { path: file.clone() }, &dir, &[]).expect("check");
        assert!(out.contains("2026-01-10\tlàm việc\tLàm bù"), "{out}");
        let out = run(CalendarCmd::Import { path: file }, &dir, &[]).expect("import");
        assert!(out.contains("Đã nhập quyết định năm 2026"));
        assert!(dir.join("calendar/2026.toml").is_file());
        let cal = load_calendar(&dir).expect("calendar");
        let names: Vec<String> = cal.holidays(2026).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names.iter().filter(|n| *n == "Nghỉ Tết").count(), 5);
        assert!(cal.is_working_day(jiff::civil::date(2026, 1, 10), &WorkWeek::default()));
        // A broken file in the data directory is reported with its path.
        std::fs::write(
            dir.join("calendar/2027.toml"),
            "year = 2027\n[[days_off]]\nname = \"x\"\n",
        )
        .expect("write");
        let err = load_calendar(&dir).expect_err("invalid");
        assert!(err.to_string().contains("2027.toml"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
