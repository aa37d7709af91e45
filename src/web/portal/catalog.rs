//! `/thu-tuc`: the catalogue, searchable with or without diacritics, filterable by agency,
//! field, level and online class, grouped by field, [`PER_PAGE`] procedures a page
//! (`?trang=N`); the filters are kept in the pagination links (no JavaScript).

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
    /// Page number, from 1.
    pub trang: Option<String>,
}

/// Procedures on one catalogue page (keeps a page of 10,000 within 14 KB compressed).
pub const PER_PAGE: usize = 20;

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

impl Params {
    /// The filters as a query string (`q=…&co_quan=…`, percent-encoded, without the page),
    /// for the pagination links.
    fn filters_query(&self, query: &Query) -> String {
        // Everything but RFC 3986's unreserved characters.
        const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, COMPONENT).to_string();
        let mut parts = Vec::new();
        if let Some(q) = &query.text {
            parts.push(format!("q={}", enc(q)));
        }
        if let Some(a) = &query.agency {
            parts.push(format!("co_quan={}", enc(a)));
        }
        if let Some(f) = &query.field {
            parts.push(format!("linh_vuc={}", enc(f)));
        }
        if let Some(l) = query.level {
            parts.push(format!("muc_do={l}"));
        }
        if query.online_only {
            parts.push("truc_tuyen=1".into());
        }
        if let Some(c) = query.online_class {
            parts.push(format!("hinh_thuc={}", c.slug()));
        }
        parts.join("&")
    }

    /// The page asked for (1 when absent or not a number).
    fn page(&self) -> usize {
        self.trang
            .as_deref()
            .and_then(|t| t.trim().parse::<usize>().ok())
            .filter(|&n| n >= 1)
            .unwrap_or(1)
    }
}

pub async fn list(
    State(state): State<AppState>,
    LenientQuery(params): LenientQuery<Params>,
) -> AppResult<Html<String>> {
    let catalog = state.catalog();
    let query = params.to_query();
    let hits = catalog.search(&query);
    let count = hits.len();
    let pages = count.div_ceil(PER_PAGE).max(1);
    // Past the end (an old link after an import): the last page.
    let page = params.page().min(pages);
    let offset = (page - 1) * PER_PAGE;
    // Grouped by field when listing; a search keeps its ranking in one list.
    let grouped = query.text.is_none();
    let mut groups: Vec<(Option<String>, Vec<Value>)> = Vec::new();
    for p in hits.page(offset, PER_PAGE) {
        let item = context! {
            code => p.code.clone(), name => p.name.clone(), field => p.field.clone(), level => p.level.number(),
            level_label => p.level.label(), online => p.level.online_submission(),
            online_class => p.online_class.slug(), online_class_label => p.online_class.label(),
            agency => p.implementing_agency.clone(),
        };
        let title = grouped.then(|| p.field.clone());
        match groups.last_mut() {
            Some((t, items)) if *t == title => items.push(item),
            _ => groups.push((title, vec![item])),
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(title, items)| context! { title, items })
        .collect();
    let filters = params.filters_query(&query);
    let link = |n: usize| {
        let mut url = String::from("/thu-tuc?");
        if !filters.is_empty() {
            url.push_str(&filters);
            url.push('&');
        }
        url.push_str(&format!("trang={n}"));
        url
    };
    let pagination = (pages > 1).then(|| {
        context! {
            page, pages,
            first => (page > 1).then(|| link(1)),
            prev => (page > 1).then(|| link(page - 1)),
            next => (page < pages).then(|| link(page + 1)),
            last => (page < pages).then(|| link(pages)),
        }
    });
    let agencies: Vec<Value> = catalog
        .implementing_agencies()
        .iter()
        .map(|a| context! { code => a.code.to_string(), name => a.name.clone() })
        .collect();
    render(
        "catalog.html",
        context! {
            groups, count, agencies, fields => catalog.fields().into_iter().map(String::from).collect::<Vec<_>>(),
            from => if count == 0 { 0 } else { offset + 1 }, to => (offset + PER_PAGE).min(count), pagination,
            q => query.text, co_quan => query.agency, linh_vuc => query.field, muc_do => query.level,
            truc_tuyen => query.online_only, hinh_thuc => query.online_class.map(|c| c.slug()),
        },
    )
}
