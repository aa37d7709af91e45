//! Official documents (TT 03/2025/TT-VPCP Mẫu 01–06) rendered as PDF from the dossier and its
//! timeline: the receipt, supplement request, refusal, apology and extension, stop notice and
//! the control slip. Rendered on request from the recorded events, so they always agree with
//! the audit trail.

use super::require_staff;
use crate::error::{AppError, AppResult};
use crate::store::dossiers::{self, DossierRow, EventRow};
use crate::web::AppState;
use crate::web::extract::LenientQuery;
use crate::web::templates::format_datetime;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use dvc_domain::catalog::Procedure;
use dvc_domain::dossier::Channel;
use dvc_domain::workflow::EventKind;
use dvc_pdf::{Document, DocumentRow, DossierInfo, Handover, Header};
use serde::Deserialize;

/// The document issued with an action (by its name in the event log), if any.
pub fn kind_for_action(action: &str) -> Option<&'static str> {
    match action {
        "receive" => Some("mau-01"),
        "request_supplement" => Some("mau-02"),
        "refuse" => Some("mau-03"),
        "apologise_and_extend" => Some("mau-04"),
        "stop" => Some("mau-05"),
        _ => None,
    }
}

fn action_for_kind(kind: &str) -> Option<&'static str> {
    match kind {
        "mau-01" => Some("receive"),
        "mau-02" => Some("request_supplement"),
        "mau-03" => Some("refuse"),
        "mau-04" => Some("apologise_and_extend"),
        "mau-05" => Some("stop"),
        _ => None,
    }
}

fn vn_date_line(place: &str, ms: i64) -> String {
    let z = crate::ts(ms).to_zoned_datetime(dvc_domain::calendar::vn_tz());
    format!(
        "{place}, ngày {:02} tháng {:02} năm {}",
        z.day(),
        z.month(),
        z.year()
    )
}

/// Builds the document `kind` ("mau-01" … "mau-06") for a dossier.
pub fn build(
    state: &AppState,
    row: &DossierRow,
    p: &Procedure,
    events: &[EventRow],
    kind: &str,
    event_id: Option<i64>,
) -> AppResult<Document> {
    let catalog = state.catalog();
    let agency = catalog.agency(&row.agency_code);
    let parent = agency
        .and_then(|a| a.parent.as_ref())
        .and_then(|c| catalog.agency(c.as_str()));
    let place = parent
        .map(|a| {
            a.name
                .replace("Ủy ban nhân dân thành phố ", "")
                .replace("Ủy ban nhân dân tỉnh ", "")
                .replace(" (mẫu)", "")
        })
        .unwrap_or_default();
    let answers = row.answers();
    let get = |k: &str| {
        answers
            .get(k)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    let dossier = DossierInfo {
        code: row.code.clone(),
        procedure_name: p.name.clone(),
        applicant_name: row.applicant_name.clone(),
        applicant_id_number: row.applicant_id_number.clone(),
        applicant_address: get(dvc_domain::form::applicant::ADDRESS),
        applicant_phone: row.applicant_phone.clone(),
        applicant_email: row.applicant_email.clone(),
    };
    let event = if kind == "mau-06" {
        None
    } else {
        let action = action_for_kind(kind).ok_or_else(AppError::not_found)?;
        let e = events
            .iter()
            .rev()
            .find(|e| e.action == action && event_id.is_none_or(|id| e.id == id));
        Some(e.ok_or_else(|| AppError::NotFound("Hồ sơ chưa có văn bản này.".into()))?)
    };
    let at = event.map(|e| e.at).unwrap_or_else(crate::now_ms);
    let header = Header {
        agency_parent: parent
            .map(|a| a.name.replace(" (mẫu)", ""))
            .unwrap_or_default(),
        agency: agency
            .map(|a| a.name.replace(" (mẫu)", ""))
            .unwrap_or_default(),
        number: format!(
            "{}/{}",
            row.code.rsplit('-').next().unwrap_or(""),
            kind.to_uppercase()
        ),
        place_date: vn_date_line(&place, at),
    };
    let officer = event.and_then(|e| e.actor_name.clone()).unwrap_or_default();
    let docs: Vec<DocumentRow> = p
        .documents
        .iter()
        .map(|d| DocumentRow {
            name: d.name.clone(),
            originals: d.originals,
            copies: d.copies,
        })
        .collect();
    let lookup_url = format!("{}/tra-cuu?ma={}", state.config.base_url(), row.code);
    Ok(match (kind, event) {
        ("mau-01", Some(_)) => Document::Receipt {
            header,
            dossier,
            documents: docs,
            sets: p.dossier_sets,
            legal_time: p.processing_time.text.clone(),
            received_at: format_datetime(row.received_at.unwrap_or(at)),
            due_at: row.due_at.map(format_datetime).unwrap_or_default(),
            result_at_place: agency.map(|a| a.name.clone()).unwrap_or_default(),
            lookup_url,
            receiver_name: officer,
        },
        ("mau-02", Some(e)) => {
            let EventKind::RequestSupplement {
                reason, missing, ..
            } = e.kind()?
            else {
                return Err(AppError::not_found());
            };
            let missing: Vec<DocumentRow> = missing
                .iter()
                .map(|name| {
                    let known = p.documents.iter().find(|d| &d.name == name);
                    DocumentRow {
                        name: name.clone(),
                        originals: known.map(|d| d.originals).unwrap_or(1),
                        copies: known.map(|d| d.copies).unwrap_or(0),
                    }
                })
                .collect();
            Document::SupplementRequest {
                header,
                dossier,
                missing,
                reason,
                guide_contact: agency
                    .and_then(|a| a.phone.clone())
                    .map(|ph| format!("{officer}, điện thoại {ph}"))
                    .unwrap_or(officer.clone()),
                officer_name: officer,
                upload_url: lookup_url,
            }
        }
        ("mau-03", Some(e)) => Document::Refusal {
            header,
            dossier,
            reason: e.kind()?.reason().unwrap_or_default().to_string(),
            officer_name: officer,
        },
        ("mau-04", Some(e)) => {
            let EventKind::ApologiseAndExtend {
                reason,
                previous_due_at,
                new_due_at,
            } = e.kind()?
            else {
                return Err(AppError::not_found());
            };
            Document::ApologyExtension {
                header,
                dossier,
                reason,
                old_due: previous_due_at.map(format_datetime).unwrap_or_default(),
                new_due: format_datetime(new_due_at),
                signer: officer,
            }
        }
        ("mau-05", Some(e)) => Document::StopNotice {
            header,
            dossier,
            legal_reason: e.kind()?.reason().unwrap_or_default().to_string(),
            signer: officer,
        },
        ("mau-06", _) => {
            let mut handovers = Vec::new();
            let ratings = crate::web::progress::handover_ratings(state, row, p, events)?;
            for (i, e) in events.iter().enumerate().skip(1) {
                let prev = &events[i - 1];
                let result = ratings
                    .get(i - 1)
                    .copied()
                    .flatten()
                    .map(|t| t.label())
                    .unwrap_or_default();
                handovers.push(Handover {
                    from_unit: prev.unit.clone().unwrap_or_else(|| {
                        match row.channel() {
                            Channel::Online => "Công dân (nộp trực tuyến)",
                            Channel::Desk => "Công dân (nộp trực tiếp)",
                            Channel::Post => "Công dân (gửi qua bưu chính công ích)",
                        }
                        .into()
                    }),
                    to_unit: e.unit.clone().unwrap_or_default(),
                    at: format_datetime(e.at),
                    giver: prev.actor_name.clone().unwrap_or_else(|| {
                        if prev.actor == "citizen" {
                            "Công dân".into()
                        } else {
                            prev.actor.clone()
                        }
                    }),
                    receiver: e.actor_name.clone().unwrap_or_default(),
                    result: result.into(),
                    note: e.to_status()?.label().to_string(),
                });
            }
            Document::ControlSlip {
                header,
                dossier,
                received_at: row.received_at.map(format_datetime).unwrap_or_default(),
                due_at: row.due_at.map(format_datetime).unwrap_or_default(),
                handovers,
            }
        }
        _ => return Err(AppError::not_found()),
    })
}

pub async fn render_pdf(
    state: &AppState,
    row: &DossierRow,
    kind: &str,
    event_id: Option<i64>,
) -> AppResult<Response> {
    let p = crate::web::portal::as_filed(state, &row.procedure_code, row.form_version)
        .await?
        .ok_or_else(AppError::not_found)?;
    let events = dossiers::events(&state.db, row.id).await?;
    let doc = build(state, row, &p, &events, kind, event_id)?;
    let bytes = tokio::task::spawn_blocking(move || dvc_pdf::render(&doc))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(|e| AppError::Internal(anyhow::anyhow!("pdf: {e}")))?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{}-{kind}.pdf\"", row.code)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[derive(Deserialize, Default)]
pub struct DocParams {
    su_kien: Option<i64>,
}

pub async fn staff_document(
    State(state): State<AppState>,
    Path((code, kind)): Path<(String, String)>,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<DocParams>,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    ctx.check_opens_dossiers()?;
    let row = dossiers::find_by_code(&state.db, &code)
        .await?
        .ok_or_else(AppError::not_found)?;
    ctx.check_scope(&row.agency_code)?;
    let kind = kind.trim_end_matches(".pdf");
    render_pdf(&state, &row, kind, params.su_kien).await
}
