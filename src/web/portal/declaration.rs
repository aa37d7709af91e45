//! `/thu-tuc/{code}/nop-ho-so`: the online declaration (applicant block, the procedure's own
//! fields, one upload per document). Validated on the server; the answers are kept in a draft
//! bound to the session, so nothing typed is lost after an error. Success redirects to the
//! review page ("Tiếp tục").

use super::online_procedure_or_404;
use super::signin;
use crate::error::{AppError, AppResult};
use crate::store::citizens::Citizen;
use crate::store::sessions::{self, Draft, DraftFile, Session};
use crate::web::AppState;
use crate::web::antivirus;
use crate::web::extract::CitizenPost;
use crate::web::rate_limit::Action as Limit;
use crate::web::security::{self, check_csrf, no_store, with_cookie};
use crate::web::templates::{render, ser};
use axum::extract::multipart::{Field as PartField, MultipartError};
use axum::extract::{Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use bytes::{Bytes, BytesMut};
use dvc_domain::catalog::Procedure;
use dvc_domain::form::{self, FieldError, FieldKind, FileKind, FormDefinition, RawAnswers};
use minijinja::{Value, context};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Name of the field that picks the receiving agency.
pub const AGENCY_FIELD: &str = "agency_code";
/// Name of the buttons that re-show the page instead of going on ("Cập nhật", "Thêm", "Xóa").
pub const ACTION_FIELD: &str = "_action";
const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;
const MAX_PARTS: usize = 300;

/// Renders the declaration page with answers, stored files and errors. The page of a draft with
/// nothing in it yet is the same for everyone but the CSRF token, and comes from a cache.
pub fn render_form(
    state: &AppState,
    p: &Procedure,
    session: &Session,
    draft: &Draft,
    errors: &[FieldError],
    status: StatusCode,
    me: Option<&Citizen>,
) -> AppResult<Response> {
    render_form_with(state, p, session, draft, errors, status, me, false)
}

#[allow(clippy::too_many_arguments)]
fn render_form_with(
    state: &AppState,
    p: &Procedure,
    session: &Session,
    draft: &Draft,
    errors: &[FieldError],
    status: StatusCode,
    me: Option<&Citizen>,
    draft_saved: bool,
) -> AppResult<Response> {
    let blank = errors.is_empty()
        && draft.answers.is_empty()
        && draft.files.is_empty()
        && me.is_none()
        && !draft_saved;
    let html = if blank {
        state
            .blank_forms
            .page(&p.code, &session.csrf_token, |slot| {
                form_html(state, p, slot, draft, errors, None, false)
            })?
    } else {
        form_html(
            state,
            p,
            &session.csrf_token,
            draft,
            errors,
            me,
            draft_saved,
        )?
    };
    Ok(no_store((status, Html(html)).into_response()))
}

fn form_html(
    state: &AppState,
    p: &Procedure,
    csrf: &str,
    draft: &Draft,
    errors: &[FieldError],
    me: Option<&Citizen>,
    draft_saved: bool,
) -> AppResult<String> {
    let locked: BTreeMap<&str, bool> = me
        .map(identity_answers)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, _, locked)| *locked)
        .map(|(f, _, _)| (f, true))
        .collect();
    let sign_in_url = state
        .oidc
        .is_some()
        .then(|| signin::sign_in_link(&format!("/thu-tuc/{}/nop-ho-so", p.code)));
    let catalog = state.catalog();
    let form = p.declaration();
    let agencies: Vec<Value> = p
        .implementing_agencies(&catalog.agencies)
        .iter()
        .map(|a| context! { code => a.code.to_string(), name => a.name.clone() })
        .collect();
    let (ordered_errors, error_map) = page_errors(&form, &draft.answers, &[AGENCY_FIELD], errors);
    let files = draft_files(draft);
    let (sections, triggers) = page_sections(&form, &draft.answers);
    Ok(render(
        "declaration.html",
        context! {
            p => ser(p),
            form => context! { title => form.title.clone() },
            sections,
            triggers,
            agencies,
            agency_field => AGENCY_FIELD,
            values => ser(&draft.answers),
            files,
            errors => ordered_errors,
            error_map,
            csrf,
            max_file_mb => form::DEFAULT_MAX_FILE_MB,
            locked,
            signed_in => me.map(|c| c.full_name.clone()),
            sign_in_url,
            draft_saved,
        },
    )?
    .0)
}

/// One field of the page: its definition, answer key, whether it is shown now, and what decides
/// it (for the progressive-enhancement script, `static/form.js`).
fn slot_value(slot: &form::Slot<'_>, equals: &[String]) -> Value {
    context! {
        f => ser(slot.field),
        key => slot.key.clone(),
        shown => slot.shown,
        trigger => slot.trigger.clone(),
        equals => serde_json::to_string(equals).unwrap_or_default(),
    }
}

/// A section of the page with its items; a repeated one also carries an empty item whose keys
/// end in `.__N__`, which the script copies when "Thêm" is pressed.
fn section_value(view: &form::SectionView<'_>) -> Value {
    let s = view.section;
    let equals_of = |f: &form::Field| {
        f.show_if
            .as_ref()
            .map(|c| c.equals.clone())
            .unwrap_or_default()
    };
    let items: Vec<Value> = view
        .items
        .iter()
        .map(|item| {
            let slots: Vec<Value> = item
                .slots
                .iter()
                .map(|slot| slot_value(slot, &equals_of(slot.field)))
                .collect();
            context! { number => item.number, slots }
        })
        .collect();
    let repeat = s.repeat.as_ref().map(|r| {
        let template: Vec<Value> = s
            .fields
            .iter()
            .map(|f| {
                let sibling = |name: &str| s.fields.iter().any(|g| g.name == name);
                let trigger = f.show_if.as_ref().map(|c| {
                    if sibling(&c.field) {
                        format!("{}.__N__", c.field)
                    } else {
                        c.field.clone()
                    }
                });
                let slot = form::Slot {
                    field: f,
                    key: format!("{}.__N__", f.name),
                    shown: f.show_if.is_none(),
                    trigger,
                    asked: f.show_if.is_none() && f.required_when.is_none(),
                };
                slot_value(&slot, &equals_of(f))
            })
            .collect();
        context! {
            name => r.name.clone(),
            item_label => r.item_label.clone(),
            min => r.min,
            max => r.max,
            count => view.items.len(),
            can_add => view.can_add(),
            can_remove => view.can_remove(),
            template,
        }
    });
    context! {
        title => s.title.clone(),
        description => s.description.clone(),
        shown => view.shown,
        trigger => view.trigger.clone(),
        equals => serde_json::to_string(&s.show_if.as_ref().map(|c| c.equals.clone()).unwrap_or_default()).unwrap_or_default(),
        repeat,
        items,
    }
}

/// The errors of a declaration page: the summary in the order of the page (the `leading`
/// fields above the form first, then the form's as laid out for `raw`, then any other), and the
/// message per field (keyed like the answers, `field.N` inside a repeated section).
pub fn page_errors(
    form: &FormDefinition,
    raw: &RawAnswers,
    leading: &[&str],
    errors: &[FieldError],
) -> (Vec<Value>, Value) {
    let error_map: BTreeMap<&str, &str> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.message.as_str()))
        .collect();
    let mut ordered: Vec<Value> = Vec::new();
    for name in leading {
        if let Some(m) = error_map.get(name) {
            ordered.push(context! { field => *name, message => *m });
        }
    }
    let mut known: BTreeSet<String> = BTreeSet::new();
    for slot in form
        .layout(raw)
        .iter()
        .flat_map(|s| s.items.iter().flat_map(|i| i.slots.iter()))
    {
        known.insert(slot.key.clone());
        if let Some(m) = error_map.get(slot.key.as_str()) {
            ordered.push(context! { field => slot.key.clone(), message => *m });
        }
    }
    for e in errors
        .iter()
        .filter(|e| !leading.contains(&e.field.as_str()) && !known.contains(e.field.as_str()))
    {
        ordered.push(context! { field => e.field.clone(), message => e.message.clone() });
    }
    (ordered, ser(&error_map))
}

/// The sections of a declaration page as laid out for `raw` ([`section_value`]), and the
/// answers other fields depend on: a "Cập nhật" button follows them (hidden by the script).
pub fn page_sections(form: &FormDefinition, raw: &RawAnswers) -> (Vec<Value>, BTreeSet<String>) {
    let layout = form.layout(raw);
    let sections: Vec<Value> = layout.iter().map(section_value).collect();
    let mut triggers: BTreeSet<String> = BTreeSet::new();
    for view in &layout {
        triggers.extend(view.trigger.clone());
        for slot in view.items.iter().flat_map(|i| i.slots.iter()) {
            triggers.extend(slot.trigger.clone());
        }
        if view.section.repeat.is_some() {
            for f in &view.section.fields {
                if let Some(c) = &f.show_if {
                    triggers.insert(format!("{}.__N__", c.field));
                }
            }
        }
    }
    (sections, triggers)
}

/// The files already in a draft, as the declaration page shows them.
pub fn draft_files(draft: &Draft) -> BTreeMap<String, Value> {
    draft
        .files
        .iter()
        .map(|(k, f)| (k.clone(), context! { name => f.file_name.clone(), size_kb => f.size_bytes.saturating_add(1023) / 1024 }))
        .collect()
}

/// Adds the form's field errors to the upload errors, a field refused for its file only once.
pub fn add_field_errors(errors: &mut Vec<FieldError>, more: Vec<FieldError>) {
    for fe in more {
        if !errors.iter().any(|e| e.field == fe.field) {
            errors.push(fe);
        }
    }
}

pub async fn form(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (_, p) = online_procedure_or_404(&state, &code)?;
    let (session, mut draft, cookie) =
        security::ensure_session_with_draft(&state, &headers, &p.code).await?;
    let me = match session.citizen_id {
        Some(_) => signin::citizen_of(&state, session.clone()).await?,
        None => None,
    };
    let me = me.map(|(_, c)| c);
    if let Some(r) = signin::gate(&state, &p, me.as_ref())? {
        return Ok(r);
    }
    if let Some(c) = &me {
        prefill(&mut draft.answers, c);
    }
    Ok(with_cookie(
        render_form(
            &state,
            &p,
            &session,
            &draft,
            &[],
            StatusCode::OK,
            me.as_ref(),
        )?,
        cookie,
    ))
}

/// The applicant's answers the citizen's electronic identity gives: (field, value, read-only).
/// Those of a level-2 identity (name, birth date, identification number) are read-only; the
/// contact details are only suggested.
pub fn identity_answers(c: &Citizen) -> Vec<(&'static str, String, bool)> {
    use dvc_domain::form::applicant;
    let level2 = c.level >= 2;
    let birth = c
        .birth_date
        .parse::<jiff::civil::Date>()
        .map(|d| d.strftime("%d/%m/%Y").to_string())
        .unwrap_or_default();
    [
        (applicant::FULL_NAME, c.full_name.clone(), level2),
        (applicant::BIRTH_DATE, birth, level2),
        (applicant::ID_NUMBER, c.id_number.clone(), level2),
        (applicant::PHONE, c.phone.clone(), false),
        (applicant::EMAIL, c.email.clone(), false),
    ]
    .into_iter()
    .filter(|(_, v, _)| !v.is_empty())
    .collect()
}

/// Fills the applicant block from the identity: read-only answers always, the others when
/// the citizen has not answered them yet.
pub fn prefill(answers: &mut dvc_domain::form::Answers, c: &Citizen) {
    for (field, value, locked) in identity_answers(c) {
        if locked || !answers.contains_key(field) {
            answers.insert(field.to_string(), vec![value]);
        }
    }
}

/// The answers that were taken from the identity as they are (QĐ 766 indicator 4.3).
pub fn reused(answers: &dvc_domain::form::Answers, c: &Citizen) -> Vec<String> {
    identity_answers(c)
        .into_iter()
        .filter(|(field, value, _)| {
            answers
                .get(*field)
                .and_then(|v| v.first())
                .is_some_and(|a| a.trim() == value.trim())
        })
        .map(|(field, _, _)| field.to_string())
        .collect()
}

/// What one multipart POST carried.
struct Posted {
    raw: RawAnswers,
    /// The button pressed: "Tiếp tục" (none), "Cập nhật", "Thêm" or "Xóa" ([`PageAction`]).
    action: Option<String>,
    /// Newly uploaded files, not yet scanned nor checked: (field, field label, client name, bytes).
    uploads: Vec<(String, String, String, Bytes)>,
    /// "Lưu nháp": keep what was posted without going on to the review.
    save_only: bool,
}

enum ReadError {
    App(AppError),
    /// A file over its limit: the answers read so far, and the message.
    TooLarge(RawAnswers, String),
}

impl From<AppError> for ReadError {
    fn from(e: AppError) -> Self {
        ReadError::App(e)
    }
}

fn multipart_error(e: MultipartError) -> ReadError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ReadError::App(AppError::PayloadTooLarge(format!(
            "Tổng dung lượng các tệp gửi lên vượt quá {} MB. Hãy gửi các tệp nhỏ hơn (quét ở độ phân giải thấp hơn hoặc nén PDF).",
            crate::web::MAX_DECLARATION_BODY / 1024 / 1024
        )))
    } else {
        ReadError::App(AppError::BadRequest(
            "Dữ liệu biểu mẫu gửi lên không đọc được. Hãy tải lại trang biểu mẫu và gửi lại."
                .into(),
        ))
    }
}

async fn read_text(mut field: PartField<'_>) -> Result<String, ReadError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if buf.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
            return Err(ReadError::App(AppError::PayloadTooLarge(
                "Một ô nhập liệu chứa quá nhiều ký tự. Hãy rút gọn nội dung rồi gửi lại.".into(),
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

async fn read_post(
    session: &Session,
    form: &FormDefinition,
    extra_fields: &[&str],
    mut mp: Multipart,
) -> Result<Posted, ReadError> {
    // The CSRF token must come first, before anything is stored.
    let first = mp.next_field().await.map_err(multipart_error)?;
    let token = match first {
        Some(f) if f.name() == Some("csrf") => Some(read_text(f).await?),
        _ => None,
    };
    check_csrf(Some(session), token.as_deref())?;

    let mut posted = Posted {
        raw: RawAnswers::new(),
        action: None,
        uploads: Vec::new(),
        save_only: false,
    };
    let mut parts = 0;
    while let Some(field) = mp.next_field().await.map_err(multipart_error)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ReadError::App(AppError::BadRequest(
                "Biểu mẫu gửi lên có quá nhiều mục.".into(),
            )));
        }
        let Some(name) = field.name().map(str::to_string) else {
            continue;
        };
        let def = match form.key(&name) {
            Some(form::Key::Field(f)) => Some(f),
            Some(form::Key::Count(_)) => {
                let v = read_text(field).await?;
                posted.raw.entry(name).or_default().push(v);
                continue;
            }
            None => None,
        };
        match def {
            Some(def) if def.kind == FieldKind::File => {
                let client_name = field.file_name().unwrap_or("").to_string();
                let limit =
                    def.max_size_mb.unwrap_or(form::DEFAULT_MAX_FILE_MB) as usize * 1024 * 1024;
                let label = def.label.clone();
                let mut field = field;
                let mut buf = BytesMut::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if buf.len() + chunk.len() > limit {
                        return Err(ReadError::TooLarge(
                            posted.raw,
                            format!(
                                "Tệp “{}” cho mục “{label}” lớn hơn {} MB. Hãy chọn tệp nhỏ hơn (quét ở độ phân giải thấp hơn hoặc nén PDF) rồi gửi lại. Các thông tin khác bạn đã nhập vẫn được giữ.",
                                form::safe_file_name(&client_name, FileKind::Pdf)
                                    .trim_end_matches(".pdf"),
                                limit / 1024 / 1024
                            ),
                        ));
                    }
                    buf.extend_from_slice(&chunk);
                }
                if buf.is_empty() {
                    // No file chosen for this field this time.
                    continue;
                }
                posted
                    .uploads
                    .push((name, label, client_name, buf.freeze()));
            }
            Some(_) => {
                let v = read_text(field).await?;
                posted.raw.entry(name).or_default().push(v);
            }
            None if name == ACTION_FIELD => {
                posted.action = Some(read_text(field).await?);
            }
            None if extra_fields.contains(&name.as_str()) => {
                let v = read_text(field).await?;
                posted.raw.entry(name).or_default().push(v);
            }
            None if name == "luu-nhap" => {
                let _ = read_text(field).await?;
                posted.save_only = true;
            }
            // Unknown fields are read and dropped: nothing outside the form is ever stored.
            None => {
                let _ = read_text(field).await?;
            }
        }
    }
    Ok(posted)
}

/// Checks the receiving agency: it must implement the procedure.
fn validate_agency(state: &AppState, p: &Procedure, raw: &RawAnswers) -> Option<FieldError> {
    let chosen = raw
        .get(AGENCY_FIELD)
        .and_then(|v| v.first())
        .map(|s| s.trim())
        .unwrap_or("");
    let catalog = state.catalog();
    let ok = dvc_domain::agency::AgencyCode::parse(chosen)
        .map(|c| catalog.implements(p, &c))
        .unwrap_or(false);
    (!ok).then(|| FieldError {
        field: AGENCY_FIELD.into(),
        message: "Chọn nơi nộp hồ sơ (cơ quan giải quyết) trong danh sách.".into(),
    })
}

/// Who posts a declaration into a draft, and what besides the form's fields the post may carry.
pub struct Poster<'a> {
    /// The session the CSRF token and the draft belong to (a citizen's, or an official's).
    pub session: &'a Session,
    /// The draft's key within the session (the procedure's code).
    pub draft_key: &'a str,
    /// Fields outside the form that are kept in the draft (the receiving agency, the channel).
    pub extra_fields: &'a [&'a str],
    /// Who uploads, for the antivirus audit.
    pub uploader: antivirus::Uploader<'a>,
    /// The client address whose upload rate is limited (a citizen's); `None` for officials.
    pub limit_ip: Option<std::net::IpAddr>,
}

/// Reads a declaration POST into `draft`, the one way every declaration is read (online by the
/// citizen, at the desk by an official): the CSRF token first, then the answers to `form_def`'s
/// fields and the poster's extra fields, and every file through the antivirus scanner, then the
/// content checks (type, structure, scripts, pixel count; never by name), then into the file
/// store under a generated name, replacing an earlier file of the same field. Returns the
/// refused files as field errors, and whether the citizen asked to save a draft only ("Lưu
/// nháp"). A file over its limit, or a scanner without a verdict, saves
/// the draft with what was typed (and stores no file) and returns the error.
pub async fn read_into_draft(
    state: &AppState,
    poster: &Poster<'_>,
    form_def: &FormDefinition,
    draft: &mut Draft,
    req: Request,
) -> AppResult<ReadPost> {
    let session = poster.session;
    // Only now, with a valid session, is the body read (see `admission`).
    let (admitted, mp) = crate::web::admission::admit_multipart(state, req).await?;
    let posted = match read_post(session, form_def, poster.extra_fields, mp).await {
        Ok(p) => p,
        Err(ReadError::App(e)) => return Err(admitted.explain(e)),
        Err(ReadError::TooLarge(raw, message)) => {
            // Keep what was typed before the oversized file, then explain.
            merge_answers(draft, raw, form_def, poster.extra_fields, false);
            draft.validated = false;
            sessions::save_draft(
                &state.light,
                session,
                poster.draft_key,
                draft,
                state.clock.now_ms(),
            )
            .await?;
            return Err(AppError::PayloadTooLarge(message));
        }
    };
    if !posted.uploads.is_empty()
        && let Some(ip) = poster.limit_ip
    {
        let limit = state.config.rate_submit_per_hour.saturating_mul(20);
        if let Err(retry) = state
            .limiter
            .hit(Limit::Upload, ip, limit, 3_600_000, state.clock.now_ms())
            .await
        {
            return Err(AppError::TooManyRequests {
                message: "Bạn đã tải lên quá nhiều tệp trong thời gian ngắn. Hãy chờ một lát rồi thử lại.".into(),
                retry_after_secs: retry,
            });
        }
    }

    // Every file through the antivirus scanner first, then by content. A scanner without a
    // verdict keeps the draft as it was, with what was typed, and stores no file (fail closed).
    let mut errors = Vec::new();
    let mut uploads: Vec<(String, String, FileKind, Bytes)> = Vec::new();
    for (field, _, client_name, bytes) in &posted.uploads {
        match antivirus::check(state, bytes, client_name, &poster.uploader).await {
            Ok(None) => {}
            Ok(Some(message)) => errors.push(FieldError {
                field: field.clone(),
                message,
            }),
            Err(e) => {
                merge_answers(draft, posted.raw, form_def, poster.extra_fields, true);
                draft.validated = false;
                sessions::save_draft(
                    &state.light,
                    session,
                    poster.draft_key,
                    draft,
                    state.clock.now_ms(),
                )
                .await?;
                return Err(e);
            }
        }
    }
    for (field, label, client_name, bytes) in posted.uploads {
        if errors.iter().any(|e| e.field == field) {
            continue;
        }
        match dvc_domain::upload::inspect(&bytes) {
            Ok(kind) => uploads.push((field, client_name, kind, bytes)),
            Err(refusal) => errors.push(FieldError {
                field,
                message: refusal.message(&format!("Tệp đã chọn cho mục “{label}”")),
            }),
        }
    }
    // Store newly uploaded files under generated names, replacing earlier ones.
    let now = state.clock.now();
    for (field, client_name, kind, bytes) in uploads {
        let key = crate::files::Files::new_key(now);
        let sha = hex::encode(Sha256::digest(&bytes));
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        state.files.put(&key, bytes).await?;
        let new = DraftFile {
            storage_key: key,
            file_name: form::safe_file_name(&client_name, kind),
            kind,
            size_bytes: size,
            sha256: sha,
        };
        if let Some(old) = draft.files.insert(field, new) {
            state.files.delete(&old.storage_key).await?;
        }
    }
    // The uploaded bytes are stored and gone: the next body may be read.
    drop(admitted);
    merge_answers(draft, posted.raw, form_def, poster.extra_fields, true);
    // "Cập nhật", "Thêm", "Xóa": the page is shown again with the fields that now apply.
    let page_action =
        posted
            .action
            .as_deref()
            .and_then(PageAction::parse)
            .map(|action| match action {
                PageAction::Update => String::new(),
                PageAction::Add(group) => {
                    if form::add_item(form_def, &mut draft.answers, &group) {
                        let n = form_def
                            .group(&group)
                            .map(|r| form::item_count(r, &draft.answers))
                            .unwrap_or(1);
                        format!("#muc-{group}-{n}")
                    } else {
                        format!("#nhom-{group}")
                    }
                }
                PageAction::Remove(group, n) => {
                    form::remove_item(form_def, &mut draft.answers, &group, n);
                    format!("#nhom-{group}")
                }
            });
    Ok(ReadPost {
        errors,
        save_only: posted.save_only,
        page_action,
    })
}

/// What [`read_into_draft`] found besides the answers it put into the draft.
pub struct ReadPost {
    /// Refused files, as field errors.
    pub errors: Vec<FieldError>,
    /// "Lưu nháp": keep the draft without going on.
    pub save_only: bool,
    /// "Cập nhật", "Thêm" or "Xóa" was pressed (already applied to the draft): show the page
    /// again at this anchor (empty: the top); nothing is reported as an error yet.
    pub page_action: Option<String>,
}

/// Drops the files of fields no longer shown (a hidden section's upload), with their answers.
pub async fn drop_stale_files(
    state: &AppState,
    form_def: &FormDefinition,
    draft: &mut Draft,
) -> AppResult<()> {
    let shown = form_def.shown_keys(&draft.answers);
    let stale: Vec<String> = draft
        .files
        .keys()
        .filter(|k| !shown.contains(k.as_str()))
        .cloned()
        .collect();
    for k in stale {
        if let Some(old) = draft.files.remove(&k) {
            state.files.delete(&old.storage_key).await?;
        }
    }
    Ok(())
}

pub async fn save(
    State(state): State<AppState>,
    Path(code): Path<String>,
    citizen: CitizenPost,
    req: Request,
) -> AppResult<Response> {
    let (_, p) = online_procedure_or_404(&state, &code)?;
    let CitizenPost { session, draft, ip } = citizen;
    let me = match session.citizen_id {
        Some(_) => signin::citizen_of(&state, session.clone()).await?,
        None => None,
    };
    let me = me.map(|(_, c)| c);
    if let Some(r) = signin::gate(&state, &p, me.as_ref())? {
        return Ok(r);
    }
    let form_def = p.declaration();
    let mut draft = draft.unwrap_or_default();
    let place = format!("declaration {}", p.code);
    let poster = Poster {
        session: &session,
        draft_key: &p.code,
        extra_fields: &[AGENCY_FIELD],
        uploader: antivirus::Uploader {
            actor: "citizen",
            place: &place,
        },
        limit_ip: Some(ip),
    };
    let ReadPost {
        mut errors,
        save_only,
        page_action,
    } = read_into_draft(&state, &poster, &form_def, &mut draft, req).await?;
    if let Some(c) = &me {
        // Read-only answers of a level-2 identity cannot be changed by posting others.
        prefill(&mut draft.answers, c);
    }
    if save_only && me.is_some() {
        draft.validated = false;
        sessions::save_draft(
            &state.light,
            &session,
            &p.code,
            &draft,
            state.clock.now_ms(),
        )
        .await?;
        return render_form_with(
            &state,
            &p,
            &session,
            &draft,
            &errors,
            if errors.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            me.as_ref(),
            true,
        );
    }

    // "Cập nhật", "Thêm", "Xóa": the page again with what was typed (and uploaded), showing the
    // fields that now apply; nothing is reported as an error yet.
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
                &p,
                &session,
                &draft,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
                me.as_ref(),
            );
        }
        return Ok(Redirect::to(&format!("/thu-tuc/{}/nop-ho-so{anchor}", p.code)).into_response());
    }
    drop_stale_files(&state, &form_def, &mut draft).await?;

    let uploaded: BTreeSet<String> = draft.files.keys().cloned().collect();
    let validated = form::validate(&form_def, &draft.answers, &uploaded, state.clock.today_vn());
    if let Some(e) = validate_agency(&state, &p, &draft.answers) {
        errors.insert(0, e);
    }
    match validated {
        Ok(answers) if errors.is_empty() => {
            let agency = draft.answers.get(AGENCY_FIELD).cloned().unwrap_or_default();
            draft.answers = answers;
            draft.answers.insert(
                AGENCY_FIELD.into(),
                agency.iter().map(|a| a.trim().to_string()).collect(),
            );
            draft.validated = true;
            if draft.submit_token.is_empty() {
                draft.submit_token = security::random_token(16);
            }
            sessions::save_draft(
                &state.light,
                &session,
                &p.code,
                &draft,
                state.clock.now_ms(),
            )
            .await?;
            Ok(Redirect::to(&format!("/thu-tuc/{}/nop-ho-so/kiem-tra", p.code)).into_response())
        }
        other => {
            if let Err(field_errors) = other {
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
            render_form(
                &state,
                &p,
                &session,
                &draft,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
                me.as_ref(),
            )
        }
    }
}

/// A button of the declaration page other than "Tiếp tục".
enum PageAction {
    /// "Cập nhật": show the fields that now apply.
    Update,
    /// "Thêm": one more item of this repeated group.
    Add(String),
    /// "Xóa": remove item N of this repeated group.
    Remove(String, u32),
}

impl PageAction {
    fn parse(v: &str) -> Option<PageAction> {
        let v = v.trim();
        if v == "cap-nhat" {
            return Some(PageAction::Update);
        }
        if let Some(g) = v.strip_prefix("them:") {
            return Some(PageAction::Add(g.to_string()));
        }
        let (g, n) = v.strip_prefix("xoa:")?.rsplit_once(':')?;
        Some(PageAction::Remove(g.to_string(), n.parse().ok()?))
    }
}

/// Puts what was posted into the draft, for the fields of this form only. With `complete`, the
/// whole form was posted: unchecked checkboxes send nothing, so every known field is overwritten
/// (or cleared). Otherwise (a post cut short) only the fields that arrived are updated.
fn merge_answers(
    draft: &mut Draft,
    raw: RawAnswers,
    form_def: &FormDefinition,
    extra_fields: &[&str],
    complete: bool,
) {
    let mut answers = if complete {
        RawAnswers::new()
    } else {
        std::mem::take(&mut draft.answers)
    };
    for (key, v) in raw {
        let keep = match form_def.key(&key) {
            Some(form::Key::Field(f)) => f.kind != FieldKind::File,
            Some(form::Key::Count(_)) => true,
            None => extra_fields.contains(&key.as_str()),
        };
        if keep {
            answers.insert(
                key,
                v.into_iter()
                    .map(|s| s.chars().take(10_000).collect())
                    .collect(),
            );
        }
    }
    draft.answers = answers;
}
