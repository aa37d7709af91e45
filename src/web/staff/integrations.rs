//! `/can-bo/quan-tri/tich-hop`: administrators see the deliveries to partners' webhooks and to
//! the national portal that have not gone through (with the receiver's last answer), send one
//! again ("gửi lại"), and read the national synchronisation rate of their agencies.

use super::{StaffForm, require_staff};
use crate::error::{AppError, AppResult};
use crate::store::{audit, partners};
use crate::web::AppState;
use crate::web::security::no_store;
use crate::web::templates::render;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::audit::Entry;
use dvc_domain::staff::Role;
use minijinja::{Value, context};

fn require_admin(role: Role) -> AppResult<()> {
    if role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Chỉ quản trị hệ thống được xem và gửi lại dữ liệu tích hợp.".into(),
        ))
    }
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    require_admin(ctx.role)?;
    let failures = partners::failures(&state.db, &ctx.visible).await?;
    let rows: Vec<Value> = failures
        .iter()
        .map(|f| {
            let receiver = if f.target == "dvcqg" {
                "Cổng Dịch vụ công quốc gia".to_string()
            } else {
                f.partner_name.clone().unwrap_or_default()
            };
            context! {
                id => f.id, receiver, url => f.url.clone(), dossier => f.dossier_code.clone(),
                action => f.action.clone(), attempts => f.attempts, created_at => f.created_at,
                next_attempt_at => f.next_attempt_at, given_up => f.failed_at.is_some(),
                last_status => f.last_status, last_error => f.last_error.clone().unwrap_or_default(),
            }
        })
        .collect();
    let rate = if state.config.dvcqg_url.is_some() {
        let (synced, total) = partners::sync_rate(&state.db, &ctx.visible).await?;
        let percent = if total > 0 {
            synced * 1000 / total
        } else {
            1000
        };
        Some(context! { synced, total, percent => format!("{},{}", percent / 10, percent % 10) })
    } else {
        None
    };
    Ok(no_store(
        render(
            "staff_integrations.html",
            context! {
                csrf => ctx.csrf.clone(),
                me => context! { name => ctx.staff.name.clone(), role => ctx.role.label(), is_admin => true },
                rows, rate,
            },
        )?
        .into_response(),
    ))
}

/// "Gửi lại": the delivery is due again now; the worker sends it within a second.
pub async fn resend(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: StaffForm,
) -> AppResult<Response> {
    let ctx = &form.ctx;
    require_admin(ctx.role)?;
    let (agency, code) = partners::delivery_dossier(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    ctx.check_scope(&agency)?;
    if !partners::resend(&state.db, id, state.clock.now_ms()).await? {
        return Err(AppError::Conflict(
            "Lần gửi này đã thành công, không cần gửi lại.".into(),
        ));
    }
    audit::append(
        &state.db,
        &state.audit_key,
        Entry {
            seq: 0,
            at: state.clock.now_ms(),
            actor: ctx.staff.email.clone(),
            ip: form.ip(&state),
            action: "delivery_resend".into(),
            subject: format!("{code} delivery {id}"),
            from_state: None,
            to_state: None,
            reason: None,
            event_id: None,
            event_hash: None,
        },
    )
    .await?;
    state.deliveries.notify_one();
    Ok(Redirect::to("/can-bo/quan-tri/tich-hop?da=gui-lai").into_response())
}
