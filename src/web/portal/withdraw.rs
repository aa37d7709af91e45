//! `/ho-so/xem/{token}/rut-ho-so`: the applicant withdraws the dossier (rút hồ sơ) through the
//! private link, after a confirmation step, while it is not finished. The dossier closes as
//! withdrawn; officials can no longer act on it and the applicant receives an e-mail.

use super::lookup::by_token;
use crate::error::{AppError, AppResult};
use crate::store::dossiers::{self, Actor, Decision};
use crate::web::AppState;
use crate::web::extract::CitizenPost;
use crate::web::security::{ensure_session, no_store, with_cookie};
use crate::web::staff::dossier::{mail_for_event, refusal, rules_for};
use crate::web::templates::render_status;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::dossier::{Action, transition};
use dvc_domain::workflow::{self, Actor as WorkflowActor, Command};
use minijinja::context;
use serde::Deserialize;

/// Longest reason kept.
const MAX_REASON: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct WithdrawForm {
    csrf: Option<String>,
    reason: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let row = by_token(&state, &token).await?;
    if transition(row.status()?, Action::Withdraw).is_err() {
        return Ok(Redirect::to(&format!("/ho-so/xem/{token}")).into_response());
    }
    let (session, cookie) = ensure_session(&state, &headers).await?;
    let procedure = state
        .catalog()
        .procedure(&row.procedure_code)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    Ok(with_cookie(
        no_store(render_status(
            StatusCode::OK,
            "withdraw.html",
            context! { token, csrf => session.csrf_token, code => row.code.clone(), procedure },
        )?),
        cookie,
    ))
}

pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    citizen: CitizenPost,
    form: Result<Form<WithdrawForm>, FormRejection>,
) -> AppResult<Response> {
    let form = form.map(|f| f.0).map_err(|_| {
        AppError::BadRequest(
            "Dữ liệu gửi lên không đọc được. Hãy mở lại trang rút hồ sơ và gửi lại.".into(),
        )
    })?;
    citizen.check_csrf(form.csrf.as_deref())?;
    let row = by_token(&state, &token).await?;
    let reason = form
        .reason
        .map(|r| {
            dvc_domain::text::clean_input(&r)
                .chars()
                .take(MAX_REASON)
                .collect::<String>()
        })
        .filter(|r| !r.trim().is_empty());
    let catalog = state.catalog();
    let p = catalog
        .procedure(&row.procedure_code)
        .ok_or_else(AppError::not_found)?;
    let policy = state.deadline_policy(catalog.agency(&row.agency_code), &p);
    let rules = rules_for(&state, &catalog, &row, &p, &policy);
    let now = state.clock.now_ms();
    let dossier = row.to_domain()?;
    let events = workflow::decide(
        &dossier,
        &Command::Withdraw { reason },
        WorkflowActor::Citizen,
        &rules,
        now,
    )
    .map_err(refusal)?;
    let next = events.iter().fold(dossier, |d, e| workflow::evolve(&d, e));
    let (mail, access_link) = match events
        .iter()
        .find_map(|e| mail_for_event(&state, &row, &p, rules.agency_name, &e.kind, &next))
    {
        Some((m, link)) => (Some(m), Some(link)),
        None => (None, None),
    };
    let who = Actor {
        id: "citizen".into(),
        name: Some("Công dân".into()),
        title: None,
        ip: citizen.ip.to_string(),
    };
    let mail_id = dossiers::save(
        &state.db,
        &state.audit_key,
        &row,
        &Decision {
            events: &events,
            next: &next,
            actor: &who,
            mail,
            access_link,
            attachments: vec![],
            payment: None,
        },
    )
    .await?;
    if let Some(id) = mail_id {
        state.mail.queued(id);
    }
    if row.payment_status.as_deref() == Some("paid") {
        // Withdrawn after paying: the fee is refunded (retried by the reconciliation job).
        crate::payment::flow::refund_soon(state.clone());
    }
    tracing::info!(dossier = %row.code, "the applicant withdrew the dossier");
    Ok(Redirect::to(&format!("/ho-so/xem/{token}?da-rut=1")).into_response())
}
