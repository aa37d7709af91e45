//! Builds the per-step view of a dossier (current step, handler, time used against allotment)
//! from its timeline, for the back office and the citizen's status page alike.

use super::AppState;
use crate::store::dossiers::{DossierRow, EventRow};
use dvc_domain::catalog::Procedure;
use dvc_domain::dossier::{DossierStatus, step_of};
use dvc_domain::progress::{Segment, StepUsage, format_office_time, usage};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepView {
    pub name: String,
    /// `done`, `current` or `pending`.
    pub state: String,
    pub allotted: String,
    pub used: String,
    pub allotted_secs: i64,
    pub used_secs: i64,
    /// Used more than its allotment.
    pub late: bool,
}

pub fn steps(
    state: &AppState,
    row: &DossierRow,
    p: &Procedure,
    events: &[EventRow],
    now: i64,
) -> crate::store::StoreResult<Vec<StepView>> {
    let wf = p.effective_workflow();
    let status = row.status()?;
    let segments = segments(row, &wf, events, now)?;
    let catalog = state.catalog();
    let policy = state.deadline_policy(catalog.agency(&row.agency_code), p);
    let day_secs = state.calendar.office_hours().daily().as_secs();
    let budget = budget_secs(state, p);
    let current = (!status.is_closed()).then_some(row.step.max(0) as usize);
    let u: Vec<StepUsage> = usage(&wf, budget, &segments, current, |a, b| {
        policy.office_seconds(a, b)
    });
    Ok(u.into_iter()
        .map(|s| StepView {
            name: s.name,
            state: s.state.to_string(),
            allotted: format_office_time(s.allotted_secs, day_secs),
            used: format_office_time(s.used_secs, day_secs),
            allotted_secs: s.allotted_secs,
            used_secs: s.used_secs,
            late: s.late,
        })
        .collect())
}

/// The whole time budget of procedure `p` in office seconds (at least one working day).
fn budget_secs(state: &AppState, p: &Procedure) -> i64 {
    let day_secs = state.calendar.office_hours().daily().as_secs();
    i64::from(p.processing_time.working_days.max(1)) * day_secs
}

/// The dossier's timeline as segments: from each event to the next (the last one to its end or
/// `now`), in the step the event left it in.
fn segments(
    row: &DossierRow,
    wf: &[dvc_domain::catalog::WorkflowStep],
    events: &[EventRow],
    now: i64,
) -> crate::store::StoreResult<Vec<Segment>> {
    let end = row.finished_at.unwrap_or(now);
    let mut segments = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let to = events.get(i + 1).map(|n| n.at).unwrap_or(end);
        let st = e.to_status()?;
        let step = e
            .step
            .map(|s| s.max(0) as usize)
            .unwrap_or_else(|| step_of(st, wf.len()));
        segments.push(Segment {
            step,
            from_ms: e.at,
            to_ms: to,
            paused: st == DossierStatus::AwaitingSupplement,
        });
    }
    Ok(segments)
}

/// "Trước hạn / Đúng hạn / Quá hạn" of each hand-over (each event after the filing), for the
/// Phiếu kiểm soát (Mẫu 06): `None` where the dossier came back from the applicant.
pub fn handover_ratings(
    state: &AppState,
    row: &DossierRow,
    p: &Procedure,
    events: &[EventRow],
) -> crate::store::StoreResult<Vec<Option<dvc_domain::progress::Timeliness>>> {
    let wf = p.effective_workflow();
    let mut segs = segments(row, &wf, events, state.clock.now_ms())?;
    // The last segment ends at no hand-over.
    segs.pop();
    let catalog = state.catalog();
    let policy = state.deadline_policy(catalog.agency(&row.agency_code), p);
    Ok(dvc_domain::progress::rate_handovers(
        &wf,
        budget_secs(state, p),
        &segs,
        |a, b| policy.office_seconds(a, b),
        |t| policy.add_working_days(t, 0),
    ))
}
