//! `/can-bo/quan-tri/can-bo`: administrators manage the staff of their agency and sub-units.

use super::{StaffCtx, StaffForm, require_staff};
use crate::accounts::AccountError;
use crate::error::{AppError, AppResult};
use crate::store::{audit, staff as store};
use crate::web::AppState;
use crate::web::security::no_store;
use crate::web::templates::render_status;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::audit::Entry;
use dvc_domain::staff::{Role, check_password};
use minijinja::{Value, context};

fn require_admin(ctx: &StaffCtx) -> AppResult<()> {
    if ctx.role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Chỉ quản trị hệ thống được quản lý tài khoản cán bộ.".into(),
        ))
    }
}

async fn render_page(
    state: &AppState,
    ctx: &StaffCtx,
    errors: &[(&str, String)],
    status: StatusCode,
) -> AppResult<Response> {
    let staff = store::list(&state.db, &ctx.visible).await?;
    let catalog = state.catalog();
    let rows: Vec<Value> = staff
        .iter()
        .map(|s| {
            context! {
                id => s.id, email => s.email.clone(), name => s.name.clone(), title => s.title.clone(),
                role => s.role().map(|r| r.label()).unwrap_or_default(), active => s.active == 1,
                agency => catalog.agency(&s.agency_code).map(|a| a.name.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let agencies: Vec<Value> = ctx
        .visible
        .iter()
        .filter_map(|c| catalog.agency(c))
        .map(|a| context! { code => a.code.to_string(), name => a.name.clone() })
        .collect();
    let roles: Vec<Value> = Role::ALL
        .iter()
        .map(|r| context! { value => r.as_str(), label => r.label() })
        .collect();
    Ok(no_store(render_status(
        status,
        "staff_admin.html",
        context! { csrf => ctx.csrf.clone(), me => context! { name => ctx.staff.name.clone(), role => ctx.role.label() }, rows, agencies, roles, errors => errors.iter().map(|(f, m)| context! { field => *f, message => m.clone() }).collect::<Vec<_>>(),
        error_map => errors.iter().map(|(f, m)| (f.to_string(), m.clone())).collect::<std::collections::BTreeMap<_, _>>() },
    )?))
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    require_admin(&ctx)?;
    render_page(&state, &ctx, &[], StatusCode::OK).await
}

pub async fn create(State(state): State<AppState>, form: StaffForm) -> AppResult<Response> {
    let ctx = &form.ctx;
    require_admin(ctx)?;
    let mut errors = Vec::new();
    let email = form.get("email").and_then(dvc_domain::form::parse_email);
    if email.is_none() {
        errors.push((
            "new-email",
            "Nhập địa chỉ thư điện tử đúng dạng, ví dụ ten@coquan.gov.vn.".to_string(),
        ));
    }
    let name = form
        .get("name")
        .map(dvc_domain::text::clean_input)
        .filter(|s| s.chars().count() >= 2);
    if name.is_none() {
        errors.push(("new-name", "Nhập họ và tên cán bộ.".into()));
    }
    let title = form
        .get("title")
        .map(dvc_domain::text::clean_input)
        .unwrap_or_default();
    let role = form.get("role").and_then(Role::parse);
    if role.is_none() {
        errors.push(("new-role", "Chọn vai trò.".into()));
    }
    let agency = form
        .get("agency_code")
        .map(str::to_string)
        .filter(|c| ctx.visible.contains(c));
    if agency.is_none() {
        errors.push((
            "new-agency",
            "Chọn đơn vị trong phạm vi bạn quản lý.".into(),
        ));
    }
    // Passwords are taken as typed (the extractor cleans control characters only).
    let password = form.get("password").unwrap_or_default().to_string();
    if let Err(e) = check_password(&password) {
        errors.push(("new-password", e.to_string()));
    }
    let (Some(email), Some(name), Some(role), Some(agency)) = (email, name, role, agency) else {
        return render_page(&state, ctx, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    if !errors.is_empty() {
        return render_page(&state, ctx, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let account = crate::accounts::NewAccount {
        email: &email,
        name: &name,
        title: &title,
        role,
        agency_code: &agency,
        password,
    };
    let ip = form.ip(&state);
    match crate::accounts::create(
        &state.db,
        &state.audit_key,
        account,
        &ctx.staff.email,
        &ip,
        state.clock.now_ms(),
    )
    .await
    {
        Ok(_) => {}
        Err(AccountError::Taken(m)) => {
            return render_page(
                &state,
                ctx,
                &[("new-email", m)],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(AccountError::WeakPassword(m)) => {
            return render_page(
                &state,
                ctx,
                &[("new-password", m.to_string())],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(AccountError::Store(e)) => return Err(e.into()),
        Err(AccountError::Other(e)) => return Err(AppError::Internal(e)),
    }
    Ok(Redirect::to("/can-bo/quan-tri/can-bo").into_response())
}

pub async fn toggle(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: StaffForm,
) -> AppResult<Response> {
    let ctx = &form.ctx;
    require_admin(ctx)?;
    let target = store::find(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    ctx.check_scope(&target.agency_code)?;
    if target.id == ctx.staff.id {
        return Err(AppError::Unprocessable(
            "Không tự khóa tài khoản của chính mình.".into(),
        ));
    }
    let active = form.get("active") == Some("1");
    store::set_active(&state.db, id, active).await?;
    let ip = form.ip(&state);
    let action = if active {
        "staff_activate"
    } else {
        "staff_deactivate"
    };
    audit::append(
        &state.db,
        &state.audit_key,
        entry(
            &state,
            ctx,
            &ip,
            action,
            &target.email,
            Some(&target.active.to_string()),
            Some(if active { "1" } else { "0" }),
        ),
    )
    .await?;
    Ok(Redirect::to("/can-bo/quan-tri/can-bo").into_response())
}

fn entry(
    state: &AppState,
    ctx: &StaffCtx,
    ip: &str,
    action: &str,
    subject: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Entry {
    Entry {
        seq: 0,
        at: state.clock.now_ms(),
        actor: ctx.staff.email.clone(),
        ip: ip.into(),
        action: action.into(),
        subject: subject.into(),
        from_state: from.map(Into::into),
        to_state: to.map(Into::into),
        reason: None,
        event_id: None,
        event_hash: None,
    }
}
