//! `/ho-so-cua-toi` ("Hồ sơ của tôi"): a signed-in citizen's dossiers — those they filed signed
//! in and those filed in the name of the identification number their identity vouches for —
//! with status, appointment and what is awaited from them, and their saved drafts.
//!
//! The actions of the private link (supplement, withdraw, pay, result, rating) are reached
//! without the e-mail: "Mở hồ sơ" (a POST with the CSRF token) checks that the dossier is the
//! citizen's and opens its private page through a new private link. Another citizen's dossier
//! is answered exactly like a code that does not exist.

use super::signin::{self, citizen};
use crate::error::{AppError, AppResult};
use crate::store::citizens;
use crate::web::AppState;
use crate::web::extract::CitizenPost;
use crate::web::security::{self, no_store};
use crate::web::templates::render_status;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::dossier::DossierStatus;
use minijinja::{Value, context};
use serde::Deserialize;

fn not_yours() -> AppError {
    AppError::NotFound(
        "Không tìm thấy hồ sơ này trong danh sách hồ sơ của Ông/Bà. Hãy mở lại trang “Hồ sơ của tôi”, hoặc tra cứu công khai bằng mã hồ sơ."
            .into(),
    )
}

/// What the dossier awaits from the citizen, in words (empty: nothing).
fn awaited(d: &citizens::MyDossier, status: Option<DossierStatus>) -> Vec<&'static str> {
    let mut out = Vec::new();
    if status == Some(DossierStatus::AwaitingSupplement) {
        out.push("Bổ sung hồ sơ theo yêu cầu của cơ quan giải quyết");
    }
    if matches!(
        d.payment_status.as_deref(),
        Some("created" | "pending" | "failed")
    ) {
        out.push("Nộp phí, lệ phí trực tuyến");
    }
    if matches!(
        status,
        Some(DossierStatus::Done | DossierStatus::ResultReady)
    ) && d.rating.is_none()
    {
        out.push("Đánh giá mức độ hài lòng");
    }
    out
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    if state.oidc.is_none() {
        return Err(AppError::not_found());
    }
    let Some((session, c)) = citizen(&state, &headers).await? else {
        return Ok(Redirect::to(&signin::sign_in_link(signin::HOME)).into_response());
    };
    let catalog = state.catalog();
    let dossiers: Vec<Value> = citizens::dossiers(&state.db, &c)
        .await?
        .iter()
        .map(|d| {
            let status = DossierStatus::parse(&d.status);
            context! {
                code => d.code.clone(),
                procedure => catalog.procedure(&d.procedure_code).map(|p| p.name.clone()).unwrap_or_else(|| d.procedure_code.clone()),
                status => status.map(|s| s.label()).unwrap_or("Không xác định"),
                submitted_at => d.submitted_at,
                expected_at => d.expected_at,
                awaited => awaited(d, status),
            }
        })
        .collect();
    let drafts: Vec<Value> = citizens::drafts(&state.db, c.id)
        .await?
        .into_iter()
        .map(|(code, updated_at)| {
            let name = catalog
                .procedure(&code)
                .map(|p| p.name.clone())
                .unwrap_or_else(|| code.clone());
            context! {
                code, name, updated_at,
                deleted_at => updated_at + i64::from(state.config.draft_retention_days) * 86_400_000,
            }
        })
        .collect();
    let mut resp = render_status(
        StatusCode::OK,
        "my_dossiers.html",
        context! {
            name => c.full_name, level => c.level, id_number => c.id_number,
            dossiers, drafts, csrf => session.csrf_token,
            retention_days => state.config.draft_retention_days,
        },
    )?;
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(no_store(resp))
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

fn read_form(
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> AppResult<CsrfForm> {
    form.map(|f| f.0).map_err(|_| {
        AppError::BadRequest(
            "Dữ liệu gửi lên không đọc được. Hãy mở lại trang “Hồ sơ của tôi” rồi thử lại.".into(),
        )
    })
}

/// `POST /ho-so-cua-toi/{code}/mo`: the private page of one of the citizen's dossiers.
pub async fn open(
    State(state): State<AppState>,
    Path(code): Path<String>,
    posted: CitizenPost,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> AppResult<Response> {
    let form = read_form(form)?;
    posted.check_csrf(form.csrf.as_deref())?;
    let Some((_, c)) = signin::citizen_of(&state, posted.session).await? else {
        return Ok(Redirect::to(&signin::sign_in_link(signin::HOME)).into_response());
    };
    let id = citizens::own_dossier(&state.db, &c, &code)
        .await?
        .ok_or_else(not_yours)?;
    let token = security::random_token(32);
    citizens::add_access_link(
        &state.db,
        id,
        &security::sha256_hex(&token),
        state.clock.now_ms(),
    )
    .await?;
    tracing::info!(citizen = c.id, dossier = %code, "a citizen opened their dossier from Hồ sơ của tôi");
    let mut resp = Redirect::to(&format!("/ho-so/xem/{token}")).into_response();
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(no_store(resp))
}

/// `POST /ho-so-cua-toi/nhap/{procedure}/xoa`: deletes one of the citizen's drafts.
pub async fn delete_draft(
    State(state): State<AppState>,
    Path(procedure): Path<String>,
    posted: CitizenPost,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> AppResult<Response> {
    let form = read_form(form)?;
    posted.check_csrf(form.csrf.as_deref())?;
    let Some((_, c)) = signin::citizen_of(&state, posted.session).await? else {
        return Ok(Redirect::to(&signin::sign_in_link(signin::HOME)).into_response());
    };
    for key in citizens::delete_draft(&state.db, c.id, &procedure).await? {
        state.files.delete(&key).await?;
    }
    Ok(Redirect::to(signin::HOME).into_response())
}
