//! `/can-bo`: the queues — chờ tiếp nhận, của tôi, sắp đến hạn, quá hạn, chờ bổ sung — sorted by
//! due date and searchable by code, name or ID number.

use super::require_staff;
use crate::error::AppResult;
use crate::store::dossiers::{self, Queue};
use crate::web::AppState;
use crate::web::extract::LenientQuery;
use crate::web::security::no_store;
use crate::web::templates::render;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use dvc_domain::dossier::DossierStatus;
use minijinja::{Value, context};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(rename = "hang-doi")]
    hang_doi: Option<String>,
    q: Option<String>,
}

pub const QUEUES: [(&str, &str); 6] = [
    ("cho-tiep-nhan", "Chờ tiếp nhận"),
    ("cua-toi", "Của tôi"),
    ("sap-den-han", "Sắp đến hạn"),
    ("qua-han", "Quá hạn"),
    ("cho-bo-sung", "Chờ bổ sung"),
    ("tat-ca", "Tất cả hồ sơ đang xử lý"),
];

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    LenientQuery(params): LenientQuery<Params>,
) -> AppResult<Response> {
    let ctx = require_staff(&state, &headers).await?;
    let slug = params
        .hang_doi
        .as_deref()
        .filter(|s| QUEUES.iter().any(|(q, _)| q == s))
        .unwrap_or(match ctx.role {
            dvc_domain::staff::Role::Reception => "cho-tiep-nhan",
            _ => "cua-toi",
        });
    let queue = match slug {
        "cho-tiep-nhan" => Queue::ToReceive,
        "cua-toi" => Queue::Mine(ctx.staff.id),
        "sap-den-han" => Queue::DueSoon,
        "qua-han" => Queue::Late,
        "cho-bo-sung" => Queue::AwaitingSupplement,
        _ => Queue::AllOpen,
    };
    let now = state.clock.now_ms();
    let q = params
        .q
        .as_deref()
        .map(|s| s.trim().chars().take(100).collect::<String>())
        .filter(|s| !s.is_empty());
    let rows = dossiers::queue(&state.db, &ctx.visible, queue, q.as_deref(), now, 200).await?;
    let catalog = state.catalog();
    let items = rows
        .iter()
        .map(|r| {
            let status = r.status()?;
            let deadline = r.due_at.or(r.expected_at);
            Ok(context! {
                code => r.code.clone(), name => r.applicant_name.clone(),
                procedure => catalog.procedure(&r.procedure_code).map(|p| p.name.clone()).unwrap_or_default(),
                status_label => status.label(), status => status.as_str(),
                due => deadline, late => !status.is_closed() && status != DossierStatus::AwaitingSupplement && deadline.is_some_and(|d| d < now),
                paused => status == DossierStatus::AwaitingSupplement,
                submitted_at => r.submitted_at,
            })
        })
        .collect::<Result<Vec<Value>, crate::store::StoreError>>()?;
    let tabs: Vec<Value> = QUEUES
        .iter()
        .map(|(s, l)| context! { slug => *s, label => *l, current => *s == slug })
        .collect();
    let resp = render(
        "staff_queues.html",
        context! {
            me => context! { name => ctx.staff.name.clone(), role => ctx.role.label(), is_admin => ctx.role == dvc_domain::staff::Role::Admin,
                is_reception => ctx.role == dvc_domain::staff::Role::Reception,
                agency => catalog.agency(&ctx.staff.agency_code).map(|a| a.name.clone()).unwrap_or_default() },
            csrf => ctx.csrf.clone(), tabs, items, count => rows.len(), q, slug,
        },
    )?;
    Ok(no_store(resp.into_response()))
}
