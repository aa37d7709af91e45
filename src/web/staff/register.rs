//! `/can-bo/so-theo-doi?tu=YYYY-MM-DD&den=YYYY-MM-DD[&dinh-dang=pdf]`: the Sổ theo dõi hồ sơ
//! (Mẫu số 07, TT 03/2025/TT-VPCP) of the official's agency: the dossiers received in the period,
//! as CSV (UTF-8 with a byte-order mark, so that spreadsheet programs read the diacritics) or
//! as PDF.

use super::require_staff;
use crate::error::{AppError, AppResult};
use crate::store::dossiers::{self, DossierRow};
use crate::web::AppState;
use crate::web::extract::LenientQuery;
use crate::web::portal::lookup::download;
use crate::web::templates::format_datetime;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use dvc_domain::dossier::Action;
use dvc_domain::workflow::Progress;
use dvc_pdf::{Document, Header, RegisterRow};
use jiff::civil::Date;
use serde::Deserialize;

/// Longest period of one export, in days.
const MAX_DAYS: i32 = 366;

#[derive(Debug, Deserialize, Default)]
pub struct Params {
    tu: Option<String>,
    den: Option<String>,
    #[serde(rename = "dinh-dang")]
    dinh_dang: Option<String>,
}

fn parse_day(raw: Option<&str>, which: &str) -> AppResult<Date> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
        AppError::Unprocessable(format!(
            "Chọn {which} của kỳ cần xem, dạng năm-tháng-ngày, ví dụ ?tu=2026-12-01&den=2026-12-31."
        ))
    })?;
    raw.parse::<Date>().map_err(|_| {
        AppError::Unprocessable(format!(
            "{which} “{}” không đúng dạng năm-tháng-ngày (ví dụ 2026-12-01). Sửa lại rồi thử lại.",
            raw.chars().take(20).collect::<String>()
        ))
    })
}

/// The start of `day` in Vietnam, as UTC milliseconds.
fn start_of(day: Date) -> AppResult<i64> {
    day.to_datetime(jiff::civil::Time::midnight())
        .to_zoned_datetime(dvc_domain::calendar::vn_tz())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| AppError::Unprocessable("Ngày đã chọn không hợp lệ.".into()))
}

fn day_text(day: Date) -> String {
    format!("{:02}/{:02}/{}", day.day(), day.month(), day.year())
}

/// One row of the register, from the dossier and its timeline.
async fn row_of(state: &AppState, d: &DossierRow, now: i64) -> AppResult<RegisterRow> {
    let events = dossiers::events(&state.db, d.id).await?;
    let first = |a: Action| {
        events
            .iter()
            .find(|e| e.action == a.as_str())
            .map(|e| format_datetime(e.at))
            .unwrap_or_default()
    };
    let catalog = state.catalog();
    let status = d.status()?;
    let note = if status.is_closed() {
        status.label().to_string()
    } else {
        match d.progress(now)? {
            Progress::OnTime => status.label().to_string(),
            p => format!("{}; {}", status.label(), p.label()),
        }
    };
    Ok(RegisterRow {
        code: d.code.clone(),
        procedure_name: catalog
            .procedure(&d.procedure_code)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| d.procedure_code.clone()),
        sets: catalog
            .procedure(&d.procedure_code)
            .map(|p| p.dossier_sets)
            .unwrap_or(1),
        applicant: d.applicant_name.clone(),
        address_phone: [
            d.answers()
                .get(dvc_domain::form::applicant::ADDRESS)
                .and_then(|v| v.first())
                .cloned()
                .unwrap_or_default(),
            d.applicant_phone.clone(),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", "),
        agency: catalog
            .agency(&d.agency_code)
            .map(|a| a.name.replace(" (mẫu)", ""))
            .unwrap_or_else(|| d.agency_code.clone()),
        received_at: d.received_at.map(format_datetime).unwrap_or_default(),
        due_at: d.due_at.map(format_datetime).unwrap_or_default(),
        forwarded_at: first(Action::Forward),
        result_at: first(Action::Approve),
        returned_at: first(Action::ReturnResult),
        note,
    })
}

/// A CSV field: quoted when needed, and a leading `=`, `+`, `-`, `@` neutralised so that a
/// spreadsheet does not run it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv(rows: &[RegisterRow]) -> String {
    let mut out = String::from("\u{FEFF}");
    let head = [
        "STT",
        "Mã hồ sơ",
        "Tên thủ tục hành chính",
        "Số lượng hồ sơ (bộ)",
        "Tên cá nhân, tổ chức",
        "Địa chỉ, số điện thoại",
        "Cơ quan chủ trì giải quyết",
        "Ngày tiếp nhận",
        "Ngày hẹn trả kết quả",
        "Chuyển hồ sơ đến cơ quan giải quyết",
        "Nhận kết quả từ cơ quan giải quyết",
        "Trả kết quả cho tổ chức, cá nhân",
        "Ghi chú",
    ];
    out.push_str(&head.join(","));
    out.push_str("\r\n");
    for (i, r) in rows.iter().enumerate() {
        let cells = [
            (i + 1).to_string(),
            r.code.clone(),
            r.procedure_name.clone(),
            r.sets.to_string(),
            r.applicant.clone(),
            r.address_phone.clone(),
            r.agency.clone(),
            r.received_at.clone(),
            r.due_at.clone(),
            r.forwarded_at.clone(),
            r.result_at.clone(),
            r.returned_at.clone(),
            r.note.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<Params>,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    ctx.check_opens_dossiers()?;
    let from = parse_day(params.tu.as_deref(), "ngày bắt đầu (tu)")?;
    let to = parse_day(params.den.as_deref(), "ngày kết thúc (den)")?;
    if to < from {
        return Err(AppError::Unprocessable(
            "Ngày kết thúc (den) phải bằng hoặc sau ngày bắt đầu (tu). Sửa lại khoảng ngày.".into(),
        ));
    }
    let days = from.until(to).map(|s| s.get_days()).unwrap_or(i32::MAX);
    if days >= MAX_DAYS {
        return Err(AppError::Unprocessable(format!(
            "Mỗi lần xem tối đa {MAX_DAYS} ngày. Chọn khoảng ngày ngắn hơn."
        )));
    }
    let end = to
        .tomorrow()
        .map_err(|_| AppError::Unprocessable("Ngày kết thúc không hợp lệ.".into()))?;
    let agency = ctx.staff.agency_code.clone();
    // The official's agency and, for a leader, its sub-units (the dossiers they may open).
    let found =
        dossiers::received_between(&state.db, &ctx.visible, start_of(from)?, start_of(end)?)
            .await?;
    let now = state.clock.now_ms();
    let mut rows = Vec::with_capacity(found.len());
    for d in &found {
        rows.push(row_of(&state, d, now).await?);
    }
    tracing::info!(by = %ctx.staff.email, agency = %agency, rows = rows.len(), "register exported");
    let name = format!("so-theo-doi-ho-so-{agency}-{from}-{to}");
    if params.dinh_dang.as_deref() == Some("pdf") {
        let catalog = state.catalog();
        let a = catalog.agency(&agency);
        let parent = a
            .and_then(|a| a.parent.as_ref())
            .and_then(|c| catalog.agency(c.as_str()));
        let header = Header {
            agency_parent: parent
                .map(|a| a.name.replace(" (mẫu)", ""))
                .unwrap_or_default(),
            agency: a.map(|a| a.name.replace(" (mẫu)", "")).unwrap_or_default(),
            number: String::new(),
            place_date: String::new(),
        };
        let doc = Document::Register {
            header,
            period: format!("Từ ngày {} đến ngày {}", day_text(from), day_text(to)),
            rows,
        };
        let bytes = dvc_pdf::render(&doc)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("register PDF: {e}")))?;
        return Ok(download(
            bytes.into(),
            "application/pdf",
            &format!("{name}.pdf"),
        ));
    }
    Ok(download(
        csv(&rows).into_bytes().into(),
        "text/csv; charset=utf-8",
        &format!("{name}.csv"),
    ))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("Nguyễn Văn A"), "Nguyễn Văn A");
        assert_eq!(csv_field("A, B"), "\"A, B\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1, x"), "\"'-1, x\"");
    }
}
