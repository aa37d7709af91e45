//! `/can-bo/quan-tri/can-bo`: administrators manage the staff of their agency and sub-units.

use super::{StaffCtx, require_staff};
use crate::error::{AppError, AppResult};
use crate::store::{StoreError, audit, staff as store};
use crate::web::AppState;
use crate::web::extract::Peer;
use crate::web::security::{self, check_origin, no_store};
use crate::web::templates::render_status;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::audit::Entry;
use dvc_domain::staff::{Role, check_password};
use minijinja::{Value, context};
use serde::Deserialize;

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

#[derive(Deserialize)]
pub struct NewStaffForm {
    csrf: Option<String>,
    email: Option<String>,
    name: Option<String>,
    title: Option<String>,
    role: Option<String>,
    agency_code: Option<String>,
    password: Option<String>,
}

fn check_token(ctx: &StaffCtx, token: Option<&str>) -> AppResult<()> {
    if token.is_some_and(|t| !t.is_empty() && crate::web::security::ct_eq(t, &ctx.csrf)) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Phiên làm việc đã hết hạn. Hãy tải lại trang.".into(),
        ))
    }
}

pub async fn create(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Form<NewStaffForm>, axum::extract::rejection::FormRejection>,
) -> AppResult<Response> {
    check_origin(&state, &headers)?;
    let ctx = require_staff(&state, &headers).await?;
    let form = form
        .map(|f| f.0)
        .map_err(|_| AppError::BadRequest("Dữ liệu gửi lên không đọc được.".into()))?;
    check_token(&ctx, form.csrf.as_deref())?;
    require_admin(&ctx)?;
    let mut errors = Vec::new();
    let email = form
        .email
        .as_deref()
        .and_then(dvc_domain::form::parse_email);
    if email.is_none() {
        errors.push((
            "new-email",
            "Nhập địa chỉ thư điện tử đúng dạng, ví dụ ten@coquan.gov.vn.".to_string(),
        ));
    }
    let name = form
        .name
        .as_deref()
        .map(dvc_domain::text::clean_input)
        .filter(|s| s.chars().count() >= 2);
    if name.is_none() {
        errors.push(("new-name", "Nhập họ và tên cán bộ.".into()));
    }
    let title = form
        .title
        .as_deref()
        .map(dvc_domain::text::clean_input)
        .unwrap_or_default();
    let role = form.role.as_deref().and_then(Role::parse);
    if role.is_none() {
        errors.push(("new-role", "Chọn vai trò.".into()));
    }
    let agency = form.agency_code.filter(|c| ctx.visible.contains(c));
    if agency.is_none() {
        errors.push((
            "new-agency",
            "Chọn đơn vị trong phạm vi bạn quản lý.".into(),
        ));
    }
    let password = form.password.unwrap_or_default();
    if let Err(e) = check_password(&password) {
        errors.push(("new-password", e.to_string()));
    }
    let (Some(email), Some(name), Some(role), Some(agency)) = (email, name, role, agency) else {
        return render_page(&state, &ctx, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    if !errors.is_empty() {
        return render_page(&state, &ctx, &errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let hash = crate::password::hash(password).await?;
    let new = store::NewStaff {
        email: &email,
        name: &name,
        title: &title,
        role,
        agency_code: &agency,
        password_hash: &hash,
    };
    match store::create(&state.db, &new, crate::now_ms()).await {
        Ok(_) => {}
        Err(StoreError::Conflict(m)) => {
            return render_page(
                &state,
                &ctx,
                &[("new-email", m)],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    }
    let ip = security::client_ip(&state, &headers, peer).to_string();
    audit::append(
        &state.db,
        entry(&ctx, &ip, "staff_create", &email, None, Some(role.as_str())),
    )
    .await?;
    Ok(Redirect::to("/can-bo/quan-tri/can-bo").into_response())
}

#[derive(Deserialize)]
pub struct ToggleForm {
    csrf: Option<String>,
    active: Option<String>,
}

pub async fn toggle(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Peer(peer): Peer,
    headers: HeaderMap,
    form: Result<Form<ToggleForm>, axum::extract::rejection::FormRejection>,
) -> AppResult<Response> {
    check_origin(&state, &headers)?;
    let ctx = require_staff(&state, &headers).await?;
    let form = form
        .map(|f| f.0)
        .map_err(|_| AppError::BadRequest("Dữ liệu gửi lên không đọc được.".into()))?;
    check_token(&ctx, form.csrf.as_deref())?;
    require_admin(&ctx)?;
    let target = store::find(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    ctx.check_scope(&target.agency_code)?;
    if target.id == ctx.staff.id {
        return Err(AppError::Unprocessable(
            "Không tự khóa tài khoản của chính mình.".into(),
        ));
    }
    let active = form.active.as_deref() == Some("1");
    store::set_active(&state.db, id, active).await?;
    let ip = security::client_ip(&state, &headers, peer).to_string();
    let action = if active {
        "staff_activate"
    } else {
        "staff_deactivate"
    };
    audit::append(
        &state.db,
        entry(
            &ctx,
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
    ctx: &StaffCtx,
    ip: &str,
    action: &str,
    subject: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Entry {
    Entry {
        seq: 0,
        at: crate::now_ms(),
        actor: ctx.staff.email.clone(),
        ip: ip.into(),
        action: action.into(),
        subject: subject.into(),
        from_state: from.map(Into::into),
        to_state: to.map(Into::into),
        reason: None,
    }
}
