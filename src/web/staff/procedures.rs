//! `/can-bo/quan-tri/thu-tuc`: the procedure editor of the administrator. Level-1 information in
//! one box per item (lists one line per entry), the online form as TOML, checked by the same
//! parser as the catalogue files ([`dvc_domain::editor`]). Every change is a draft; "Xuất bản"
//! makes it the live version (the catalogue and its search index are rebuilt), earlier versions
//! stay readable, and dossiers keep the version they were filed with. A publication that would
//! make citizens' checked drafts invalid says how many and asks for a confirmation. Every
//! action is written to the audit log.

use super::{StaffCtx, StaffForm, require_staff};
use crate::error::{AppError, AppResult};
use crate::store::{audit, procedures as store};
use crate::web::AppState;
use crate::web::extract::LenientQuery;
use crate::web::security::no_store;
use crate::web::templates::render_status;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::audit::Entry;
use dvc_domain::catalog::Procedure;
use dvc_domain::editor::{self, EditorError, Input};
use dvc_domain::staff::Role;
use minijinja::{Value, context};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const PAGE_SIZE: usize = 50;
const BASE: &str = "/can-bo/quan-tri/thu-tuc";

fn require_admin(ctx: &StaffCtx) -> AppResult<()> {
    if ctx.role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "Chỉ quản trị hệ thống được soạn, xuất bản hoặc ngừng áp dụng thủ tục hành chính."
                .into(),
        ))
    }
}

fn me(ctx: &StaffCtx) -> Value {
    context! { name => ctx.staff.name.clone(), role => ctx.role.label(), is_admin => true }
}

/// A code from the URL, as stored codes are written (`1.001193`); anything else is not found.
fn checked_code(code: &str) -> AppResult<&str> {
    let ok = !code.is_empty()
        && code.len() <= 40
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    if ok {
        Ok(code)
    } else {
        Err(AppError::NotFound(
            "Không tìm thấy thủ tục có mã này.".into(),
        ))
    }
}

async fn record(
    state: &AppState,
    ctx: &StaffCtx,
    ip: &str,
    action: &str,
    code: &str,
    from: Option<String>,
    to: Option<String>,
) -> AppResult<()> {
    audit::append(
        &state.db,
        &state.audit_key,
        Entry {
            seq: 0,
            at: state.clock.now_ms(),
            actor: ctx.staff.email.clone(),
            ip: ip.into(),
            action: action.into(),
            subject: code.into(),
            from_state: from,
            to_state: to,
            reason: None,
            event_id: None,
            event_hash: None,
        },
    )
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize, Default)]
pub struct ListParams {
    q: Option<String>,
    trang: Option<usize>,
}

/// The list: drafts being written, then the live procedures (searchable, 50 a page), then the
/// retired ones.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<ListParams>,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    require_admin(&ctx)?;
    let catalog = state.catalog();
    let drafts: Vec<Value> = store::drafts(&state.db)
        .await?
        .into_iter()
        .map(|(code, version, data)| {
            let name = serde_json::from_str::<Procedure>(&data)
                .map(|p| p.name)
                .unwrap_or_default();
            let live = catalog.summary(&code).map(|s| s.version);
            context! { code, version, name, live }
        })
        .collect();
    let q = params
        .q
        .as_deref()
        .map(dvc_domain::text::clean_input)
        .filter(|q| !q.trim().is_empty());
    let results = catalog.search(&crate::catalog::Query {
        text: q.clone(),
        ..Default::default()
    });
    let pages = results.len().div_ceil(PAGE_SIZE).max(1);
    let page = params.trang.unwrap_or(1).clamp(1, pages);
    let rows: Vec<Value> = results
        .page((page - 1) * PAGE_SIZE, PAGE_SIZE)
        .into_iter()
        .map(|s| context! { code => s.code.clone(), name => s.name.clone(), field => s.field.clone(), level => s.level.number(), version => s.version })
        .collect();
    let retired: Vec<Value> = catalog
        .summaries()
        .iter()
        .filter(|s| s.retired)
        .map(|s| context! { code => s.code.clone(), name => s.name.clone(), version => s.version })
        .collect();
    Ok(no_store(render_status(
        StatusCode::OK,
        "staff_procedures.html",
        context! {
            csrf => ctx.csrf.clone(), me => me(&ctx), drafts, rows, retired,
            total => results.len(), page, pages, q,
            import_errors => Vec::<Value>::new(), import_text => "",
        },
    )?))
}

fn editor_page(
    ctx: &StaffCtx,
    code: Option<&str>,
    input: &Input,
    errors: &[EditorError],
    status: StatusCode,
) -> AppResult<Response> {
    // The first problem of each box.
    let mut error_map: BTreeMap<String, String> = BTreeMap::new();
    for e in errors {
        error_map
            .entry(e.field.clone())
            .or_insert_with(|| e.message.clone());
    }
    Ok(no_store(render_status(
        status,
        "staff_procedure_edit.html",
        context! {
            csrf => ctx.csrf.clone(), me => me(ctx), code, v => input,
            errors => errors.iter().map(|e| context! { field => e.field.clone(), message => e.message.clone() }).collect::<Vec<_>>(),
            error_map,
            action => code.map(|c| format!("{BASE}/{c}/sua")).unwrap_or_else(|| format!("{BASE}/moi")),
        },
    )?))
}

/// A new procedure: the empty editor (with the usual defaults).
pub async fn new_form(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    require_admin(&ctx)?;
    let mut input = Input::new();
    input.insert("level".into(), "3".into());
    input.insert("online_class".into(), "mot_phan".into());
    input.insert("implementing_kind".into(), "xa".into());
    input.insert("dossier_sets".into(), "1".into());
    editor_page(&ctx, None, &input, &[], StatusCode::OK)
}

fn posted_input(form: &StaffForm) -> Input {
    // Boxes keep their line breaks; control characters are gone (the extractor).
    form.fields
        .iter()
        .filter(|(k, _)| k != "csrf")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub async fn create(State(state): State<AppState>, form: StaffForm) -> AppResult<Response> {
    let ctx = &form.ctx;
    require_admin(ctx)?;
    let input = posted_input(&form);
    let p = match editor::from_input(&input, None) {
        Ok(p) => p,
        Err(errors) => {
            return editor_page(ctx, None, &input, &errors, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    if store::exists(&state.db, &p.code).await? {
        let errors = [EditorError {
            field: "code".into(),
            message: format!(
                "Đã có thủ tục mã {}. Mở thủ tục đó trong danh sách để sửa, hoặc dùng mã khác.",
                p.code
            ),
        }];
        return editor_page(ctx, None, &input, &errors, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let v = store::save_draft(&state.db, &p, &ctx.staff.email, state.clock.now_ms()).await?;
    record(
        &state,
        ctx,
        &form.ip(&state),
        "procedure_create",
        &p.code,
        None,
        Some(format!("draft v{v}")),
    )
    .await?;
    Ok(Redirect::to(&format!("{BASE}/{}?da=luu", p.code)).into_response())
}

/// The live version of a procedure from the catalogue, or its last stored version.
async fn current(state: &AppState, code: &str) -> AppResult<Option<(i64, Procedure)>> {
    if let Some((v, p)) = store::draft(&state.db, code).await? {
        return Ok(Some((v, p)));
    }
    let catalog = state.catalog();
    if let (Some(s), Some(p)) = (catalog.summary(code), catalog.procedure(code)) {
        return Ok(Some((s.version, (*p).clone())));
    }
    let last = store::versions(&state.db, code).await?.into_iter().next();
    match last {
        Some(m) => Ok(store::get(&state.db, code, m.version)
            .await?
            .map(|p| (m.version, p))),
        None => Ok(None),
    }
}

pub async fn edit_form(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    require_admin(&ctx)?;
    let code = checked_code(&code)?;
    let (_, p) = current(&state, code)
        .await?
        .ok_or_else(|| AppError::NotFound("Không tìm thấy thủ tục có mã này.".into()))?;
    editor_page(&ctx, Some(code), &editor::to_input(&p), &[], StatusCode::OK)
}

pub async fn save(
    State(state): State<AppState>,
    Path(code): Path<String>,
    form: StaffForm,
) -> AppResult<Response> {
    let ctx = &form.ctx;
    require_admin(ctx)?;
    let code = checked_code(&code)?;
    let (_, base) = current(&state, code)
        .await?
        .ok_or_else(|| AppError::NotFound("Không tìm thấy thủ tục có mã này.".into()))?;
    let input = posted_input(&form);
    let p = match editor::from_input(&input, Some(&base)) {
        Ok(p) => p,
        Err(errors) => {
            return editor_page(
                ctx,
                Some(code),
                &input,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let v = store::save_draft(&state.db, &p, &ctx.staff.email, state.clock.now_ms()).await?;
    record(
        &state,
        ctx,
        &form.ip(&state),
        "procedure_draft_save",
        code,
        None,
        Some(format!("draft v{v}")),
    )
    .await?;
    Ok(Redirect::to(&format!("{BASE}/{code}?da=luu")).into_response())
}

#[derive(Debug, Deserialize, Default)]
pub struct ShowParams {
    da: Option<String>,
}

/// How many checked citizens' drafts of this procedure the new form would refuse.
async fn drafts_made_invalid(state: &AppState, p: &Procedure) -> AppResult<usize> {
    let form = p.declaration();
    let today = state.clock.today_vn();
    let mut n = 0;
    for (answers, files) in store::checked_drafts(&state.db, &p.code).await? {
        let uploaded: BTreeSet<String> = files;
        if dvc_domain::form::validate(&form, &answers, &uploaded, today).is_err() {
            n += 1;
        }
    }
    Ok(n)
}

async fn show_page(
    state: &AppState,
    ctx: &StaffCtx,
    code: &str,
    notice: Option<&str>,
    warning: Option<usize>,
    status: StatusCode,
) -> AppResult<Response> {
    let versions = store::versions(&state.db, code).await?;
    let catalog = state.catalog();
    let live = catalog.summary(code);
    if versions.is_empty() && live.is_none() {
        return Err(AppError::NotFound(
            "Không tìm thấy thủ tục có mã này.".into(),
        ));
    }
    let draft = store::draft(&state.db, code).await?;
    let name = match (&draft, catalog.procedure(code)) {
        (Some((_, p)), _) => p.name.clone(),
        (None, Some(p)) => p.name.clone(),
        _ => String::new(),
    };
    let rows: Vec<Value> = versions
        .iter()
        .map(|m| context! {
            version => m.version, status => m.status.clone(), created_at => m.created_at, created_by => m.created_by.clone(),
            published_at => m.published_at, published_by => m.published_by.clone(),
            live => live.is_some_and(|s| s.version == m.version),
        })
        .collect();
    let notice = match notice {
        Some("luu") => {
            Some("Đã lưu bản nháp. Thủ tục đang áp dụng chưa thay đổi cho đến khi bấm “Xuất bản”.")
        }
        Some("xuat-ban") => Some(
            "Đã xuất bản: phiên bản mới đang được áp dụng. Hồ sơ đã nộp giữ nguyên phiên bản biểu mẫu khi nộp.",
        ),
        Some("ngung") => {
            Some("Đã ngừng áp dụng thủ tục: không còn hiện trong danh mục và không nhận hồ sơ mới.")
        }
        Some("ap-dung") => Some("Thủ tục được áp dụng lại."),
        Some("huy") => Some("Đã hủy bản nháp."),
        Some("nhap") => Some("Đã nhập tệp TOML thành bản nháp. Kiểm tra rồi bấm “Xuất bản”."),
        _ => None,
    };
    Ok(no_store(render_status(
        status,
        "staff_procedure.html",
        context! {
            csrf => ctx.csrf.clone(), me => me(ctx), code, name, versions => rows, notice, warning,
            draft => draft.as_ref().map(|(v, _)| *v),
            live => live.map(|s| context! { version => s.version, retired => s.retired }),
        },
    )?))
}

pub async fn show(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<ShowParams>,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    require_admin(&ctx)?;
    let code = checked_code(&code)?;
    show_page(
        &state,
        &ctx,
        code,
        params.da.as_deref(),
        None,
        StatusCode::OK,
    )
    .await
}

/// "Xuất bản": the draft becomes the live version. When citizens' checked drafts would no
/// longer pass the new form, the page says how many and publishing needs `xac_nhan=1`.
pub async fn publish(
    State(state): State<AppState>,
    Path(code): Path<String>,
    form: StaffForm,
) -> AppResult<Response> {
    let ctx = &form.ctx;
    require_admin(ctx)?;
    let code = checked_code(&code)?;
    let Some((v, draft)) = store::draft(&state.db, code).await? else {
        return Err(AppError::Unprocessable(
            "Thủ tục này không có bản nháp để xuất bản. Bấm “Sửa” để soạn bản nháp.".into(),
        ));
    };
    let affected = drafts_made_invalid(&state, &draft).await?;
    if affected > 0 && form.get("xac_nhan") != Some("1") {
        return show_page(
            &state,
            ctx,
            code,
            None,
            Some(affected),
            StatusCode::CONFLICT,
        )
        .await;
    }
    let live_before = state.catalog().summary(code).map(|s| s.version);
    store::publish(&state.db, code, &ctx.staff.email, state.clock.now_ms())
        .await?
        .ok_or_else(|| {
            AppError::Unprocessable("Bản nháp vừa được xuất bản hoặc hủy. Tải lại trang.".into())
        })?;
    record(
        &state,
        ctx,
        &form.ip(&state),
        "procedure_publish",
        code,
        live_before.map(|v| format!("v{v}")),
        Some(format!(
            "v{v}{}",
            if affected > 0 {
                format!(" ({affected} bản nháp của người dân không còn hợp lệ)")
            } else {
                String::new()
            }
        )),
    )
    .await?;
    state.reload_catalog().await.map_err(AppError::Internal)?;
    Ok(Redirect::to(&format!("{BASE}/{code}?da=xuat-ban")).into_response())
}

pub async fn discard(
    State(state): State<AppState>,
    Path(code): Path<String>,
    form: StaffForm,
) -> AppResult<Response> {
    let ctx = &form.ctx;
    require_admin(ctx)?;
    let code = checked_code(&code)?;
    let version = store::draft(&state.db, code).await?.map(|(v, _)| v);
    if !store::discard_draft(&state.db, code).await? {
        return Err(AppError::Unprocessable(
            "Thủ tục này không có bản nháp.".into(),
        ));
    }
    record(
        &state,
        ctx,
        &form.ip(&state),
        "procedure_draft_discard",
        code,
        version.map(|v| format!("draft v{v}")),
        None,
    )
    .await?;
    let live = state.catalog().summary(code).is_some();
    if live {
        Ok(Redirect::to(&format!("{BASE}/{code}?da=huy")).into_response())
    } else {
        Ok(Redirect::to(BASE).into_response())
    }
}

/// "Ngừng áp dụng" (`retired=1`) or "Áp dụng lại" (`retired=0`).
pub async fn retire(
    State(state): State<AppState>,
    Path(code): Path<String>,
    form: StaffForm,
) -> AppResult<Response> {
    let ctx = &form.ctx;
    require_admin(ctx)?;
    let code = checked_code(&code)?;
    let retired = form.get("retired") != Some("0");
    if !store::set_retired(&state.db, code, retired, state.clock.now_ms()).await? {
        return Err(AppError::Unprocessable(
            "Thủ tục chưa được xuất bản nên không thể ngừng áp dụng; hãy hủy bản nháp.".into(),
        ));
    }
    let (action, to) = if retired {
        ("procedure_retire", "retired")
    } else {
        ("procedure_restore", "live")
    };
    record(
        &state,
        ctx,
        &form.ip(&state),
        action,
        code,
        None,
        Some(to.into()),
    )
    .await?;
    state.reload_catalog().await.map_err(AppError::Internal)?;
    Ok(Redirect::to(&format!(
        "{BASE}/{code}?da={}",
        if retired { "ngung" } else { "ap-dung" }
    ))
    .into_response())
}

/// One version, read-only: its level-1 information and its form, as TOML.
pub async fn version(
    State(state): State<AppState>,
    Path((code, version)): Path<(String, i64)>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    require_admin(&ctx)?;
    let code = checked_code(&code)?;
    let p = store::get(&state.db, code, version)
        .await?
        .ok_or_else(|| AppError::NotFound("Không có phiên bản này của thủ tục.".into()))?;
    let meta = store::versions(&state.db, code)
        .await?
        .into_iter()
        .find(|m| m.version == version);
    let fields: Vec<Value> = p
        .declaration()
        .sections
        .iter()
        .map(|s| context! { title => s.title.clone(), repeat => s.repeat.as_ref().map(|r| format!("{} – {} lần", r.min, r.max)), fields => s.fields.iter().map(|f| context! { name => f.name.clone(), label => f.label.clone(), kind => f.kind.as_str(), required => f.required, conditional => f.show_if.is_some() }).collect::<Vec<_>>() })
        .collect();
    Ok(no_store(render_status(
        StatusCode::OK,
        "staff_procedure_version.html",
        context! {
            csrf => ctx.csrf.clone(), me => me(&ctx), code, version, p => crate::web::templates::ser(&p),
            status => meta.as_ref().map(|m| m.status.clone()), sections => fields,
            toml => editor::procedure_toml(&p),
        },
    )?))
}

#[derive(Debug, Deserialize, Default)]
pub struct ExportParams {
    #[serde(rename = "phien-ban")]
    version: Option<i64>,
}

/// The procedure as a catalogue file (`catalog/procedures/*.toml`): a version, or the live one.
pub async fn export(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<ExportParams>,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    require_admin(&ctx)?;
    let code = checked_code(&code)?;
    let p = match params.version {
        Some(v) => store::get(&state.db, code, v).await?,
        None => state.catalog().procedure(code).map(|p| (*p).clone()),
    }
    .ok_or_else(|| AppError::NotFound("Không có phiên bản này của thủ tục.".into()))?;
    let mut r = editor::procedure_toml(&p).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/toml; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{code}.toml\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(no_store(r))
}

/// Import of a catalogue file (pasted): it becomes the draft of its procedure (new or not).
pub async fn import(State(state): State<AppState>, form: StaffForm) -> AppResult<Response> {
    let ctx = &form.ctx;
    require_admin(ctx)?;
    let text = form
        .fields
        .iter()
        .find(|(k, _)| k == "toml")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let p = match editor::parse_procedure(&text) {
        Ok(p) => p,
        Err(message) => {
            let catalog = state.catalog();
            return Ok(no_store(render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "staff_procedures.html",
                context! {
                    csrf => ctx.csrf.clone(), me => me(ctx), drafts => Vec::<Value>::new(),
                    rows => Vec::<Value>::new(), retired => Vec::<Value>::new(),
                    total => catalog.summaries().len(), page => 1, pages => 1, q => None::<String>,
                    import_errors => vec![context! { field => "toml", message => format!("Tệp TOML chưa nhập được. {message}") }],
                    import_text => text,
                },
            )?));
        }
    };
    let v = store::save_draft(&state.db, &p, &ctx.staff.email, state.clock.now_ms()).await?;
    record(
        &state,
        ctx,
        &form.ip(&state),
        "procedure_import",
        &p.code,
        None,
        Some(format!("draft v{v}")),
    )
    .await?;
    Ok(Redirect::to(&format!("{BASE}/{}?da=nhap", p.code)).into_response())
}
