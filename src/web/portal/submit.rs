//! Review ("kiểm tra lại thông tin"), verification code ("Mã xác nhận"), sending
//! ("Gửi thông tin") and the confirmation page with the dossier code (Mã hồ sơ).

use super::declaration::{AGENCY_FIELD, render_form};
use super::online_procedure_or_404;
use crate::config::CaptchaMode;
use crate::error::{AppError, AppResult};
use crate::store::dossiers::{self, NewAttachment, NewDossier, NewMail};
use crate::store::sessions::{self, Draft, Session};
use crate::web::AppState;
use crate::web::captcha;
use crate::web::extract::{CitizenPost, LenientQuery};
use crate::web::rate_limit::Action as Limit;
use crate::web::security::{self, no_store};
use crate::web::templates::{render, render_status, ser};
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::catalog::Procedure;
use dvc_domain::form::{FieldKind, applicant};
use minijinja::{Value, context};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

#[derive(Debug, Deserialize, Default)]
pub struct ReviewParams {
    /// `chu`: the text alternative of the verification code.
    #[serde(rename = "ma-xac-nhan")]
    pub captcha_kind: Option<String>,
}

/// Answers shown on the review and private pages and in the back office: (section title,
/// [(key, label, value)]), the fields shown for these answers only; each item of a repeated
/// section is a section of its own ("Người làm chứng thứ 2").
pub fn display_answers(
    form: Option<&dvc_domain::form::FormDefinition>,
    draft_answers: &dvc_domain::form::Answers,
    files: &[(String, String)],
) -> Vec<Value> {
    let Some(form) = form else {
        return vec![];
    };
    // The declaration's sections as `with_applicant` lists them.
    let full = form.with_applicant();
    let mut out = Vec::new();
    for view in full.layout(draft_answers) {
        if !view.shown {
            continue;
        }
        for item in &view.items {
            let rows: Vec<Value> = item
                .slots
                .iter()
                .filter(|slot| slot.asked)
                .map(|slot| {
                    let f = slot.field;
                    let value = if f.kind == FieldKind::File {
                        files
                            .iter()
                            .find(|(n, _)| n == &slot.key)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_else(|| "Không có".into())
                    } else {
                        let vals = draft_answers.get(&slot.key).cloned().unwrap_or_default();
                        let shown: Vec<String> = vals
                            .iter()
                            .map(|v| match f.kind {
                                FieldKind::Select | FieldKind::Radio | FieldKind::Checkbox
                                    if !f.options.is_empty() =>
                                {
                                    f.options
                                        .iter()
                                        .find(|o| &o.value == v)
                                        .map(|o| o.label.clone())
                                        .unwrap_or_else(|| v.clone())
                                }
                                FieldKind::Checkbox => "Có".into(),
                                FieldKind::Date => dvc_domain::form::parse_date(v)
                                    .map(|d| d.strftime("%d/%m/%Y").to_string())
                                    .unwrap_or_else(|| v.clone()),
                                _ => v.clone(),
                            })
                            .collect();
                        if shown.is_empty() {
                            "Không khai".into()
                        } else {
                            shown.join(", ")
                        }
                    };
                    context! { name => slot.key.clone(), label => f.label.clone(), value }
                })
                .collect();
            let title = match (&view.section.repeat, item.number) {
                (Some(r), Some(n)) => format!("{}: {} thứ {n}", view.section.title, r.item_label),
                _ => view.section.title.clone(),
            };
            out.push(context! { title, rows });
        }
    }
    out
}

/// What the review page, the confirmation page and the confirmation e-mail show of the
/// procedure. Serializing the whole procedure (form definition, legal texts, documents) into a
/// template value for three lines cost hundreds of allocations per page.
fn procedure_brief(p: &Procedure) -> Value {
    context! { code => &p.code, name => &p.name, fee_note => &p.fee_note }
}

/// What the review page, the confirmation and the e-mail show of a fee: the total, when it is
/// paid, and one line per rule with how it was computed.
pub fn quote_view(q: &dvc_domain::fees::Quote) -> Value {
    use dvc_domain::fees::format_vnd;
    context! {
        total => format_vnd(q.total_vnd),
        owes => q.total_vnd > 0,
        timing => q.timing.as_str(),
        timing_label => q.timing.label(),
        lines => q.lines.iter().map(|l| context! { label => l.label.clone(), amount => format_vnd(l.amount_vnd), explanation => l.explanation.clone() }).collect::<Vec<_>>(),
    }
}

/// A draft whose answers all passed validation and that can be sent.
fn is_live(draft: &Draft) -> bool {
    draft.validated && !draft.submit_token.is_empty()
}

fn agency_of(state: &AppState, draft: &Draft) -> Option<dvc_domain::agency::Agency> {
    let code = draft.answers.get(AGENCY_FIELD)?.first()?;
    state.catalog().agency(code).cloned()
}

async fn render_review(
    state: &AppState,
    p: &Procedure,
    session: &Session,
    draft: &Draft,
    captcha_kind: Option<&str>,
    captcha_error: Option<&str>,
    status: StatusCode,
) -> AppResult<Response> {
    let files: Vec<(String, String)> = draft
        .files
        .iter()
        .map(|(k, f)| {
            (
                k.clone(),
                format!(
                    "{} ({} KB)",
                    f.file_name,
                    f.size_bytes.saturating_add(1023) / 1024
                ),
            )
        })
        .collect();
    let sections = display_answers(p.form.as_ref(), &draft.answers, &files);
    let agency = agency_of(state, draft);
    let (captcha_id, captcha_words) = if state.config.captcha == CaptchaMode::Image {
        let id = security::random_token(16);
        let answer = captcha::new_answer();
        let kind = if captcha_kind == Some("chu") {
            "text"
        } else {
            "image"
        };
        sessions::create_captcha(
            &state.light,
            &id,
            &session.id_hash,
            &answer,
            kind,
            state.clock.now_ms() + captcha::TTL_MS,
        )
        .await?;
        (
            Some(id),
            (kind == "text").then(|| captcha::spelled(&answer)),
        )
    } else {
        (None, None)
    };
    let expected = state
        .deadline_policy(agency.as_ref(), p)
        .due(state.clock.now_ms());
    let quote = p.quote(&draft.answers, state.clock.today_vn());
    let fee = quote_view(&quote);
    let pays_online = state.vnpay.is_some() && quote.owes_at_filing();
    let resp = render_status(
        status,
        "review.html",
        context! {
            p => procedure_brief(p), sections,
            agency_name => agency.as_ref().map(|a| a.name.clone()),
            csrf => session.csrf_token.clone(), submit_token => draft.submit_token.clone(),
            captcha_id, captcha_words, captcha_error, expected, fee, pays_online,
        },
    )?;
    Ok(no_store(resp))
}

pub async fn review(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<ReviewParams>,
) -> AppResult<Response> {
    let (_, p) = online_procedure_or_404(&state, &code)?;
    let back = Redirect::to(&format!("/thu-tuc/{}/nop-ho-so", p.code)).into_response();
    let Some((session, Some(draft))) =
        security::session_with_draft(&state, &headers, &p.code).await?
    else {
        return Ok(back);
    };
    if !is_live(&draft) {
        return Ok(back);
    }
    let kind = params.captcha_kind;
    render_review(
        &state,
        &p,
        &session,
        &draft,
        kind.as_deref(),
        None,
        StatusCode::OK,
    )
    .await
}

/// The picture of a verification code of this session.
pub async fn captcha_image(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let id = id.trim_end_matches(".png");
    let Some(session) = security::session(&state, &headers).await? else {
        return Err(AppError::not_found());
    };
    let Some((answer, kind)) =
        sessions::captcha_answer(&state.db, id, &session.id_hash, state.clock.now_ms()).await?
    else {
        return Err(AppError::not_found());
    };
    if kind != "image" {
        return Err(AppError::not_found());
    }
    let png = captcha::render_png(&answer);
    let mut r = png.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    Ok(no_store(r))
}

#[derive(Debug, Deserialize)]
pub struct SendForm {
    pub csrf: Option<String>,
    pub submit_token: Option<String>,
    pub captcha_id: Option<String>,
    pub captcha_answer: Option<String>,
}

/// One submission at a time per idempotency key on this node, so a double click waits for the
/// first click's result instead of racing it (across nodes the database's unique key decides).
static IN_FLIGHT: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

fn flight_lock(key: &str) -> Arc<tokio::sync::Mutex<()>> {
    let mut map = match IN_FLIGHT.lock() {
        Ok(m) => m,
        Err(p) => p.into_inner(),
    };
    if map.len() > 10_000 {
        map.retain(|_, v| Arc::strong_count(v) > 1);
    }
    map.entry(key.to_string()).or_default().clone()
}

async fn remember_submitted(state: &AppState, session: &Session, code: &str) -> AppResult<()> {
    let mut data = session.data.clone();
    if data.remember(code) {
        sessions::save_data(&state.light, &session.id_hash, &data).await?;
    }
    Ok(())
}

/// The code of the dossier filed with `token` by a concurrent request (on any node); with `wait`,
/// polls for up to two seconds while that request may still be filing it.
async fn filed_meanwhile(state: &AppState, token: &str, wait: bool) -> AppResult<Option<String>> {
    let tries = if wait { 20 } else { 1 };
    for i in 0..tries {
        if i > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if let Some(code) = dossiers::find_by_idempotency(&state.db, token).await? {
            return Ok(Some(code));
        }
    }
    Ok(None)
}

fn confirmation_redirect(code: &str) -> Response {
    Redirect::to(&format!("/ho-so/{code}/da-nop")).into_response()
}

pub async fn send(
    State(state): State<AppState>,
    Path(code): Path<String>,
    citizen: CitizenPost,
    form: Result<Form<SendForm>, axum::extract::rejection::FormRejection>,
) -> AppResult<Response> {
    let (catalog, p) = online_procedure_or_404(&state, &code)?;
    let form = form.map(|f| f.0).map_err(|_| {
        AppError::BadRequest(
            "Dữ liệu gửi lên không đọc được. Hãy quay lại trang kiểm tra thông tin và gửi lại."
                .into(),
        )
    })?;
    citizen.check_csrf(form.csrf.as_deref())?;
    let CitizenPost { session, draft, ip } = citizen;
    let me = match session.citizen_id {
        Some(_) => super::signin::citizen_of(&state, session.clone()).await?,
        None => None,
    };
    let me = me.map(|(_, c)| c);
    if let Some(r) = super::signin::gate(&state, &p, me.as_ref())? {
        return Ok(r);
    }
    let token = form.submit_token.unwrap_or_default();
    if token.is_empty() || token.len() > 64 {
        return Ok(Redirect::to(&format!("/thu-tuc/{}/nop-ho-so", p.code)).into_response());
    }
    let lock = flight_lock(&token);
    let _guard = match lock.try_lock() {
        Ok(g) => g,
        Err(_) => {
            // A double click on this node: the first click is filing; wait for it and show its
            // dossier.
            let g = lock.lock().await;
            if let Some(code) = filed_meanwhile(&state, &token, false).await? {
                remember_submitted(&state, &session, &code).await?;
                return Ok(confirmation_redirect(&code));
            }
            g
        }
    };
    // Filing deletes the draft in the same transaction, so a live draft holding this token means
    // the dossier is not filed yet; anything else is a resent POST (refresh, back button, a
    // second node): show the dossier already filed, if any.
    let draft = draft.filter(is_live);
    let other_review = draft
        .as_ref()
        .is_some_and(|d| !security::ct_eq(&d.submit_token, &token));
    let Some(draft) = draft.filter(|d| security::ct_eq(&d.submit_token, &token)) else {
        if let Some(code) = filed_meanwhile(&state, &token, false).await? {
            remember_submitted(&state, &session, &code).await?;
            return Ok(confirmation_redirect(&code));
        }
        // A live draft with another token: a newer review page exists; otherwise start again.
        let to = if other_review { "/kiem-tra" } else { "" };
        return Ok(Redirect::to(&format!("/thu-tuc/{}/nop-ho-so{to}", p.code)).into_response());
    };
    if let Err(retry) = state
        .limiter
        .hit(
            Limit::Submit,
            ip,
            state.config.rate_submit_per_hour,
            3_600_000,
            state.clock.now_ms(),
        )
        .await
    {
        return Err(AppError::TooManyRequests {
            message: "Có quá nhiều hồ sơ được gửi từ địa chỉ mạng này trong một giờ. Hãy chờ rồi thử lại; thông tin bạn đã khai vẫn được giữ.".into(),
            retry_after_secs: retry,
        });
    }
    if state.config.captcha == CaptchaMode::Image {
        let id = form.captcha_id.unwrap_or_default();
        let expected =
            sessions::take_captcha(&state.light, &id, &session.id_hash, state.clock.now_ms())
                .await?;
        let given = captcha::normalise(form.captcha_answer.as_deref().unwrap_or(""));
        let taken_by_another = expected.is_none() && !given.is_empty();
        let ok = expected.is_some_and(|e| !given.is_empty() && security::ct_eq(&e, &given));
        if taken_by_another && let Some(code) = filed_meanwhile(&state, &token, true).await? {
            // A double click whose two POSTs reached two nodes: the other one took the
            // challenge and filed the dossier; show its confirmation, not an error.
            remember_submitted(&state, &session, &code).await?;
            return Ok(confirmation_redirect(&code));
        }
        if !ok {
            let msg = if given.is_empty() {
                "Nhập mã xác nhận gồm 6 chữ số."
            } else {
                "Mã xác nhận chưa đúng hoặc đã hết hạn. Hãy nhập các chữ số của mã mới bên dưới."
            };
            return render_review(
                &state,
                &p,
                &session,
                &draft,
                None,
                Some(msg),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    }

    // Re-check everything on the server before filing.
    let form_def = p
        .form
        .as_ref()
        .map(|f| f.with_applicant())
        .ok_or_else(AppError::not_found)?;
    let mut draft = draft;
    if let Some(c) = &me {
        super::declaration::prefill(&mut draft.answers, c);
    }
    let uploaded = draft.files.keys().cloned().collect();
    let answers = match dvc_domain::form::validate(
        &form_def,
        &draft.answers,
        &uploaded,
        state.clock.today_vn(),
    ) {
        Ok(a) => a,
        Err(errors) => {
            return render_form(
                &state,
                &p,
                &session,
                &draft,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
                me.as_ref(),
            );
        }
    };
    // A file of a field no longer shown is not filed.
    let shown_files = form_def.shown_keys(&answers);
    let Some(agency) = agency_of(&state, &draft).filter(|a| catalog.implements(&p, &a.code)) else {
        return Ok(Redirect::to(&format!("/thu-tuc/{}/nop-ho-so", p.code)).into_response());
    };
    let get = |k: &str| {
        answers
            .get(k)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    let now = state.clock.now();
    let now_ms = now.as_millisecond();
    let secret = security::random_token(32);
    let expected_at = state.deadline_policy(Some(&agency), &p).due(now_ms);
    let quote = p.quote(&answers, state.clock.today_vn());
    // A fee due at filing and payable online: the dossier waits for the payment.
    let online = state.vnpay.is_some() && quote.owes_online();
    let awaiting_payment = online && quote.owes_at_filing();
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
            .filter(|(field, _)| shown_files.contains(field.as_str()))
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
        secret_hash: security::sha256_hex(&secret),
        idempotency_key: token.clone(),
        submitted_at: now_ms,
        receipt_date: now.to_zoned_datetime(dvc_domain::calendar::vn_tz()).date(),
        expected_at: Some(expected_at),
        form_version: catalog.summary(&p.code).map(|s| s.version).unwrap_or(1),
        citizen_id: me.as_ref().map(|c| c.id),
        reused_fields: me
            .as_ref()
            .map(|c| super::declaration::reused(&draft.answers, c))
            .unwrap_or_default(),
        delivery: dvc_domain::outcome::Delivery::from_answers(&answers),
        channel: dvc_domain::dossier::Channel::Online,
        digitised: false,
        awaiting_payment,
        fee_vnd: i64::try_from(quote.total_vnd).unwrap_or(i64::MAX),
        fee_quote: (!quote.lines.is_empty())
            .then(|| serde_json::to_string(&quote.lines).ok())
            .flatten(),
        payment_status: online.then(|| "created".to_string()),
        filed_by: dossiers::FiledBy {
            actor: me
                .as_ref()
                .map(|c| format!("citizen:{}", c.id))
                .unwrap_or_else(|| "citizen".into()),
            ip: ip.to_string(),
            action: "file",
        },
        api_request: None,
    };
    let from = dossiers::FiledFrom {
        session_hash: session.id_hash.clone(),
        draft_key: session.draft_key(),
        data: session.data.clone(),
    };
    let base = state.config.base_url();
    let mail = |code: &str| {
        Some(NewMail {
            kind: "confirmation".into(),
            recipient: new.applicant_email.clone(),
            subject: format!("Mã hồ sơ {code} — {}", p.name),
            body_text: confirmation_text(
                &base,
                code,
                &p,
                &agency,
                &new.applicant_name,
                &secret,
                (!awaiting_payment).then_some(expected_at),
                &quote,
            ),
        })
    };
    // Owing a fee at filing: the payment attempt is started (pending) in the filing's own
    // transaction, and the citizen goes straight to the gateway (303). If it cannot be started,
    // the dossier is filed alone and the confirmation page offers "Thanh toán".
    let pay_url = std::sync::Mutex::new(None::<String>);
    let client_ip = ip.to_string();
    let start_payment = |row: &dossiers::DossierRow| {
        let provider = state.vnpay.as_deref()?;
        match crate::payment::flow::start_decision(&state, provider, row, &client_ip) {
            Ok((decision, url)) => {
                if let Ok(mut u) = pay_url.lock() {
                    *u = Some(url);
                }
                Some(decision)
            }
            Err(e) => {
                tracing::warn!(dossier = %row.code, error = %e, "payment could not be started");
                None
            }
        }
    };
    let outcome = dossiers::submit_from(
        &state.db,
        &state.audit_key,
        Some(&state.light),
        &new,
        mail,
        Some(&from),
        awaiting_payment.then_some(&start_payment as &dossiers::FollowUp<'_>),
    )
    .await?;
    let code = outcome.code().to_string();
    if let dossiers::SubmitOutcome::Created(_, mail_id) = outcome {
        // The draft was deleted and the code remembered in the session in the same transaction.
        tracing::info!(dossier = %code, procedure = %p.code, "dossier submitted");
        match mail_id {
            Some(id) => state.mail.queued(id),
            None => state.mail.wake(),
        }
        if let Some(url) = pay_url.into_inner().ok().flatten() {
            return Ok(security::no_store(Redirect::to(&url).into_response()));
        }
    } else {
        sessions::delete_draft(&state.db, &session.draft_key(), &p.code).await?;
        remember_submitted(&state, &session, &code).await?;
    }
    Ok(confirmation_redirect(&code))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn confirmation_text(
    base: &str,
    code: &str,
    p: &Procedure,
    agency: &dvc_domain::agency::Agency,
    name: &str,
    secret: &str,
    expected_at: Option<i64>,
    quote: &dvc_domain::fees::Quote,
) -> String {
    let ctx = context! {
        base, code, p => procedure_brief(p), agency => ser(agency), name,
        private_url => format!("{base}/ho-so/xem/{secret}"),
        lookup_url => format!("{base}/tra-cuu?ma={code}"),
        expected => expected_at.map(crate::web::templates::format_datetime),
        fee => quote_view(quote),
        originals => p.originals_to_bring().iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
    };
    render_text("email_confirmation.txt", ctx)
}

fn render_text(name: &str, ctx: Value) -> String {
    match render(name, ctx) {
        Ok(h) => h.0,
        Err(e) => {
            tracing::error!(error = %e, "e-mail template failed");
            String::new()
        }
    }
}

pub async fn confirmation(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let found = if crate::store::storable_key(&code) {
        security::session_with_filed(&state, &headers, &code).await?
    } else {
        None
    };
    let Some((session, row)) = found else {
        return Ok(Redirect::to(&format!("/tra-cuu?ma={}", urlencode(&code))).into_response());
    };
    if !session.data.submitted.iter().any(|c| c == &code) {
        return Ok(Redirect::to(&format!("/tra-cuu?ma={}", urlencode(&code))).into_response());
    }
    let row = row.ok_or_else(AppError::not_found)?;
    let catalog = state.catalog();
    let p = catalog
        .procedure(&row.procedure_code)
        .ok_or_else(AppError::not_found)?;
    let agency = catalog.agency(&row.agency_code).cloned();
    let fees: Vec<Value> = p.fees.iter().map(ser).collect();
    let payment = match row.fee_quote.is_some() || row.payment_status.is_some() {
        true => Some(super::payment::view(&state, (&row).into()).await?),
        false => None,
    };
    let resp = render(
        "confirmation.html",
        context! {
            code => row.code.clone(), p => procedure_brief(&p), agency => ser(&agency),
            email => row.applicant_email.clone(), submitted_at => row.submitted_at, expected_at => row.expected_at,
            originals => p.originals_to_bring().iter().map(ser).collect::<Vec<_>>(),
            fees, online_class => p.online_class.slug(), payment, csrf => session.csrf_token.clone(),
        },
    )?
    .into_response();
    Ok(no_store(resp))
}

pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
