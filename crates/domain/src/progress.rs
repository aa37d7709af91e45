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

/// How a hand-over met its step's time (Mẫu 06, column "Kết quả giải quyết hồ sơ").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    /// Handed over on a working day before the step's time ran out.
    Early,
    /// Handed over on the day the step's time runs out, within it.
    OnTime,
    /// Handed over after the step's time ran out.
    Late,
}

impl Timeliness {
    pub fn label(self) -> &'static str {
        match self {
            Timeliness::Early => "Trước hạn",
            Timeliness::OnTime => "Đúng hạn",
            Timeliness::Late => "Quá hạn",
        }
    }
}

/// Rates each hand-over: the end of segment `k` is a hand-over, rated by the office time its
/// step has used up to then (paused time excluded) against the step's allotment: over it is
/// late; with more time left than remains of that working day (`end_of_day` gives the office's
/// closing on the day of an instant) it is early; otherwise on time. A segment the dossier
/// spent waiting for the applicant is not rated (`None`).
pub fn rate_handovers(
    steps: &[WorkflowStep],
    budget_secs: i64,
    segments: &[Segment],
    office_secs: impl Fn(i64, i64) -> i64,
    end_of_day: impl Fn(i64) -> i64,
) -> Vec<Option<Timeliness>> {
    let mut used = vec![0i64; steps.len().max(1)];
    segments
        .iter()
        .map(|seg| {
            if seg.paused {
                return None;
            }
            let i = seg.step.min(used.len() - 1);
            used[i] += office_secs(seg.from_ms, seg.to_ms);
            let share = steps.get(i).map_or(100, |s| s.share_percent);
            let allotted = budget_secs.saturating_mul(i64::from(share)) / 100;
            let left = allotted - used[i];
            Some(if left < 0 {
                Timeliness::Late
            } else if left > office_secs(seg.to_ms, end_of_day(seg.to_ms)) {
                Timeliness::Early
            } else {
                Timeliness::OnTime
            })
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

    #[test]
    fn hand_overs_are_early_on_time_or_late_against_their_step() {
        // Office time is plain time here; a "day" ends at the next multiple of 1000.
        let office = |a: i64, b: i64| (b - a).max(0);
        let end_of_day = |t: i64| (t / 1000 + 1) * 1000;
        let seg = |step, from_ms, to_ms, paused| Segment {
            step,
            from_ms,
            to_ms,
            paused,
        };
        // Budget 10 000: Tiếp nhận 1 000, Thụ lý 6 000, Phê duyệt 2 000, Trả kết quả 1 000.
        let rated = rate_handovers(
            &steps(),
            10_000,
            &[
                seg(0, 0, 100, false),       // 900 left, 900 left of the day: on time
                seg(1, 100, 1_500, false),   // 4 600 left past the day: early
                seg(1, 1_500, 3_000, true),  // with the applicant: not rated
                seg(1, 3_000, 7_700, false), // 6 100 used of 6 000: late
                seg(2, 7_700, 7_800, false), // 1 900 left, 200 of the day: early
            ],
            office,
            end_of_day,
        );
        assert_eq!(
            rated,
            [
                Some(Timeliness::OnTime),
                Some(Timeliness::Early),
                None,
                Some(Timeliness::Late),
                Some(Timeliness::Early),
            ]
        );
        assert_eq!(Timeliness::Early.label(), "Trước hạn");
    }
}
