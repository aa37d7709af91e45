//! `/ho-so/xem/{token}/bo-sung`: the citizen adds what the officer asked for, online. The
//! dossier goes back to the officer's queue and the deadline clock resumes.

use super::lookup::by_token;
use crate::error::{AppError, AppResult};
use crate::store::dossiers::{self, Actor, Change, NewAttachment};
use crate::web::AppState;
use crate::web::extract::Peer;
use crate::web::security::{self, check_csrf, check_origin, ensure_session, no_store, with_cookie};
use crate::web::templates::render_status;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::dossier::{Action, DossierStatus, resume_after_supplement, transition};
use dvc_domain::form::{self, FileKind};
use minijinja::context;
use sha2::{Digest, Sha256};

const MAX_FILES: usize = 10;

/// The latest supplement request: (reason, missing documents).
async fn request(state: &AppState, dossier_id: i64) -> AppResult<(String, Vec<String>)> {
    let events = dossiers::events(&state.db, dossier_id).await?;
    let e = events.iter().rev().find(|e| e.action == "yeu-cau-bo-sung");
    let v: serde_json::Value = e
        .and_then(|e| e.details.as_deref())
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let reason = v
        .get("reason")
        .and_then(|r| r.as_str())
        .unwrap_or_default()
        .to_string();
    let missing = v
        .get("missing")
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok((reason, missing))
}

fn render(
    token: &str,
    csrf: &str,
    reason: &str,
    missing: &[String],
    error: Option<&str>,
    status: StatusCode,
) -> AppResult<Response> {
    Ok(no_store(render_status(
        status,
        "supplement.html",
        context! { token, csrf, reason, missing => missing.to_vec(), error, max_mb => form::DEFAULT_MAX_FILE_MB },
    )?))
}

pub async fn form(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let row = by_token(&state, &token).await?;
    if row.status() != DossierStatus::AwaitingSupplement {
        return Ok(Redirect::to(&format!("/ho-so/xem/{token}")).into_response());
    }
    let (session, cookie) = ensure_session(&state, &headers).await?;
    let (reason, missing) = request(&state, row.id).await?;
    Ok(with_cookie(
        render(
            &token,
            &session.csrf_token,
            &reason,
            &missing,
            None,
            StatusCode::OK,
        )?,
        cookie,
    ))
}

pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    req: Request,
) -> AppResult<Response> {
    check_origin(&state, &headers)?;
    let session = security::session(&state, &headers).await?;
    security::require_session(session.as_ref())?;
    let bad = || {
        AppError::BadRequest(
            "Dữ liệu gửi lên không đọc được. Hãy tải lại trang bổ sung hồ sơ và gửi lại.".into(),
        )
    };
    let row = by_token(&state, &token).await?;
    // Only now, with a session and a valid link, is the body read (see `admission`).
    let (admitted, mut mp) = crate::web::admission::admit_multipart(&state, req).await?;
    let bad = || admitted.explain(bad());
    let first = mp.next_field().await.map_err(|_| bad())?;
    let csrf = match first {
        Some(f) if f.name() == Some("csrf") => Some(f.text().await.map_err(|_| bad())?),
        _ => None,
    };
    check_csrf(session.as_ref(), csrf.as_deref())?;
    let (reason, missing) = request(&state, row.id).await?;
    let from = row.status();
    transition(from, Action::Supplement)
        .map_err(|_| AppError::Conflict("Hồ sơ không còn ở trạng thái chờ bổ sung.".into()))?;

    let limit = form::DEFAULT_MAX_FILE_MB as usize * 1024 * 1024;
    let mut uploads: Vec<(String, String, FileKind, bytes::Bytes)> = Vec::new();
    let mut note = String::new();
    let mut error: Option<String> = None;
    while let Some(mut field) = mp.next_field().await.map_err(|_| bad())? {
        let name = field.name().unwrap_or("").to_string();
        if name == "note" {
            note = dvc_domain::text::clean_input(&field.text().await.map_err(|_| bad())?)
                .chars()
                .take(2000)
                .collect();
            continue;
        }
        if !name.starts_with("tep_") || uploads.len() >= MAX_FILES {
            continue;
        }
        let client = field.file_name().unwrap_or("").to_string();
        let mut buf = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| bad())? {
            if buf.len() + chunk.len() > limit {
                return Err(AppError::PayloadTooLarge(format!(
                    "Tệp bổ sung lớn hơn {} MB. Hãy chọn tệp nhỏ hơn rồi gửi lại.",
                    form::DEFAULT_MAX_FILE_MB
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        if buf.is_empty() {
            continue;
        }
        match dvc_domain::upload::inspect(&buf) {
            Ok(kind) => uploads.push((name, client, kind, bytes::Bytes::from(buf))),
            Err(refusal) => error = Some(refusal.message("Tệp đã chọn")),
        }
    }
    let Some(csrf) = csrf else { return Err(bad()) };
    if error.is_none() && uploads.is_empty() {
        error = Some("Chọn ít nhất một tệp giấy tờ để bổ sung.".into());
    }
    if let Some(e) = error {
        return render(
            &token,
            &csrf,
            &reason,
            &missing,
            Some(&e),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }

    let now = crate::now_ms();
    let ts = jiff::Timestamp::now();
    let mut files = Vec::new();
    for (field, client, kind, bytes) in uploads {
        let key = crate::files::Files::new_key(ts);
        let sha = hex::encode(Sha256::digest(&bytes));
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        state.files.put(&key, bytes).await?;
        files.push(NewAttachment {
            field_name: format!("bo_sung_{field}"),
            document_id: None,
            storage_key: key,
            file_name: form::safe_file_name(&client, kind),
            content_type: kind.mime().into(),
            size_bytes: size,
            sha256: sha,
        });
    }
    let before = row.resume_status.as_deref().and_then(DossierStatus::parse);
    let to = resume_after_supplement(before);
    let mut new = row.clone();
    new.status = to.as_str().into();
    if let (Some(paused), Some(due)) = (row.paused_at, row.due_at) {
        let week = crate::web::progress::week_of(&state, &row.agency_code);
        let due_z = crate::ts(due).to_zoned_datetime(dvc_domain::calendar::vn_tz());
        new.due_at = Some(
            state
                .calendar
                .extend_for_pause(&due_z, crate::ts(paused), ts, &week)
                .timestamp()
                .as_millisecond(),
        );
    }
    new.paused_at = None;
    new.resume_status = None;
    let names: Vec<String> = files.iter().map(|f| f.file_name.clone()).collect();
    dossiers::add_attachments(&state.db, row.id, &files, now).await?;
    let ip = security::client_ip(&state, &headers, peer).to_string();
    let change = Change {
        action: "bo-sung",
        actor: Actor {
            id: "citizen".into(),
            name: Some("Công dân".into()),
            title: None,
            ip,
        },
        at: now,
        public_note: Some(format!(
            "Công dân đã bổ sung hồ sơ trực tuyến: {}.",
            names.join(", ")
        )),
        reason: None,
        details: Some(serde_json::json!({ "files": names, "note": note })),
        mail: None,
    };
    dossiers::apply(&state.db, &row, &new, &change).await?;
    tracing::info!(dossier = %row.code, "citizen supplemented the dossier");
    Ok(Redirect::to(&format!("/ho-so/xem/{token}?da-bo-sung=1")).into_response())
}
