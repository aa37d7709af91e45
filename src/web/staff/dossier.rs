//! `/can-bo/ho-so/{code}`: everything about one dossier (answers, attachments, steps, timeline)
//! and the actions as POST buttons: Tiếp nhận, Yêu cầu bổ sung, Từ chối, Chuyển xử lý,
//! Trình phê duyệt, Phê duyệt, Trả lại, Trả kết quả, Xin lỗi và gia hạn, Kéo dài thời hạn theo quy
//! định (also chosen at Tiếp nhận), Dừng xử lý.

use super::{StaffCtx, StaffForm, require_staff};
use crate::error::{AppError, AppResult};
use crate::notify::{self, Kind};
use crate::store::dossiers::{self, Actor, Decision, DossierRow, NewMail};
use crate::store::staff as staff_store;
use crate::web::extract::LenientQuery;
use crate::web::portal::lookup::download;
use crate::web::portal::submit::display_answers;
use crate::web::security::{self, no_store};
use crate::web::templates::{render, ser};
use crate::web::{AppState, antivirus};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::calendar::{DeadlinePolicy, format_vn_datetime};
use dvc_domain::catalog::Procedure;
use dvc_domain::dossier::{Action, transition};
use dvc_domain::fees::format_vnd;
use dvc_domain::form::FileKind;
use dvc_domain::staff::Role;
use dvc_domain::workflow::{
    self, Actor as WorkflowActor, Assignee, Command, EventKind, Refusal, ResultFile, Rules,
};
use minijinja::{Value, context};
use serde::Deserialize;

/// The back office's URL slug of each action (the event log stores the domain's names).
pub const ACTIONS: [(&str, Action); 12] = [
    ("tiep-nhan", Action::Receive),
    ("yeu-cau-bo-sung", Action::RequestSupplement),
    ("tu-choi", Action::Refuse),
    ("chuyen-xu-ly", Action::Forward),
    ("trinh-phe-duyet", Action::SubmitForApproval),
    ("phe-duyet", Action::Approve),
    ("tra-lai", Action::SendBack),
    ("da-thu-phi", Action::CollectFee),
    ("tra-ket-qua", Action::ReturnResult),
    ("xin-loi-gia-han", Action::ApologiseAndExtend),
    ("gia-han-theo-quy-dinh", Action::ExtraTime),
    ("dung-xu-ly", Action::Stop),
];

pub fn action_slug(a: Action) -> &'static str {
    ACTIONS
        .iter()
        .find(|(_, x)| *x == a)
        .map(|(s, _)| *s)
        .unwrap_or("")
}

async fn load(
    state: &AppState,
    ctx: &StaffCtx,
    code: &str,
) -> AppResult<(DossierRow, std::sync::Arc<Procedure>)> {
    ctx.check_opens_dossiers()?;
    let row = dossiers::find_by_code(&state.db, code)
        .await?
        .ok_or_else(|| AppError::NotFound("Không tìm thấy hồ sơ có mã này.".into()))?;
    ctx.check_scope(&row.agency_code)?;
    // The procedure as filed: its form version, documents and time limit.
    let p = crate::web::portal::as_filed(state, &row.procedure_code, row.form_version)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok((row, p))
}

#[derive(Deserialize, Default)]
pub struct PageParams {
    da: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<PageParams>,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    let (row, p) = load(&state, &ctx, &code).await?;
    let events = dossiers::events(&state.db, row.id).await?;
    let attachments = dossiers::attachments(&state.db, row.id).await?;
    let files: Vec<(String, String)> = attachments
        .iter()
        .map(|a| (a.field_name.clone(), a.file_name.clone()))
        .collect();
    let sections = display_answers(p.form.as_ref(), &row.answers(), &files);
    let now = state.clock.now_ms();
    let steps = crate::web::progress::steps(&state, &row, &p, &events, now)?;
    let status = row.status()?;
    let me = WorkflowActor::Staff {
        id: ctx.staff.id,
        role: ctx.role,
    };
    let dossier = row.to_domain()?;
    // A fee due at the result, not paid online nor collected yet.
    let fee = fee_of(&row, &p);
    let fee_due = workflow::fee_due_at_result(&fee);
    let actions: Vec<Value> = ACTIONS
        .iter()
        .filter(|(_, a)| {
            ctx.role.may(*a)
                && transition(status, *a).is_ok()
                && (*a != Action::ExtraTime || !p.processing_time.extra.is_empty())
                && (*a != Action::CollectFee || fee_due.is_some())
                && workflow::check_assignee(&dossier, me, *a).is_ok()
        })
        .map(|(slug, a)| context! { slug => *slug, label => a.label() })
        .collect();
    let colleagues = staff_store::list(&state.db, &ctx.visible).await?;
    let catalog = state.catalog();
    let units = dossier_units(&state, &row.agency_code);
    let forward_to: Vec<Value> = colleagues
        .iter()
        .filter(|s| s.active == 1 && matches!(s.role(), Some(Role::Specialist | Role::Leader)))
        .filter(|s| units.contains(&s.agency_code))
        .map(|s| context! { id => s.id, name => s.name.clone(), title => s.title.clone(), role => s.role().map(|r| r.label()).unwrap_or_default() })
        .collect();
    let assignee = match row.assignee_id {
        Some(id) => staff_store::find(&state.db, id)
            .await?
            .map(|s| format!("{} ({})", s.name, s.title)),
        None => None,
    };
    // Synchronisation with the national portal, when it is configured: synced (and when), or
    // changes still waiting to be acknowledged.
    let national = if state.config.dvcqg_url.is_some() {
        let (synced_at, pending) = crate::store::partners::sync_state(&state.db, row.id).await?;
        Some(context! { synced_at, pending })
    } else {
        None
    };
    let timeline = events
        .iter()
        .map(|e| {
            let st = e.to_status()?;
            let details: serde_json::Value = e.details.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
            Ok(context! {
                id => e.id, at => e.at, status_label => st.label(), action => e.action.clone(),
                actor => e.actor_name.clone().unwrap_or_else(|| if e.actor == "citizen" { "Công dân".into() } else { e.actor.clone() }),
                title => e.actor_title.clone(), note => e.public_note.clone(), details => ser(&details),
                document => crate::web::staff::documents::kind_for_action(&e.action),
            })
        })
        .collect::<Result<Vec<Value>, crate::store::StoreError>>()?;
    let progress = row.progress(now)?;
    // The comment of the citizen's rating, from its event.
    let rating_comment = events
        .iter()
        .rev()
        .find(|e| e.action == Action::Rate.as_str())
        .map(|e| e.kind())
        .transpose()?
        .and_then(|k| match k {
            EventKind::Rate { comment, .. } => comment,
            _ => None,
        });
    let resp = render(
        "staff_dossier.html",
        context! {
            csrf => ctx.csrf.clone(), me => context! { name => ctx.staff.name.clone(), role => ctx.role.label() },
            d => context! {
                code => row.code.clone(), version => row.version, status => status.as_str(), status_label => status.label(), submitted_at => row.submitted_at,
                received_at => row.received_at, due_at => row.due_at, expected_at => row.expected_at, progress => progress.as_str(), progress_label => progress.label(),
                supplement_count => row.supplement_count, unit => row.unit.clone(), assignee,
                agency => catalog.agency(&row.agency_code).map(|a| a.name.clone()).unwrap_or_default(),
                name => row.applicant_name.clone(), email => row.applicant_email.clone(), phone => row.applicant_phone.clone(),
                id_number => row.applicant_id_number.clone(), has_result => row.result_key.is_some(), result_name => row.result_name.clone(),
                delivery => dossier.delivery.as_str(), delivery_label => dossier.delivery.label(),
                delivery_address => dvc_domain::outcome::delivery_address(&row.answers()).map(str::to_string),
                result_electronic => dossier.result_signed, postal_tracking => dossier.postal_tracking.clone(),
                rating => dossier.rating.map(|r| r.label()), rating_comment,
                channel => row.channel().label(), digitised => row.digitised == 1,
                national => national,
                fee => (fee.amount_vnd > 0).then(|| context! {
                    amount => format_vnd(fee.amount_vnd), timing => p.payment.label(),
                    status => fee.payment.map(|s| s.label()), due => fee_due.map(format_vnd),
                }),
            },
            p => ser(&p), sections, steps => ser(&steps), timeline, actions, forward_to,
            attachments => attachments.iter().map(|a| context! { id => a.id, name => a.file_name.clone(), size_kb => (a.size_bytes + 1023) / 1024, field => a.field_name.clone() }).collect::<Vec<_>>(),
            documents => p.documents.iter().map(|d| context! { id => d.id.clone(), name => d.name.clone() }).collect::<Vec<_>>(),
            extra_time => p.processing_time.extra.iter().enumerate().map(|(i, x)| context! { index => i, days => x.working_days, reason => x.reason.clone() }).collect::<Vec<_>>(),
            done => params.da,
        },
    )?;
    Ok(no_store(resp.into_response()))
}

pub async fn attachment(
    State(state): State<AppState>,
    Path((code, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    let (row, _) = load(&state, &ctx, &code).await?;
    let id: i64 = id.parse().map_err(|_| AppError::not_found())?;
    let a = dossiers::attachment_by_id(&state.db, row.id, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let bytes = state.files.get(&a.storage_key).await?;
    Ok(download(bytes, &a.content_type, &a.file_name))
}

pub async fn result_file(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    let (row, _) = load(&state, &ctx, &code).await?;
    serve_result(&state, &row).await
}

pub async fn serve_result(state: &AppState, row: &DossierRow) -> AppResult<Response> {
    let (Some(key), Some(name)) = (&row.result_key, &row.result_name) else {
        return Err(AppError::not_found());
    };
    let bytes = state.files.get(key).await?;
    let kind = FileKind::sniff(&bytes).unwrap_or(FileKind::Pdf);
    Ok(download(bytes, kind.mime(), name))
}

/// The deadline policy and rules a decision on a dossier of procedure `p` needs.
pub fn rules_for<'a>(
    state: &'a AppState,
    catalog: &'a crate::catalog::Catalog,
    row: &DossierRow,
    p: &'a Procedure,
    policy: &'a DeadlinePolicy<'a>,
) -> Rules<'a> {
    Rules {
        deadline: policy,
        steps: p.effective_workflow().len(),
        electronic_result_required: p.online_class == dvc_domain::catalog::OnlineClass::ToanTrinh,
        max_extensions: state.config.max_extensions,
        agency_name: catalog
            .agency(&row.agency_code)
            .map(|a| a.name.as_str())
            .unwrap_or_default(),
        extra_time: &p.processing_time.extra,
        fee: fee_of(row, p),
    }
}

/// The dossier's fee as the workflow sees it: when procedure `p` has it paid, the amount and
/// where its payment stands.
pub fn fee_of(row: &DossierRow, p: &Procedure) -> workflow::Fee {
    workflow::Fee::stored(p.payment, row.fee_vnd, row.payment_status.as_deref())
}

/// A refusal of the workflow as the error page shows it.
pub fn refusal(r: Refusal) -> AppError {
    match r {
        Refusal::NotAllowed(m) => AppError::Forbidden(m),
        Refusal::State(e) => AppError::Conflict(e.to_string()),
        Refusal::Invalid(m) => AppError::Unprocessable(m),
        Refusal::Already(m) | Refusal::Unpaid(m) => AppError::Conflict(m),
    }
}

fn required<'a>(form: &'a StaffForm, name: &str, message: &str) -> AppResult<&'a str> {
    form.get(name)
        .ok_or_else(|| AppError::Unprocessable(message.to_string()))
}

/// The units a dossier of `agency_code` may be handed to: that agency and its sub-units.
fn dossier_units(state: &AppState, agency_code: &str) -> Vec<String> {
    let catalog = state.catalog();
    match dvc_domain::agency::AgencyCode::parse(agency_code) {
        Ok(code) => dvc_domain::staff::visible_agencies(Role::Leader, &code, &catalog.agencies)
            .into_iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        Err(_) => vec![agency_code.to_string()],
    }
}

/// The official chosen in the form (`assignee_id`): active, in this official's agencies and in
/// the dossier's agency or one of its sub-units.
async fn chosen_assignee(
    state: &AppState,
    form: &StaffForm,
    row: &DossierRow,
) -> AppResult<Option<Assignee>> {
    let Some(id) = form.get("assignee_id") else {
        return Ok(None);
    };
    let wrong = || {
        AppError::Unprocessable(
            "Người nhận không thuộc đơn vị của bạn hoặc đã ngừng hoạt động. Chọn lại.".into(),
        )
    };
    let id: i64 = id.parse().map_err(|_| wrong())?;
    let s = staff_store::find(&state.db, id)
        .await?
        .filter(|s| s.active == 1 && form.ctx.visible.contains(&s.agency_code))
        .ok_or_else(wrong)?;
    if !dossier_units(state, &row.agency_code).contains(&s.agency_code) {
        return Err(AppError::Unprocessable(
            "Chỉ chuyển hồ sơ cho cán bộ của cơ quan giải quyết hồ sơ hoặc đơn vị trực thuộc. Chọn lại người nhận."
                .into(),
        ));
    }
    let role = s.role().ok_or_else(wrong)?;
    let unit = state
        .catalog()
        .agency(&s.agency_code)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    Ok(Some(Assignee {
        id: s.id,
        role,
        name: s.name,
        title: s.title,
        unit,
    }))
}

/// The official who last submitted the dossier for approval, if still active and in this
/// official's agencies: a dossier sent back without naming anyone goes back to them.
async fn submitter(
    state: &AppState,
    form: &StaffForm,
    row: &DossierRow,
) -> AppResult<Option<Assignee>> {
    let events = dossiers::events(&state.db, row.id).await?;
    let Some(email) = events
        .iter()
        .rev()
        .find(|e| e.action == Action::SubmitForApproval.as_str())
        .map(|e| e.actor.clone())
    else {
        return Ok(None);
    };
    let Some(s) = staff_store::find_by_email(&state.db, &email)
        .await?
        .filter(|s| s.active == 1 && form.ctx.visible.contains(&s.agency_code))
    else {
        return Ok(None);
    };
    let Some(role) = s.role() else {
        return Ok(None);
    };
    let unit = state
        .catalog()
        .agency(&s.agency_code)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    Ok(Some(Assignee {
        id: s.id,
        role,
        name: s.name,
        title: s.title,
        unit,
    }))
}

/// Parses the posted form of `action` into a workflow command. A result file is checked here
/// and returned with its storage key, to be stored only once the decision is taken.
async fn command(
    state: &AppState,
    form: &StaffForm,
    row: &DossierRow,
    p: &Procedure,
    code: &str,
    action: Action,
) -> AppResult<(Command, Option<(String, Bytes)>)> {
    let reason = |message: &str| required(form, "reason", message).map(str::to_string);
    let cmd = match action {
        Action::Receive => Command::Receive,
        Action::RequestSupplement => {
            let reason = reason("Nhập lý do yêu cầu bổ sung, để công dân biết cần làm gì.")?;
            let mut missing: Vec<String> = form
                .all("missing")
                .iter()
                .filter_map(|id| p.documents.iter().find(|d| &d.id == id))
                .map(|d| d.name.clone())
                .collect();
            missing.extend(form.get("other").map(str::to_string));
            Command::RequestSupplement { reason, missing }
        }
        Action::Refuse => Command::Refuse {
            reason: reason("Nhập lý do từ chối tiếp nhận hồ sơ.")?,
        },
        Action::Forward => Command::Forward {
            to: chosen_assignee(state, form, row).await?,
            note: form.get("note").map(str::to_string),
        },
        Action::SubmitForApproval => Command::SubmitForApproval {
            to: chosen_assignee(state, form, row).await?,
            note: form.get("note").map(str::to_string),
        },
        Action::Approve => Command::Approve,
        Action::SendBack => Command::SendBack {
            to: match chosen_assignee(state, form, row).await? {
                Some(a) => Some(a),
                None => submitter(state, form, row).await?,
            },
            reason: reason("Nhập lý do trả lại để chuyên viên biết cần sửa gì.")?,
        },
        Action::ReturnResult => {
            let postal_tracking = form.get("postal_tracking").map(str::to_string);
            let Some((name, bytes)) = &form.file else {
                return Ok((
                    Command::ReturnResult {
                        result: None,
                        signer: None,
                        postal_tracking,
                    },
                    None,
                ));
            };
            // The antivirus scanner first (no verdict: nothing stored, 503), then by content.
            let place = format!("result {code}");
            let who = antivirus::Uploader {
                actor: &form.ctx.staff.email,
                place: &place,
            };
            if let Some(message) = antivirus::check(state, bytes, name, &who).await? {
                return Err(AppError::Unprocessable(message));
            }
            let kind = dvc_domain::upload::inspect(bytes)
                .map_err(|r| AppError::Unprocessable(r.message("Tệp kết quả")))?;
            if kind != FileKind::Pdf {
                return Err(AppError::Unprocessable(
                    "Kết quả điện tử phải là tệp PDF để cơ quan ký số. Xuất (hoặc quét) kết quả ra tệp PDF rồi tải lên lại."
                        .into(),
                ));
            }
            // The agency's digital signature (PAdES B-B) on the result, before it is stored.
            let agency = state
                .catalog()
                .agency(&row.agency_code)
                .map(|a| a.name.clone())
                .unwrap_or_default();
            let signed = state
                .signing
                .sign_result(bytes.clone(), &row.agency_code, &agency, state.clock.now())
                .await
                .map_err(|e| {
                    tracing::warn!(dossier = %code, error = %e, "the result PDF could not be signed");
                    AppError::Unprocessable(
                        "Không ký số được tệp kết quả: tệp PDF không đọc được, bị hỏng hoặc đã đặt mật khẩu. Xuất lại kết quả ra tệp PDF (không đặt mật khẩu) rồi tải lên."
                            .into(),
                    )
                })?;
            let key = crate::files::Files::new_key(state.clock.now());
            let result = ResultFile {
                key: key.clone(),
                name: dvc_domain::form::safe_file_name(name, kind),
            };
            return Ok((
                Command::ReturnResult {
                    result: Some(result),
                    signer: Some(state.signing.subject(&row.agency_code)),
                    postal_tracking,
                },
                Some((key, signed)),
            ));
        }
        Action::ApologiseAndExtend => {
            let reason = reason("Nhập lý do chậm trễ để gửi văn bản xin lỗi.")?;
            let date = required(form, "new_due", "Chọn ngày hẹn trả kết quả mới.")?;
            let date = dvc_domain::form::parse_date(date).ok_or_else(|| {
                AppError::Unprocessable("Ngày hẹn mới không đúng dạng ngày/tháng/năm.".into())
            })?;
            let end = date
                .to_datetime(state.calendar.office_hours().closing())
                .to_zoned_datetime(dvc_domain::calendar::vn_tz())
                .map_err(|_| AppError::Unprocessable("Ngày hẹn mới không hợp lệ.".into()))?;
            Command::ApologiseAndExtend {
                reason,
                new_due_at: end.timestamp().as_millisecond(),
            }
        }
        Action::Stop => Command::Stop {
            reason: reason("Nhập căn cứ pháp lý và lý do dừng giải quyết.")?,
        },
        Action::ExtraTime => {
            let variant = required(
                form,
                "extra",
                "Chọn trường hợp kéo dài thời hạn theo quy định của thủ tục.",
            )?;
            Command::GrantExtraTime {
                variant: extra_variant(variant)?,
                note: form.get("note").map(str::to_string),
            }
        }
        Action::CollectFee => Command::CollectFee {
            receipt_number: form.get("receipt_number").unwrap_or_default().to_string(),
        },
        Action::Supplement | Action::Withdraw | Action::Rate | Action::Pay | Action::Payment => {
            return Err(AppError::not_found());
        }
    };
    Ok((cmd, None))
}

/// The index of a lawful extra time chosen in a form.
fn extra_variant(raw: &str) -> AppResult<usize> {
    raw.parse().map_err(|_| {
        AppError::Unprocessable(
            "Trường hợp kéo dài thời hạn không hợp lệ. Tải lại trang và chọn lại.".into(),
        )
    })
}

/// The e-mail an event sends the applicant, with a fresh private link (its hash to store); none
/// when the applicant gave no e-mail address.
/// `next` is the dossier after the whole decision (a receipt with lawful extra time gives the
/// extended appointment).
pub fn mail_for_event(
    state: &AppState,
    row: &DossierRow,
    p: &Procedure,
    agency_name: &str,
    kind: &EventKind,
    next: &workflow::Dossier,
) -> Option<(NewMail, String)> {
    // A dossier handed in at the desk without an e-mail address: nothing to send.
    if row.applicant_email.trim().is_empty() {
        return None;
    }
    let (mail_kind, due, missing) = match kind {
        EventKind::Receive { due_at, .. } => {
            (Kind::Received, Some(next.due_at.unwrap_or(*due_at)), vec![])
        }
        EventKind::ExtraTime { due_at, .. } => (Kind::ExtraTime, Some(*due_at), vec![]),
        EventKind::RequestSupplement { missing, .. } => (Kind::Supplement, None, missing.clone()),
        EventKind::Refuse { .. } => (Kind::Refused, None, vec![]),
        EventKind::ReturnResult { .. } => (Kind::Result, None, vec![]),
        EventKind::ApologiseAndExtend { new_due_at, .. } => {
            (Kind::Apology, Some(*new_due_at), vec![])
        }
        EventKind::Stop { .. } => (Kind::Stopped, None, vec![]),
        EventKind::Withdraw { .. } => (Kind::Withdrawn, None, vec![]),
        // Paid at filing, the appointment is estimated from the payment.
        EventKind::Pay { expected_at, .. } => (Kind::Paid, *expected_at, vec![]),
        EventKind::Payment { payment }
            if payment.status == dvc_domain::payment::PaymentStatus::Refunded =>
        {
            (Kind::Refunded, None, vec![])
        }
        _ => return None,
    };
    let token = security::random_token(32);
    let mail = notify::mail(
        mail_kind,
        row,
        &notify::Details {
            procedure: &p.name,
            agency: agency_name,
            base_url: &state.config.base_url(),
            token: &token,
            reason: kind.reason(),
            due: due.map(format_vn_datetime),
            missing,
            online_result: matches!(
                kind,
                EventKind::ReturnResult {
                    result: Some(_),
                    ..
                }
            ),
            signed_result: matches!(
                kind,
                EventKind::ReturnResult {
                    result: Some(_),
                    signer: Some(_),
                    ..
                }
            ),
            postal_tracking: match kind {
                EventKind::ReturnResult {
                    postal_tracking, ..
                } => postal_tracking.clone(),
                _ => None,
            },
            payment: match kind {
                EventKind::Pay { payment, .. } | EventKind::Payment { payment } => {
                    Some(notify::PaymentDetails {
                        amount: format_vnd(payment.amount_vnd),
                        provider: workflow::provider_name(&payment.provider).to_string(),
                        txn_ref: payment.txn_ref.clone(),
                    })
                }
                _ => None,
            },
        },
    );
    Some((mail, security::sha256_hex(&token)))
}

pub async fn act(
    State(state): State<AppState>,
    Path((code, slug)): Path<(String, String)>,
    form: StaffForm,
) -> AppResult<Response> {
    let Some(&(_, action)) = ACTIONS.iter().find(|(s, _)| *s == slug) else {
        return Err(AppError::not_found());
    };
    let ctx = &form.ctx;
    let actor = WorkflowActor::Staff {
        id: ctx.staff.id,
        role: ctx.role,
    };
    // Refuse a role's forbidden action before reading anything else of the request.
    if !workflow::may(actor, action) {
        return Err(AppError::Forbidden(format!(
            "Vai trò “{}” không được thực hiện thao tác “{}”.",
            ctx.role.label(),
            action.label()
        )));
    }
    let (old, p) = load(&state, ctx, &code).await?;
    // A form read before someone else's change is stale.
    if let Some(v) = form.get("version")
        && v != old.version.to_string()
    {
        return Err(AppError::Conflict(
            "Hồ sơ vừa được người khác cập nhật, vui lòng xem lại.".into(),
        ));
    }
    let (cmd, file) = command(&state, &form, &old, &p, &old.code, action).await?;
    let dossier = old.to_domain()?;
    let catalog = state.catalog();
    let policy = state.deadline_policy(catalog.agency(&old.agency_code), &p);
    let rules = rules_for(&state, &catalog, &old, &p, &policy);
    let now = state.clock.now_ms();
    let mut events = workflow::decide(&dossier, &cmd, actor, &rules, now).map_err(refusal)?;
    let mut next = events.iter().fold(dossier, |d, e| workflow::evolve(&d, e));
    // Lawful extra time chosen at reception: a second decision on the received dossier, recorded
    // with the receipt.
    if action == Action::Receive
        && let Some(variant) = form.get("extra")
    {
        let extra = Command::GrantExtraTime {
            variant: extra_variant(variant)?,
            note: None,
        };
        let more = workflow::decide(&next, &extra, actor, &rules, now).map_err(refusal)?;
        next = more.iter().fold(next, |d, e| workflow::evolve(&d, e));
        events.extend(more);
    }
    if let Some((key, bytes)) = file {
        state.files.put(&key, bytes).await?;
    }
    record(
        &state,
        ctx,
        form.ip(&state),
        &old,
        &p,
        rules.agency_name,
        &events,
        &next,
    )
    .await?;
    tracing::info!(dossier = %old.code, action = action.as_str(), by = %ctx.staff.email, "dossier action");
    Ok(Redirect::to(&format!("/can-bo/ho-so/{}?da={slug}", old.code)).into_response())
}

/// Records an official's decision on `old` (events decided by the workflow, leading to `next`)
/// through [`dossiers::save`], with the e-mail the first event sends the applicant, if any.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    state: &AppState,
    ctx: &StaffCtx,
    ip: String,
    old: &DossierRow,
    p: &Procedure,
    agency_name: &str,
    events: &[workflow::Event],
    next: &workflow::Dossier,
) -> AppResult<()> {
    let mail = events
        .iter()
        .find_map(|e| mail_for_event(state, old, p, agency_name, &e.kind, next));
    let (mail, access_link) = match mail {
        Some((m, link)) => (Some(m), Some(link)),
        None => (None, None),
    };
    let who = Actor {
        id: ctx.staff.email.clone(),
        name: Some(ctx.staff.name.clone()),
        title: Some(ctx.staff.title.clone()),
        ip,
    };
    // The fee collected at the desk: the dossier's payment state goes with the event.
    let payment = events
        .iter()
        .any(|e| matches!(e.kind, EventKind::CollectFee { .. }))
        .then_some(crate::store::payments::PaymentWrite::Collected);
    let mail_id = dossiers::save(
        &state.db,
        &state.audit_key,
        old,
        &Decision {
            events,
            next,
            actor: &who,
            mail,
            access_link,
            attachments: vec![],
            payment,
        },
    )
    .await?;
    if let Some(id) = mail_id {
        state.mail.queued(id);
    }
    // A paid dossier closed without a result: ask for the refund now (the reconciliation job
    // retries it if the gateway does not confirm).
    if next.status.is_closed()
        && next.result.is_none()
        && old.payment_status.as_deref() == Some("paid")
    {
        crate::payment::flow::refund_soon(state.clone());
    }
    Ok(())
}
