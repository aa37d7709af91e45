//! "Where is it stuck": time used in each workflow step against its allotment.

use crate::catalog::WorkflowStep;
use serde::Serialize;

/// A stretch of time the dossier spent in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub step: usize,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Waiting for the citizen: not counted against the agency.
    pub paused: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepUsage {
    pub name: String,
    pub role: String,
    /// Office seconds allotted (share of the total).
    pub allotted_secs: i64,
    /// Office seconds used so far (pauses excluded).
    pub used_secs: i64,
    /// `done`, `current` or `pending`.
    pub state: &'static str,
    pub late: bool,
}

/// Computes the usage of every step. `office_secs(from, to)` counts office time between two
/// instants (the working-day calendar). `current` is the step the dossier is in now, or `None`
/// when it is finished.
pub fn usage(
    steps: &[WorkflowStep],
    budget_secs: i64,
    segments: &[Segment],
    current: Option<usize>,
    office_secs: impl Fn(i64, i64) -> i64,
) -> Vec<StepUsage> {
    let reached = segments.iter().map(|s| s.step).max().unwrap_or(0);
    steps
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let used: i64 = segments
                .iter()
                .filter(|s| s.step == i && !s.paused)
                .map(|s| office_secs(s.from_ms, s.to_ms))
                .sum();
            let allotted = budget_secs.saturating_mul(i64::from(st.share_percent)) / 100;
            let state = match current {
                Some(c) if c == i => "current",
                Some(c) if i < c => "done",
                None if i <= reached => "done",
                _ => "pending",
            };
            StepUsage {
                name: st.name.clone(),
                role: st.role.clone(),
                allotted_secs: allotted,
                used_secs: used,
                state,
                late: used > allotted,
            }
        })
        .collect()
}

/// "2 giờ 30 phút", "3 ngày 1 giờ" (a day being `day_secs` of office time).
pub fn format_office_time(secs: i64, day_secs: i64) -> String {
    let secs = secs.max(0);
    let day_secs = day_secs.max(1);
    let days = secs / day_secs;
    let rest = secs % day_secs;
    let hours = rest / 3600;
    let minutes = (rest % 3600) / 60;
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} ngày"));
    }
    if hours > 0 {
        parts.push(format!("{hours} giờ"));
    }
    if minutes > 0 || parts.is_empty() {
        parts.push(format!("{minutes} phút"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps() -> Vec<WorkflowStep> {
        [
            ("Tiếp nhận", 10),
            ("Thụ lý", 60),
            ("Phê duyệt", 20),
            ("Trả kết quả", 10),
        ]
        .iter()
        .map(|(n, s)| WorkflowStep {
            name: (*n).into(),
            role: "x".into(),
            share_percent: *s,
        })
        .collect()
    }

    #[test]
    fn counts_time_per_step_excluding_pauses() {
        let segs = [
            Segment {
                step: 0,
                from_ms: 0,
                to_ms: 1000,
                paused: false,
            },
            Segment {
                step: 1,
                from_ms: 1000,
                to_ms: 5000,
                paused: false,
            },
            Segment {
                step: 1,
                from_ms: 5000,
                to_ms: 9000,
                paused: true,
            },
        ];
        let u = usage(&steps(), 100, &segs, Some(1), |a, b| (b - a) / 1000);
        assert_eq!(u[0].used_secs, 1);
        assert_eq!(u[1].used_secs, 4);
        assert_eq!(u[0].allotted_secs, 10);
        assert_eq!(u[1].state, "current");
        assert_eq!(u[0].state, "done");
        assert_eq!(u[2].state, "pending");
        assert!(!u[1].late);
    }

    #[test]
    fn formats() {
        assert_eq!(format_office_time(0, 28800), "0 phút");
        assert_eq!(
            format_office_time(28800 + 3600 * 2 + 60 * 5, 28800),
            "1 ngày 2 giờ 5 phút"
        );
    }
}
