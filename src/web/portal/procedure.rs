//! `/thu-tuc/{code}`: every item of level-1 information; template downloads from level 2;
//! the "Nộp hồ sơ trực tuyến" button from level 3.

use super::procedure_or_404;
use crate::error::AppResult;
use crate::web::AppState;
use crate::web::templates::{render, ser};
use axum::extract::{Path, State};
use axum::response::Html;
use minijinja::{Value, context};

pub async fn page(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> AppResult<Html<String>> {
    let (catalog, p) = procedure_or_404(&state, &code)?;
    let agencies: Vec<Value> = p
        .implementing_agencies(&catalog.agencies)
        .iter()
        .map(|a| context! { code => a.code.to_string(), name => a.name.clone(), address => a.address.clone(), phone => a.phone.clone(), office_hours => a.office_hours.clone(), sample => a.sample })
        .collect();
    let now = state.clock.now_ms();
    let expected_if_now = state.deadline_policy(None, &p).due(now);
    render(
        "procedure.html",
        context! {
            p => ser(&p),
            level => p.level.number(), level_label => p.level.label(), level_description => p.level.description(),
            online_class_label => p.online_class.label(),
            has_templates => p.level.has_templates(), online => p.level.online_submission(), online_payment => p.level.online_payment(),
            agencies, expected_if_now,
        },
    )
}

/// The printable blank declaration, generated from the form definition (level ≥ 2).
pub async fn blank_form(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> AppResult<Html<String>> {
    let (_, p) = procedure_or_404(&state, &code)?;
    if !p.level.has_templates() {
        return Err(crate::error::AppError::NotFound(format!(
            "Thủ tục “{}” chưa cung cấp mẫu tờ khai để tải về.",
            p.name
        )));
    }
    let form = p.form.as_ref().map(|f| f.with_applicant());
    render(
        "blank_form.html",
        context! { p => ser(&p), form => ser(&form) },
    )
}
