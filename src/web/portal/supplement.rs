//! `/ho-so/xem/{token}/bo-sung`: the citizen adds what the officer asked for, online. The
//! dossier goes back to the officer's queue and the deadline clock resumes.

use super::lookup::by_token;
use crate::error::{AppError, AppResult};
use crate::store::dossiers::{self, Actor, Decision, NewAttachment};
use crate::web::AppState;
use crate::web::antivirus;
use crate::web::extract::CitizenPost;
use crate::web::security::{ensure_session, no_store, with_cookie};
use crate::web::staff::dossier::{refusal, rules_for};
use crate::web::templates::render_status;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::dossier::{Action, DossierStatus, transition};
use dvc_domain::form::{self, FileKind};
use dvc_domain::workflow::{self, Actor as WorkflowActor, Command, EventKind};
use minijinja::context;
use sha2::{Digest, Sha256};

const MAX_FILES: usize = 10;

/// The latest supplement request: (reason, missing documents).
async fn request(state: &AppState, dossier_id: i64) -> AppResult<(String, Vec<String>)> {
    let events = dossiers::events(&state.db, dossier_id).await?;
    for e in events.iter().rev() {
        if let EventKind::RequestSupplement {
            reason, missing, ..
        } = e.kind()?
        {
            return Ok((reason, missing));
        }
    }
    Ok((String::new(), vec![]))
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
    if row.status()? != DossierStatus::AwaitingSupplement {
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
    citizen: CitizenPost,
    req: Request,
) -> AppResult<Response> {
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
    citizen.check_csrf(csrf.as_deref())?;
    let (reason, missing) = request(&state, row.id).await?;
    if transition(row.status()?, Action::Supplement).is_err() {
        return Err(AppError::Conflict(
            "Hồ sơ không còn ở trạng thái chờ bổ sung.".into(),
        ));
    }

    let limit = form::DEFAULT_MAX_FILE_MB as usize * 1024 * 1024;
    let mut received: Vec<(String, String, Vec<u8>)> = Vec::new();
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
        if !name.starts_with("tep_") || received.len() >= MAX_FILES {
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
        received.push((name, client, buf));
    }
    let Some(csrf) = csrf else { return Err(bad()) };
    // Every file through the antivirus scanner first (no verdict: nothing stored, 503), then by
    // content.
    let place = format!("supplement {}", row.code);
    let who = antivirus::Uploader {
        actor: "citizen",
        place: &place,
    };
    for (_, client, buf) in &received {
        if let Some(message) = antivirus::check(&state, buf, client, &who).await? {
            error = Some(message);
        }
    }
    let mut uploads: Vec<(String, String, FileKind, bytes::Bytes)> = Vec::new();
    if error.is_none() {
        for (name, client, buf) in received {
            match dvc_domain::upload::inspect(&buf) {
                Ok(kind) => uploads.push((name, client, kind, bytes::Bytes::from(buf))),
                Err(refusal) => error = Some(refusal.message("Tệp đã chọn")),
            }
        }
    }
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

    let now = state.clock.now_ms();
    let ts = crate::ts(now);
    let mut files = Vec::new();
    let mut stored = Vec::new();
    for (field, client, kind, bytes) in uploads {
        let key = crate::files::Files::new_key(ts);
        let sha = hex::encode(Sha256::digest(&bytes));
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        files.push(NewAttachment {
            field_name: format!("bo_sung_{field}"),
            document_id: None,
            storage_key: key.clone(),
            file_name: form::safe_file_name(&client, kind),
            content_type: kind.mime().into(),
            size_bytes: size,
            sha256: sha,
        });
        stored.push((key, bytes));
    }
    let dossier = row.to_domain()?;
    let catalog = state.catalog();
    let p = catalog
        .procedure(&row.procedure_code)
        .ok_or_else(AppError::not_found)?;
    let policy = state.deadline_policy(catalog.agency(&row.agency_code), &p);
    let rules = rules_for(&state, &catalog, &row, &p, &policy);
    let cmd = Command::Supplement {
        files: files.iter().map(|f| f.file_name.clone()).collect(),
        note,
    };
    let events =
        workflow::decide(&dossier, &cmd, WorkflowActor::Citizen, &rules, now).map_err(refusal)?;
    let next = events.iter().fold(dossier, |d, e| workflow::evolve(&d, e));
    // The files first; the attachments, the event and the new state then in one transaction.
    for (key, bytes) in stored {
        state.files.put(&key, bytes).await?;
    }
    let who = Actor {
        id: "citizen".into(),
        name: Some("Công dân".into()),
        title: None,
        ip: citizen.ip.to_string(),
    };
    dossiers::save(
        &state.db,
        &state.audit_key,
        &row,
        &Decision {
            events: &events,
            next: &next,
            actor: &who,
            mail: None,
            access_link: None,
            attachments: files,
            payment: None,
        },
    )
    .await?;
    tracing::info!(dossier = %row.code, "citizen supplemented the dossier");
    Ok(Redirect::to(&format!("/ho-so/xem/{token}?da-bo-sung=1")).into_response())
}
