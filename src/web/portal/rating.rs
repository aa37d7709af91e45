//! `/ho-so/xem/{token}/danh-gia`: after the result, the applicant rates their satisfaction with
//! the handling of the dossier (Rất hài lòng / Hài lòng / Không hài lòng, with an optional
//! comment), once per dossier, through the private link. The rating is an event of the dossier's
//! workflow (timeline and audit trail) and the dossier's `rating` column that statistics count.

use super::lookup::{PrivateLink, by_token, rate_limit_lookup};
use crate::error::{AppError, AppResult};
use crate::store::dossiers::{self, Actor, Decision};
use crate::web::AppState;
use crate::web::extract::CitizenPost;
use crate::web::security::{ensure_session, no_store, with_cookie};
use crate::web::staff::dossier::{refusal, rules_for};
use crate::web::templates::render_status;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::dossier::DossierStatus;
use dvc_domain::outcome::{MAX_RATING_COMMENT, Rating};
use dvc_domain::workflow::{self, Actor as WorkflowActor, Command};
use minijinja::context;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct RatingForm {
    csrf: Option<String>,
    rating: Option<String>,
    comment: Option<String>,
}

fn ratings() -> Vec<minijinja::Value> {
    Rating::ALL
        .iter()
        .map(|r| context! { value => r.value(), label => r.label() })
        .collect()
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    PrivateLink { token, row }: PrivateLink,
) -> AppResult<Response> {
    if row.status()? != DossierStatus::Done {
        return Ok(Redirect::to(&format!("/ho-so/xem/{token}")).into_response());
    }
    let (session, cookie) = ensure_session(&state, &headers).await?;
    let rated = row.rating()?.map(Rating::label);
    Ok(with_cookie(
        no_store(render_status(
            StatusCode::OK,
            "rating.html",
            context! { token, csrf => session.csrf_token, code => row.code.clone(), rated, ratings => ratings() },
        )?),
        cookie,
    ))
}

pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    citizen: CitizenPost,
    form: Result<Form<RatingForm>, FormRejection>,
) -> AppResult<Response> {
    let form = form.map(|f| f.0).map_err(|_| {
        AppError::BadRequest(
            "Dữ liệu gửi lên không đọc được. Hãy mở lại trang đánh giá và gửi lại.".into(),
        )
    })?;
    citizen.check_csrf(form.csrf.as_deref())?;
    rate_limit_lookup(
        &state,
        &headers,
        Some(std::net::SocketAddr::new(citizen.ip, 0)),
    )
    .await?;
    let row = by_token(&state, &token).await?;
    let Some(rating) = form.rating.as_deref().and_then(Rating::parse) else {
        let (session, cookie) = ensure_session(&state, &headers).await?;
        return Ok(with_cookie(
            no_store(render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rating.html",
                context! {
                    token, csrf => session.csrf_token, code => row.code.clone(), ratings => ratings(),
                    comment => form.comment.clone(),
                    error => "Chọn một mức đánh giá: Rất hài lòng, Hài lòng hoặc Không hài lòng.",
                },
            )?),
            cookie,
        ));
    };
    let comment = form.comment.map(|c| {
        dvc_domain::text::clean_input(&c)
            .chars()
            .take(MAX_RATING_COMMENT)
            .collect::<String>()
    });
    let catalog = state.catalog();
    let p = catalog
        .procedure(&row.procedure_code)
        .ok_or_else(AppError::not_found)?;
    let policy = state.deadline_policy(catalog.agency(&row.agency_code), &p);
    let rules = rules_for(&state, &catalog, &row, &p, &policy);
    let dossier = row.to_domain()?;
    let events = workflow::decide(
        &dossier,
        &Command::Rate { rating, comment },
        WorkflowActor::Citizen,
        &rules,
        state.clock.now_ms(),
    )
    .map_err(refusal)?;
    let next = events.iter().fold(dossier, |d, e| workflow::evolve(&d, e));
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
            attachments: vec![],
        },
    )
    .await
    .map_err(|e| match e {
        // Two ratings sent at once: the other one was recorded.
        crate::store::StoreError::Conflict(_) => AppError::Conflict(
            "Ông/Bà đã đánh giá mức độ hài lòng đối với hồ sơ này. Mỗi hồ sơ chỉ được đánh giá một lần; xin cảm ơn Ông/Bà đã góp ý."
                .into(),
        ),
        other => other.into(),
    })?;
    tracing::info!(dossier = %row.code, rating = rating.value(), "the applicant rated the handling");
    Ok(Redirect::to(&format!("/ho-so/xem/{token}?da-danh-gia=1")).into_response())
}
