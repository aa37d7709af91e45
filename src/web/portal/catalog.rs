//! `/thu-tuc`: the catalogue, searchable with or without diacritics, filterable by agency,
//! field and level.

use crate::catalog::Query;
use crate::error::AppResult;
use crate::web::AppState;
use crate::web::extract::LenientQuery;
use crate::web::templates::render;
use axum::extract::State;
use axum::response::Html;
use dvc_domain::catalog::OnlineClass;
use minijinja::{Value, context};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    pub q: Option<String>,
    pub co_quan: Option<String>,
    pub linh_vuc: Option<String>,
    pub muc_do: Option<String>,
    pub truc_tuyen: Option<String>,
    pub hinh_thuc: Option<String>,
}

impl Params {
    pub fn to_query(&self) -> Query {
        let nonempty = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(200).collect())
        };
        Query {
            text: nonempty(&self.q),
            agency: nonempty(&self.co_quan),
            field: nonempty(&self.linh_vuc),
            level: self
                .muc_do
                .as_deref()
                .and_then(|l| l.trim().parse().ok())
                .filter(|l| (1..=4).contains(l)),
            online_only: self
                .truc_tuyen
                .as_deref()
                .is_some_and(|v| v == "1" || v == "co"),
            online_class: match self.hinh_thuc.as_deref() {
                Some("toan_trinh") => Some(OnlineClass::ToanTrinh),
                Some("mot_phan") => Some(OnlineClass::MotPhan),
                _ => None,
            },
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    LenientQuery(params): LenientQuery<Params>,
) -> AppResult<Html<String>> {
    let catalog = state.catalog();
    let query = params.to_query();
    let hits = catalog.search(&query);
    let items: Vec<Value> = hits
        .iter()
        .map(|p| {
            context! {
                code => p.code.clone(), name => p.name.clone(), field => p.field.clone(), level => p.level.number(),
                level_label => p.level.label(), online => p.level.online_submission(),
                online_class => p.online_class.slug(), online_class_label => p.online_class.label(),
                agency => p.implementing_agency.clone(),
            }
        })
        .collect();
    let agencies: Vec<Value> = catalog
        .implementing_agencies()
        .iter()
        .map(|a| context! { code => a.code.to_string(), name => a.name.clone() })
        .collect();
    render(
        "catalog.html",
        context! {
            items, count => hits.len(), agencies, fields => catalog.fields().into_iter().map(String::from).collect::<Vec<_>>(),
            q => query.text, co_quan => query.agency, linh_vuc => query.field, muc_do => query.level,
            truc_tuyen => query.online_only, hinh_thuc => params.hinh_thuc,
        },
    )
}
