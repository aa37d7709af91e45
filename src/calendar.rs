//! The working-day calendar the application uses: the rules and shipped decisions of
//! `dvc_domain::calendar`, overridden by the yearly decision files an administrator imports into
//! `<data dir>/calendar/` (`dichvucong calendar import`).

use anyhow::{Context, anyhow};
use dvc_domain::calendar::{WorkingCalendar, YearDecisions};
use std::path::{Path, PathBuf};

/// The directory of administrators' decision files.
pub fn decisions_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("calendar")
}

pub fn read_decisions(path: &Path) -> anyhow::Result<YearDecisions> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "Không đọc được tệp {}; kiểm tra đường dẫn và quyền đọc.",
            path.display()
        )
    })?;
    YearDecisions::from_toml(&text).map_err(|e| anyhow!("Tệp {} không hợp lệ: {e}", path.display()))
}

/// The decision files in `<data_dir>/calendar/`, in file-name order (none if the directory does
/// not exist).
pub fn load_decisions(data_dir: &Path) -> anyhow::Result<Vec<YearDecisions>> {
    let dir = decisions_dir(data_dir);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("Không đọc được thư mục {}.", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| read_decisions(p)).collect()
}

/// The calendar of the application: rules, shipped decisions, then the decision files in
/// `<data_dir>/calendar/` (which override a shipped year).
pub fn load_calendar(data_dir: &Path) -> anyhow::Result<WorkingCalendar> {
    let mut decisions = dvc_domain::calendar::shipped_decisions();
    decisions.extend(load_decisions(data_dir)?);
    Ok(WorkingCalendar::new(decisions))
}
