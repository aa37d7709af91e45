//! `/can-bo/tiep-nhan-truc-tiep`: desk and postal intake (tiếp nhận hồ sơ trực tiếp, qua dịch vụ
//! bưu chính công ích). A reception officer picks the procedure, fills in the same declaration
//! on the applicant's behalf (the form engine, its validation and the upload checks are the
//! citizen's, through [`read_into_draft`]; only the applicant's e-mail and phone are optional,
//! [`dvc_domain::form::FormDefinition::at_desk`]), uploads the scanned papers and chooses the
//! channel. The dossier is filed (workflow `File` with its channel), gets its code and is received
//! at once (workflow `Receive`, recorded through `store::dossiers::save`, audited): the
//! appointment is set and the receipt (Mẫu số 01) is ready to print. With an e-mail address the
//! applicant gets the usual e-mails, from the receipt on.

use super::dossier::{record, refusal, rules_for};
use super::{StaffCtx, require_staff};
use crate::error::{AppError, AppResult};
use crate::store::dossiers::{self, FiledFrom, NewAttachment, NewDossier, SubmitOutcome};
use crate::store::sessions::{self, Draft};
use crate::web::AppState;
use crate::web::antivirus::Uploader;
use crate::web::extract::LenientQuery;
use crate::web::portal::declaration::{
    AGENCY_FIELD, Poster, ReadPost, add_field_errors, draft_files, drop_stale_files, page_errors,
    page_sections, read_into_draft,
};
use crate::web::security::{self, no_store};
use crate::web::templates::{render_status, ser};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::agency::Agency;
use dvc_domain::catalog::Procedure;
use dvc_domain::dossier::{Channel, DossierStatus};
use dvc_domain::form::{FieldError, applicant};
use dvc_domain::staff::Role;
use dvc_domain::workflow::{self, Actor as WorkflowActor, Command};
use minijinja::{Value, context};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The radio buttons of the channel.
pub const CHANNEL_FIELD: &str = "kenh";
/// The hidden idempotency key of the intake page (a double click files one dossier).
const TOKEN_FIELD: &str = "submit_token";
/// The channels an official registers, as the form posts them.
const CHANNELS: [(&str, Channel); 2] = [("truc-tiep", Channel::Desk), ("buu-chinh", Channel::Post)];

#[derive(Debug, Deserialize, Default)]
pub struct Params {
    #[serde(rename = "thu-tuc")]
    thu_tuc: Option<String>,
}

/// Only the Bộ phận Một cửa registers dossiers handed in at the desk or by post.
fn require_reception(ctx: &StaffCtx) -> AppResult<()> {
    if ctx.role != Role::Reception {
        return Err(AppError::Forbidden(
            "Chỉ công chức Bộ phận Một cửa (vai trò tiếp nhận) được tiếp nhận hồ sơ nộp trực tiếp hoặc qua bưu chính."
                .into(),
        ));
    }
    Ok(())
}

/// The agencies of this official's scope that implement `p`.
fn desk_agencies(state: &AppState, ctx: &StaffCtx, p: &Procedure) -> Vec<Agency> {
    let catalog = state.catalog();
    p.implementing_agencies(&catalog.agencies)
        .into_iter()
        .filter(|a| ctx.visible.iter().any(|v| v == a.code.as_str()))
        .cloned()
        .collect()
}

/// The chosen procedure, which an agency of this official must implement.
fn chosen_procedure(
    state: &AppState,
    ctx: &StaffCtx,
    code: &str,
) -> AppResult<(Arc<Procedure>, Vec<Agency>)> {
    // A retired procedure takes no new dossier, at the desk either.
    let (_, p) = crate::web::portal::procedure_or_404(state, code.trim())?;
    let agencies = desk_agencies(state, ctx, &p);
    if agencies.is_empty() {
        return Err(AppError::Forbidden(format!(
            "Thủ tục “{}” không thuộc thẩm quyền giải quyết của đơn vị của bạn. Chọn thủ tục khác.",
            p.name
        )));
    }
    Ok((p, agencies))
}

fn me(state: &AppState, ctx: &StaffCtx) -> Value {
    context! {
        name => ctx.staff.name.clone(), role => ctx.role.label(), is_reception => true,
        agency => state.catalog().agency(&ctx.staff.agency_code).map(|a| a.name.clone()).unwrap_or_default(),
    }
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<Params>,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    require_reception(&ctx)?;
    let Some(code) = params.thu_tuc.filter(|c| !c.trim().is_empty()) else {
        return picker(&state, &ctx);
    };
    let (p, agencies) = chosen_procedure(&state, &ctx, &code)?;
    let draft = sessions::find_with_draft(&state.db, &ctx.session_hash, &p.code)
        .await?
        .and_then(|(_, d)| d)
        .unwrap_or_default();
    render_form(&state, &ctx, &p, &agencies, &draft, &[], StatusCode::OK)
}

/// The first step: which procedure.
fn picker(state: &AppState, ctx: &StaffCtx) -> AppResult<Response> {
    let catalog = state.catalog();
    let kinds: BTreeSet<&str> = ctx
        .visible
        .iter()
        .filter_map(|c| catalog.agency(c))
        .map(|a| a.kind.as_str())
        .collect();
    let procedures: Vec<Value> = catalog
        .summaries()
        .iter()
        .filter(|s| kinds.contains(s.implementing_kind.as_str()))
        .map(|s| context! { code => s.code.clone(), name => s.name.clone(), field => s.field.clone() })
        .collect();
    let resp = render_status(
        StatusCode::OK,
        "staff_intake.html",
        context! { me => me(state, ctx), csrf => ctx.csrf.clone(), procedures },
    )?;
    Ok(no_store(resp))
}

fn render_form(
    state: &AppState,
    ctx: &StaffCtx,
    p: &Procedure,
    agencies: &[Agency],
    draft: &Draft,
    errors: &[FieldError],
    status: StatusCode,
) -> AppResult<Response> {
    let form = p.desk_declaration();
    let (ordered, error_map) = page_errors(
        &form,
        &draft.answers,
        &[CHANNEL_FIELD, AGENCY_FIELD],
        errors,
    );
    let (sections, triggers) = page_sections(&form, &draft.answers);
    let first = |k: &str| {
        draft
            .answers
            .get(k)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    let resp = render_status(
        status,
        "staff_intake.html",
        context! {
            me => me(state, ctx), csrf => ctx.csrf.clone(),
            p => context! { code => p.code.clone(), name => p.name.clone() },
            form => ser(&form), sections, triggers, values => ser(&draft.answers), files => draft_files(draft),
            errors => ordered, error_map, max_file_mb => dvc_domain::form::DEFAULT_MAX_FILE_MB,
            agencies => agencies.iter().map(|a| context! { code => a.code.to_string(), name => a.name.clone() }).collect::<Vec<_>>(),
            agency_field => AGENCY_FIELD, chosen_agency => first(AGENCY_FIELD),
            channel_field => CHANNEL_FIELD, chosen_channel => first(CHANNEL_FIELD),
            channels => CHANNELS.iter().map(|(v, c)| context! { value => *v, label => c.label() }).collect::<Vec<_>>(),
            submit_token => security::random_token(16),
        },
    )?;
    Ok(no_store(resp))
}

/// The agency and channel chosen on the page, or their errors.
fn agency_and_channel(
    draft: &Draft,
    agencies: &[Agency],
    errors: &mut Vec<FieldError>,
) -> Option<(Agency, Channel)> {
    let first = |k: &str| {
        draft
            .answers
            .get(k)
            .and_then(|v| v.first())
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let channel = CHANNELS
        .iter()
        .find(|(v, _)| *v == first(CHANNEL_FIELD))
        .map(|(_, c)| *c);
    if channel.is_none() {
        errors.insert(
            0,
            FieldError {
                field: CHANNEL_FIELD.into(),
                message: "Chọn hồ sơ được nộp trực tiếp hay gửi qua dịch vụ bưu chính công ích."
                    .into(),
            },
        );
    }
    let agency = agencies
        .iter()
        .find(|a| a.code.as_str() == first(AGENCY_FIELD))
        .cloned();
    if agency.is_none() {
        errors.insert(
            usize::from(channel.is_none()),
            FieldError {
                field: AGENCY_FIELD.into(),
                message: "Chọn cơ quan tiếp nhận hồ sơ trong danh sách.".into(),
            },
        );
    }
    Some((agency?, channel?))
}

pub async fn submit(
    State(state): State<AppState>,
    LenientQuery(params): LenientQuery<Params>,
    req: Request,
) -> AppResult<Response> {
    // The origin, the official's session and role before any of the body is read; the CSRF
    // token is the body's first field (checked by `read_into_draft`).
    let headers = req.headers().clone();
    security::check_origin(&state, &headers)?;
    let ctx = require_staff(&state, &headers).await?;
    require_reception(&ctx)?;
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let ip = security::client_ip(&state, &headers, peer).to_string();
    let code = params.thu_tuc.unwrap_or_default();
    let (p, agencies) = chosen_procedure(&state, &ctx, &code)?;
    let Some((session, draft)) =
        sessions::find_with_draft(&state.db, &ctx.session_hash, &p.code).await?
    else {
        return Err(AppError::LoginRequired);
    };
    let mut draft = draft.unwrap_or_default();
    let form_def = p.desk_declaration();
    let place = format!("desk intake {}", p.code);
    let poster = Poster {
        session: &session,
        draft_key: &p.code,
        extra_fields: &[AGENCY_FIELD, CHANNEL_FIELD, TOKEN_FIELD],
        uploader: Uploader {
            actor: &ctx.staff.email,
            place: &place,
        },
        limit_ip: None,
    };
    let ReadPost {
        mut errors,
        page_action,
        ..
    } = read_into_draft(&state, &poster, &form_def, &mut draft, req).await?;
    let token = draft
        .answers
        .remove(TOKEN_FIELD)
        .and_then(|v| v.into_iter().next())
        .unwrap_or_default();
    // "Cập nhật", "Thêm", "Xóa": the page again with the fields that now apply.
    if let Some(anchor) = page_action {
        draft.validated = false;
        sessions::save_draft(
            &state.light,
            &session,
            &p.code,
            &draft,
            state.clock.now_ms(),
        )
        .await?;
        if !errors.is_empty() {
            return render_form(
                &state,
                &ctx,
                &p,
                &agencies,
                &draft,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
        // Procedure codes are catalogue codes (digits and dots): safe in a query.
        return Ok(Redirect::to(&format!(
            "/can-bo/tiep-nhan-truc-tiep?thu-tuc={}{anchor}",
            p.code
        ))
        .into_response());
    }
    drop_stale_files(&state, &form_def, &mut draft).await?;
    let uploaded: BTreeSet<String> = draft.files.keys().cloned().collect();
    let validated =
        dvc_domain::form::validate(&form_def, &draft.answers, &uploaded, state.clock.today_vn());
    let chosen = agency_and_channel(&draft, &agencies, &mut errors);
    let (answers, (agency, channel)) = match (validated, chosen) {
        (Ok(a), Some(chosen)) if errors.is_empty() => (a, chosen),
        (validated, _) => {
            if let Err(field_errors) = validated {
                add_field_errors(&mut errors, field_errors);
            }
            draft.validated = false;
            sessions::save_draft(
                &state.light,
                &session,
                &p.code,
                &draft,
                state.clock.now_ms(),
            )
            .await?;
            return render_form(
                &state,
                &ctx,
                &p,
                &agencies,
                &draft,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    if token.len() < 16
        || token.len() > 64
        || !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        sessions::save_draft(
            &state.light,
            &session,
            &p.code,
            &draft,
            state.clock.now_ms(),
        )
        .await?;
        return Err(AppError::BadRequest(
            "Trang tiếp nhận đã cũ. Hãy tải lại trang rồi bấm “Tiếp nhận hồ sơ” lần nữa; thông tin đã nhập và tệp đã tải lên vẫn được giữ."
                .into(),
        ));
    }
    let get = |k: &str| {
        answers
            .get(k)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    let now = state.clock.now();
    let now_ms = now.as_millisecond();
    let expected_at = state.deadline_policy(Some(&agency), &p).due(now_ms);
    let quote = p.quote(&answers, state.clock.today_vn());
    let new = NewDossier {
        procedure_code: p.code.clone(),
        agency: agency.code.clone(),
        applicant_name: get(applicant::FULL_NAME),
        applicant_email: get(applicant::EMAIL),
        applicant_phone: get(applicant::PHONE),
        applicant_id_number: get(applicant::ID_NUMBER),
        answers: answers.clone(),
        attachments: draft
            .files
            .iter()
            .map(|(field, f)| NewAttachment {
                field_name: field.clone(),
                document_id: form_def.field(field).and_then(|d| d.document.clone()),
                storage_key: f.storage_key.clone(),
                file_name: f.file_name.clone(),
                content_type: f.kind.mime().to_string(),
                size_bytes: f.size_bytes,
                sha256: f.sha256.clone(),
            })
            .collect(),
        // The applicant reaches the private page through the link of the receipt e-mail; this
        // secret is never shown.
        secret_hash: security::sha256_hex(&security::random_token(32)),
        // Per official: a resent POST of this page files nothing new.
        idempotency_key: format!("desk-{}-{token}", ctx.staff.id),
        submitted_at: now_ms,
        receipt_date: now.to_zoned_datetime(dvc_domain::calendar::vn_tz()).date(),
        expected_at: Some(expected_at),
        // The version of the form the answers were checked against (the live one).
        form_version: state
            .catalog()
            .summary(&p.code)
            .map(|s| s.version)
            .unwrap_or(1),
        channel,
        digitised: !draft.files.is_empty(),
        citizen_id: None,
        reused_fields: Vec::new(),
        delivery: dvc_domain::outcome::Delivery::from_answers(&answers),
        // At the desk the fee is collected there: recorded, never awaited online.
        awaiting_payment: false,
        fee_vnd: i64::try_from(quote.total_vnd).unwrap_or(i64::MAX),
        fee_quote: (!quote.lines.is_empty())
            .then(|| serde_json::to_string(&quote.lines).ok())
            .flatten(),
        payment_status: None,
        filed_by: dossiers::FiledBy {
            actor: ctx.staff.email.clone(),
            ip: ip.clone(),
            action: "file",
        },
        api_request: None,
    };
    let from = FiledFrom {
        session_hash: session.id_hash.clone(),
        draft_key: session.draft_key(),
        data: session.data.clone(),
    };
    let outcome = dossiers::submit_from(
        &state.db,
        &state.audit_key,
        Some(&state.light),
        &new,
        |_| None,
        Some(&from),
        None,
    )
    .await?;
    let code = outcome.code().to_string();
    if let SubmitOutcome::Existing(_) = outcome {
        sessions::delete_draft(&state.db, &session.draft_key(), &p.code).await?;
    } else {
        tracing::info!(dossier = %code, procedure = %p.code, channel = channel.code(), by = %ctx.staff.email, "dossier registered at the desk");
    }
    receive(&state, &ctx, ip, &code).await?;
    Ok(Redirect::to(&format!("/can-bo/ho-so/{code}?da=tiep-nhan-truc-tiep")).into_response())
}

/// Receives the dossier just filed at the desk (unless a first attempt already did).
async fn receive(state: &AppState, ctx: &StaffCtx, ip: String, code: &str) -> AppResult<()> {
    let old = dossiers::find_by_code(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    ctx.check_scope(&old.agency_code)?;
    if old.status()? != DossierStatus::Submitted {
        return Ok(());
    }
    let catalog = state.catalog();
    // The procedure as filed (the version its form was checked against).
    let p = crate::web::portal::as_filed(state, &old.procedure_code, old.form_version)
        .await?
        .ok_or_else(AppError::not_found)?;
    let policy = state.deadline_policy(catalog.agency(&old.agency_code), &p);
    let rules = rules_for(state, &catalog, &old, &p, &policy);
    let actor = WorkflowActor::Staff {
        id: ctx.staff.id,
        role: ctx.role,
    };
    let dossier = old.to_domain()?;
    let events = workflow::decide(
        &dossier,
        &Command::Receive,
        actor,
        &rules,
        state.clock.now_ms(),
    )
    .map_err(refusal)?;
    let next = events.iter().fold(dossier, |d, e| workflow::evolve(&d, e));
    record(state, ctx, ip, &old, &p, rules.agency_name, &events, &next).await
}
