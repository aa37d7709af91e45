//! `/can-bo/ho-so/{code}`: everything about one dossier (answers, attachments, steps, timeline)
//! and the actions as POST buttons: Tiếp nhận, Yêu cầu bổ sung, Từ chối, Chuyển xử lý,
//! Trình phê duyệt, Phê duyệt, Trả lại, Trả kết quả, Xin lỗi và gia hạn, Dừng xử lý.

use super::{StaffCtx, require_staff};
use crate::error::{AppError, AppResult};
use crate::notify::{self, Kind};
use crate::store::dossiers::{self, Actor, Change, DossierRow};
use crate::store::staff as staff_store;
use crate::web::AppState;
use crate::web::extract::{LenientQuery, Peer};
use crate::web::portal::lookup::download;
use crate::web::portal::submit::display_answers;
use crate::web::security::{self, check_origin, no_store};
use crate::web::templates::{render, ser};
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use dvc_domain::catalog::Procedure;
use dvc_domain::dossier::{Action, DossierStatus, transition};
use dvc_domain::form::FileKind;
use dvc_domain::staff::Role;
use minijinja::{Value, context};
use serde::Deserialize;

/// URL slug, action, button label.
pub const ACTIONS: [(&str, Action, &str); 10] = [
    ("tiep-nhan", Action::Receive, "Tiếp nhận"),
    (
        "yeu-cau-bo-sung",
        Action::RequestSupplement,
        "Yêu cầu bổ sung",
    ),
    ("tu-choi", Action::Refuse, "Từ chối"),
    ("chuyen-xu-ly", Action::Forward, "Chuyển xử lý"),
    (
        "trinh-phe-duyet",
        Action::SubmitForApproval,
        "Trình phê duyệt",
    ),
    ("phe-duyet", Action::Approve, "Phê duyệt"),
    ("tra-lai", Action::SendBack, "Trả lại"),
    ("tra-ket-qua", Action::ReturnResult, "Trả kết quả"),
    (
        "xin-loi-gia-han",
        Action::ApologiseAndExtend,
        "Xin lỗi và gia hạn",
    ),
    ("dung-xu-ly", Action::Stop, "Dừng xử lý"),
];

pub fn action_slug(a: Action) -> &'static str {
    ACTIONS
        .iter()
        .find(|(_, x, _)| *x == a)
        .map(|(s, _, _)| *s)
        .unwrap_or("")
}

async fn load(
    state: &AppState,
    ctx: &StaffCtx,
    code: &str,
) -> AppResult<(DossierRow, std::sync::Arc<Procedure>)> {
    let row = dossiers::find_by_code(&state.db, code)
        .await?
        .ok_or_else(|| AppError::NotFound("Không tìm thấy hồ sơ có mã này.".into()))?;
    ctx.check_scope(&row.agency_code)?;
    let p = state
        .catalog()
        .procedure(&row.procedure_code)
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
    let sections = display_answers(&p, &row.answers(), &files);
    let now = crate::now_ms();
    let steps = crate::web::progress::steps(&state, &row, &p, &events, now);
    let status = row.status();
    let actions: Vec<Value> = ACTIONS
        .iter()
        .filter(|(_, a, _)| ctx.role.may(*a) && transition(status, *a).is_ok())
        .map(|(slug, _, label)| context! { slug => *slug, label => *label })
        .collect();
    let colleagues = staff_store::list(&state.db, &ctx.visible).await?;
    let catalog = state.catalog();
    let forward_to: Vec<Value> = colleagues
        .iter()
        .filter(|s| s.active == 1 && matches!(s.role(), Some(Role::Specialist | Role::Leader)))
        .map(|s| context! { id => s.id, name => s.name.clone(), title => s.title.clone(), role => s.role().map(|r| r.label()).unwrap_or_default() })
        .collect();
    let assignee = match row.assignee_id {
        Some(id) => staff_store::find(&state.db, id)
            .await?
            .map(|s| format!("{} ({})", s.name, s.title)),
        None => None,
    };
    let timeline: Vec<Value> = events
        .iter()
        .map(|e| {
            let st = DossierStatus::parse(&e.to_status).unwrap_or(DossierStatus::Submitted);
            let details: serde_json::Value = e.details.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
            context! {
                id => e.id, at => e.at, status_label => st.label(), action => e.action.clone(),
                actor => e.actor_name.clone().unwrap_or_else(|| if e.actor == "citizen" { "Công dân".into() } else { e.actor.clone() }),
                title => e.actor_title.clone(), note => e.public_note.clone(), details => ser(&details),
                document => crate::web::staff::documents::kind_for_action(&e.action),
            }
        })
        .collect();
    let deadline = row.due_at.or(row.expected_at);
    let on_time = dvc_domain::dossier::on_time(
        deadline,
        row.finished_at.unwrap_or(now),
        row.supplement_count,
    );
    let resp = render(
        "staff_dossier.html",
        context! {
            csrf => ctx.csrf.clone(), me => context! { name => ctx.staff.name.clone(), role => ctx.role.label() },
            d => context! {
                code => row.code.clone(), status => status.as_str(), status_label => status.label(), submitted_at => row.submitted_at,
                received_at => row.received_at, due_at => row.due_at, expected_at => row.expected_at, on_time,
                supplement_count => row.supplement_count, unit => row.unit.clone(), assignee,
                agency => catalog.agency(&row.agency_code).map(|a| a.name.clone()).unwrap_or_default(),
                name => row.applicant_name.clone(), email => row.applicant_email.clone(), phone => row.applicant_phone.clone(),
                id_number => row.applicant_id_number.clone(), has_result => row.result_key.is_some(), result_name => row.result_name.clone(),
            },
            p => ser(&p), sections, steps => ser(&steps), timeline, actions, forward_to,
            attachments => attachments.iter().map(|a| context! { id => a.id, name => a.file_name.clone(), size_kb => (a.size_bytes + 1023) / 1024, field => a.field_name.clone() }).collect::<Vec<_>>(),
            documents => p.documents.iter().map(|d| context! { id => d.id.clone(), name => d.name.clone() }).collect::<Vec<_>>(),
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

/// The posted fields of an action, and an uploaded result file if any.
struct ActionForm {
    fields: Vec<(String, String)>,
    file: Option<(String, Bytes)>,
}

impl ActionForm {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

const MAX_RESULT_BYTES: usize = 20 * 1024 * 1024;

async fn read_form(state: &AppState, req: Request) -> AppResult<ActionForm> {
    let bad = || {
        AppError::BadRequest(
            "Dữ liệu gửi lên không đọc được. Hãy tải lại trang hồ sơ và thực hiện lại.".into(),
        )
    };
    let is_multipart = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|_| bad())?;
        return Ok(clean(ActionForm { fields, file: None }));
    }
    let (_admitted, req) = crate::web::admission::admit(state, req).await?;
    let mut mp = Multipart::from_request(req, state)
        .await
        .map_err(|_| bad())?;
    let mut form = ActionForm {
        fields: vec![],
        file: None,
    };
    while let Some(mut field) = mp.next_field().await.map_err(|_| bad())? {
        let name = field.name().unwrap_or("").to_string();
        if name == "result_file" {
            let file_name = field.file_name().unwrap_or("").to_string();
            let mut buf = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|_| bad())? {
                if buf.len() + chunk.len() > MAX_RESULT_BYTES {
                    return Err(AppError::PayloadTooLarge(
                        "Tệp kết quả lớn hơn 20 MB. Hãy nén hoặc quét lại ở độ phân giải thấp hơn."
                            .into(),
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            if !buf.is_empty() {
                form.file = Some((file_name, Bytes::from(buf)));
            }
        } else {
            let text = field.text().await.map_err(|_| bad())?;
            form.fields.push((name, text.chars().take(5000).collect()));
        }
    }
    Ok(clean(form))
}

/// Control characters (NUL above all) never reach the timeline, the audit log or a PDF.
fn clean(mut form: ActionForm) -> ActionForm {
    for (_, v) in &mut form.fields {
        *v = dvc_domain::text::clean_input(v);
    }
    form
}

fn required<'a>(form: &'a ActionForm, name: &str, message: &str) -> AppResult<&'a str> {
    form.get(name)
        .ok_or_else(|| AppError::Unprocessable(message.to_string()))
}

pub async fn act(
    State(state): State<AppState>,
    Path((code, slug)): Path<(String, String)>,
    Peer(peer): Peer,
    req: Request,
) -> AppResult<Response> {
    let headers = req.headers().clone();
    check_origin(&state, &headers)?;
    let ctx = require_staff(&state, &headers).await?;
    let Some(&(_, action, label)) = ACTIONS.iter().find(|(s, _, _)| *s == slug) else {
        return Err(AppError::not_found());
    };
    let form = read_form(&state, req).await?;
    let token = form.get("csrf").unwrap_or("");
    if token.is_empty() || !crate::web::security::ct_eq(token, &ctx.csrf) {
        return Err(AppError::Forbidden(
            "Phiên làm việc đã hết hạn. Hãy tải lại trang hồ sơ rồi thực hiện lại.".into(),
        ));
    }
    if !ctx.role.may(action) {
        return Err(AppError::Forbidden(format!(
            "Vai trò “{}” không được thực hiện thao tác “{label}”.",
            ctx.role.label()
        )));
    }
    let (old, p) = load(&state, &ctx, &code).await?;
    let from = old.status();
    let to = transition(from, action).map_err(|e| AppError::Conflict(e.to_string()))?;
    let now = crate::now_ms();
    let catalog = state.catalog();
    let agency = catalog.agency(&old.agency_code).cloned();
    let agency_name = agency.as_ref().map(|a| a.name.clone()).unwrap_or_default();
    let week = crate::web::progress::week_of(&state, &old.agency_code);
    let steps = p.effective_workflow().len();
    let mut new = old.clone();
    new.status = to.as_str().to_string();
    let new_step = dvc_domain::dossier::step_of(to, steps) as i64;
    if new_step != old.step {
        new.step = new_step;
        new.step_started_at = Some(now);
    }
    let mut reason: Option<String> = None;
    let note: Option<String>;
    let mut details = serde_json::json!({});
    let mut mail_kind: Option<Kind> = None;
    let mut due_text: Option<String> = None;
    let mut missing: Vec<String> = vec![];

    match action {
        Action::Receive => {
            let due = state.calendar.due(
                crate::ts(now),
                &crate::web::portal::deadline_rule(&p),
                &week,
            );
            new.received_at = Some(now);
            new.due_at = Some(due.timestamp().as_millisecond());
            new.unit = Some(agency_name.clone());
            due_text = Some(crate::web::templates::format_datetime(
                due.timestamp().as_millisecond(),
            ));
            note = Some(format!(
                "Hồ sơ được tiếp nhận; hẹn trả kết quả {}.",
                due_text.clone().unwrap_or_default()
            ));
            mail_kind = Some(Kind::Received);
        }
        Action::RequestSupplement => {
            let r = required(
                &form,
                "reason",
                "Nhập lý do yêu cầu bổ sung, để công dân biết cần làm gì.",
            )?;
            let mut docs: Vec<String> = form
                .all("missing")
                .iter()
                .filter_map(|id| {
                    p.documents
                        .iter()
                        .find(|d| &d.id == id)
                        .map(|d| d.name.clone())
                })
                .collect();
            if let Some(other) = form.get("other") {
                docs.push(other.to_string());
            }
            if docs.is_empty() {
                return Err(AppError::Unprocessable(
                    "Chọn hoặc ghi rõ ít nhất một giấy tờ cần bổ sung.".into(),
                ));
            }
            reason = Some(r.to_string());
            missing = docs.clone();
            new.supplement_count += 1;
            new.resume_status = Some(old.status.clone());
            if from != DossierStatus::Submitted {
                new.paused_at = Some(now);
            }
            new.step = old.step;
            new.step_started_at = old.step_started_at;
            details = serde_json::json!({ "reason": r, "missing": docs });
            note = Some(format!(
                "Yêu cầu công dân bổ sung: {}. Lý do: {r}",
                missing.join("; ")
            ));
            mail_kind = Some(Kind::Supplement);
        }
        Action::Refuse => {
            let r = required(&form, "reason", "Nhập lý do từ chối tiếp nhận hồ sơ.")?;
            reason = Some(r.to_string());
            new.finished_at = Some(now);
            details = serde_json::json!({ "reason": r });
            note = Some(format!("Từ chối tiếp nhận. Lý do: {r}"));
            mail_kind = Some(Kind::Refused);
        }
        Action::Forward | Action::SubmitForApproval | Action::SendBack => {
            let chosen = form.get("assignee_id").and_then(|v| v.parse::<i64>().ok());
            let assignee = match chosen {
                Some(id) => {
                    let s = staff_store::find(&state.db, id)
                        .await?
                        .filter(|s| s.active == 1 && ctx.visible.contains(&s.agency_code));
                    let s = s.ok_or_else(|| AppError::Unprocessable("Người nhận không thuộc đơn vị của bạn hoặc đã ngừng hoạt động. Chọn lại.".into()))?;
                    Some(s)
                }
                None if action == Action::Forward => {
                    return Err(AppError::Unprocessable(
                        "Chọn người nhận hồ sơ để chuyển xử lý.".into(),
                    ));
                }
                None => None,
            };
            if action == Action::SendBack {
                let r = required(
                    &form,
                    "reason",
                    "Nhập lý do trả lại để chuyên viên biết cần sửa gì.",
                )?;
                reason = Some(r.to_string());
            }
            new.assignee_id =
                assignee
                    .as_ref()
                    .map(|s| s.id)
                    .or(if action == Action::SubmitForApproval {
                        None
                    } else {
                        old.assignee_id
                    });
            if let Some(s) = &assignee {
                new.unit = catalog
                    .agency(&s.agency_code)
                    .map(|a| a.name.clone())
                    .or(new.unit.clone());
            }
            let who = assignee
                .as_ref()
                .map(|s| format!("{} ({})", s.name, s.title))
                .unwrap_or_else(|| "lãnh đạo".into());
            note = Some(match action {
                Action::Forward => format!("Chuyển xử lý cho {who}."),
                Action::SubmitForApproval => format!("Trình {who} phê duyệt."),
                _ => format!(
                    "Lãnh đạo trả lại để xử lý tiếp. Lý do: {}",
                    reason.clone().unwrap_or_default()
                ),
            });
            if let Some(extra) = form.get("note") {
                details = serde_json::json!({ "note": extra });
            }
        }
        Action::Approve => {
            new.assignee_id = None;
            note = Some("Lãnh đạo phê duyệt kết quả.".into());
        }
        Action::ReturnResult => {
            if let Some((name, bytes)) = &form.file {
                let kind = dvc_domain::upload::inspect(bytes)
                    .map_err(|r| AppError::Unprocessable(r.message("Tệp kết quả")))?;
                let key = crate::files::Files::new_key(jiff::Timestamp::now());
                state.files.put(&key, bytes.clone()).await?;
                new.result_key = Some(key);
                new.result_name = Some(dvc_domain::form::safe_file_name(name, kind));
            } else if p.online_class == dvc_domain::catalog::OnlineClass::ToanTrinh {
                return Err(AppError::Unprocessable("Dịch vụ toàn trình: tải lên bản điện tử của kết quả (PDF) trước khi trả kết quả.".into()));
            }
            new.finished_at = Some(now);
            new.assignee_id = None;
            note = Some(if new.result_key.is_some() {
                "Trả kết quả điện tử.".into()
            } else {
                "Trả kết quả tại Bộ phận Một cửa.".into()
            });
            mail_kind = Some(Kind::Result);
        }
        Action::ApologiseAndExtend => {
            let r = required(
                &form,
                "reason",
                "Nhập lý do chậm trễ để gửi văn bản xin lỗi.",
            )?;
            let date = required(&form, "new_due", "Chọn ngày hẹn trả kết quả mới.")?;
            let date = dvc_domain::form::parse_date(date).ok_or_else(|| {
                AppError::Unprocessable("Ngày hẹn mới không đúng dạng ngày/tháng/năm.".into())
            })?;
            let end = date
                .to_datetime(state.calendar.office_hours().closing())
                .to_zoned_datetime(dvc_domain::calendar::vn_tz())
                .map_err(|_| AppError::Unprocessable("Ngày hẹn mới không hợp lệ.".into()))?;
            let new_due = end.timestamp().as_millisecond();
            if new_due <= now {
                return Err(AppError::Unprocessable(
                    "Ngày hẹn mới phải sau thời điểm hiện tại.".into(),
                ));
            }
            reason = Some(r.to_string());
            let old_due = old
                .due_at
                .map(crate::web::templates::format_datetime)
                .unwrap_or_default();
            new.due_at = Some(new_due);
            due_text = Some(crate::web::templates::format_datetime(new_due));
            details = serde_json::json!({ "reason": r, "old_due": old_due, "new_due": due_text });
            note = Some(format!(
                "Xin lỗi công dân và gia hạn đến {}. Lý do: {r}",
                due_text.clone().unwrap_or_default()
            ));
            mail_kind = Some(Kind::Apology);
        }
        Action::Stop => {
            let r = required(
                &form,
                "reason",
                "Nhập căn cứ pháp lý và lý do dừng giải quyết.",
            )?;
            reason = Some(r.to_string());
            new.finished_at = Some(now);
            new.paused_at = None;
            details = serde_json::json!({ "reason": r });
            note = Some(format!("Dừng giải quyết. Căn cứ, lý do: {r}"));
            mail_kind = Some(Kind::Stopped);
        }
        Action::Supplement | Action::Withdraw => return Err(AppError::not_found()),
    }

    let mail = match mail_kind {
        Some(kind) => {
            let token = security::random_token(32);
            dossiers::add_access_link(&state.db, old.id, &security::sha256_hex(&token), now)
                .await?;
            Some(notify::mail(
                kind,
                &old,
                &notify::Details {
                    procedure: &p.name,
                    agency: &agency_name,
                    base_url: &state.config.base_url(),
                    token: &token,
                    reason: reason.as_deref(),
                    due: due_text,
                    missing,
                    online_result: new.result_key.is_some(),
                },
            ))
        }
        None => None,
    };
    let ip = security::client_ip(&state, &headers, peer).to_string();
    let change = Change {
        action: action_slug(action),
        actor: Actor {
            id: ctx.staff.email.clone(),
            name: Some(ctx.staff.name.clone()),
            title: Some(ctx.staff.title.clone()),
            ip,
        },
        at: now,
        public_note: note,
        reason,
        details: Some(details),
        mail: mail.clone(),
    };
    dossiers::apply(&state.db, &old, &new, &change).await?;
    if mail.is_some() {
        state.mail.wake();
    }
    tracing::info!(dossier = %old.code, action = action_slug(action), by = %ctx.staff.email, "dossier action");
    Ok(Redirect::to(&format!(
        "/can-bo/ho-so/{}?da={}",
        old.code,
        action_slug(action)
    ))
    .into_response())
}
