//! `/can-bo/thong-ke`: the leader's dashboard. The same figures and indicators as the public
//! page, for the units the official sees (a leader: the agency and its sub-units), with what makes
//! an indicator fall: the late dossiers, and the figures per procedure and per official.

use super::require_staff;
use crate::error::{AppError, AppResult};
use crate::web::AppState;
use crate::web::extract::LenientQuery;
use crate::web::statistics::{Params, form_context, period_of, report, report_context, scope};
use crate::web::templates::{format_datetime, render_status};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dvc_domain::statistics::{Metric, indicators};
use minijinja::context;

/// Late dossiers listed at most.
const LATE_LIMIT: i64 = 200;

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    LenientQuery(p): LenientQuery<Params>,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    ctx.check_opens_dossiers()?;
    let catalog = state.catalog();
    let today = state.clock.today_vn();
    let form = form_context(&catalog.agencies, Some(&ctx.visible), &p, today);
    let me = context! { name => ctx.staff.name.clone(), role => ctx.role.label() };
    let resolved = period_of(&p, today).and_then(|period| {
        Ok((
            scope(&catalog.agencies, p.co_quan.as_deref(), Some(&ctx.visible))?,
            period,
        ))
    });
    let (scope, period) = match resolved {
        Ok(x) => x,
        Err(message) => {
            return render_status(
                StatusCode::BAD_REQUEST,
                "staff_statistics.html",
                context! { me, csrf => ctx.csrf.clone(), form, action => "/can-bo/thong-ke", error => message },
            );
        }
    };
    let members: Vec<String> = scope
        .agencies
        .clone()
        .unwrap_or_else(|| ctx.visible.clone());
    let r = report(&state, scope, period).await?;
    let at = state.clock.now_ms().min(period.end_ms() - 1);
    let late =
        crate::store::statistics::late_dossiers(&state.db, &members, &period, at, LATE_LIMIT)
            .await?;
    let name_of = |code: &str| {
        catalog
            .procedure(code)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| code.to_string())
    };
    let late: Vec<minijinja::Value> = late
        .iter()
        .map(|d| {
            context! {
                code => d.code.clone(),
                procedure => name_of(&d.procedure_code),
                submitted => format_datetime(d.submitted_at),
                due => d.original_due_at.or(d.due_at).map(format_datetime).unwrap_or_default(),
                finished => d.finished_at.map(format_datetime).unwrap_or_else(|| "Đang xử lý".into()),
                reason => if d.supplement_count > 1 { "Yêu cầu bổ sung từ hai lần" } else if d.finished_at.is_some() { "Trả kết quả, kết thúc sau ngày hẹn" } else { "Quá ngày hẹn, chưa trả kết quả" },
                extended => d.extension_count > 0,
                handler => d.handler.clone().unwrap_or_default(),
            }
        })
        .collect();
    let procedures: Vec<minijinja::Value> =
        crate::store::statistics::by_procedure(&state.db, &members, &period)
            .await?
            .into_iter()
            .map(|(code, counts)| {
                let f = dvc_domain::statistics::Figures {
                    counts,
                    in_progress_late: 0,
                    awaiting_late: 0,
                };
                let rate = indicators(&f)
                    .into_iter()
                    .find(|i| i.code == "2.1")
                    .and_then(|i| match i.value {
                        dvc_domain::statistics::Value::Rate { percent, .. } => {
                            Some(format!("{percent}%"))
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| "—".into());
                context! {
                    name => name_of(&code), code,
                    received => counts.received(),
                    done => counts.get(Metric::DoneEarly) + counts.get(Metric::DoneOnTime) + counts.get(Metric::DoneLate),
                    finished_late => counts.get(Metric::FinishedLate),
                    open => counts.get(Metric::InProgress) + counts.get(Metric::Awaiting),
                    rate,
                }
            })
            .collect();
    let officials: Vec<minijinja::Value> =
        crate::store::statistics::by_official(&state.db, &members, &period, at)
            .await?
            .into_iter()
            .map(|o| context! { name => o.name, title => o.title, actions => o.actions, returned => o.returned, held_late => o.held_late })
            .collect();
    let exports = format!(
        "agency={}&from={}&to={}",
        r.scope.code, r.period.from, r.period.to
    );
    if ctx.visible.is_empty() {
        return Err(AppError::Forbidden(
            "Tài khoản của bạn chưa gắn với cơ quan nào, nên không có số liệu để xem.".into(),
        ));
    }
    render_status(
        StatusCode::OK,
        "staff_statistics.html",
        context! {
            me, csrf => ctx.csrf.clone(), form, action => "/can-bo/thong-ke",
            report => report_context(&r), defs_base => "/thong-ke", exports, late, late_limit => LATE_LIMIT, procedures, officials,
        },
    )
}
