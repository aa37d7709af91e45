//! The catalogue in memory: agencies and procedures, with a folded-text index for search.
//! Loaded from the database at start and after each import; read by every catalogue page.

pub mod import;

use dvc_domain::agency::{Agency, AgencyCode};
use dvc_domain::catalog::{OnlineClass, Procedure};
use dvc_domain::text;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Catalog {
    pub agencies: Vec<Agency>,
    pub procedures: Vec<Procedure>,
    folded: Vec<String>,
    by_code: HashMap<String, usize>,
    /// Distinct fields, sorted (computed once, not per request).
    fields: Vec<String>,
    pub version: Option<String>,
}

/// Filters of the catalogue page and the API.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub text: Option<String>,
    pub agency: Option<String>,
    pub field: Option<String>,
    pub level: Option<u8>,
    /// Only services that can be done online (level ≥ 3).
    pub online_only: bool,
    pub online_class: Option<OnlineClass>,
}

impl Catalog {
    pub fn new(
        agencies: Vec<Agency>,
        mut procedures: Vec<Procedure>,
        version: Option<String>,
    ) -> Catalog {
        procedures.sort_by(|a, b| a.field.cmp(&b.field).then_with(|| a.name.cmp(&b.name)));
        let folded = procedures.iter().map(|p| p.search_text()).collect();
        let by_code = procedures
            .iter()
            .enumerate()
            .map(|(i, p)| (p.code.clone(), i))
            .collect();
        let mut fields: Vec<String> = procedures.iter().map(|p| p.field.clone()).collect();
        fields.sort_unstable();
        fields.dedup();
        Catalog {
            agencies,
            procedures,
            folded,
            by_code,
            fields,
            version,
        }
    }

    pub fn procedure(&self, code: &str) -> Option<&Procedure> {
        self.by_code.get(code).map(|&i| &self.procedures[i])
    }

    pub fn agency(&self, code: &str) -> Option<&Agency> {
        self.agencies
            .iter()
            .find(|a| a.code.as_str() == code || a.former_codes.iter().any(|f| f.as_str() == code))
    }

    /// Agencies that implement at least one procedure (for the filter list).
    pub fn implementing_agencies(&self) -> Vec<&Agency> {
        self.agencies
            .iter()
            .filter(|a| {
                self.procedures
                    .iter()
                    .any(|p| p.implementing_kind == a.kind)
            })
            .collect()
    }

    pub fn fields(&self) -> Vec<&str> {
        self.fields.iter().map(String::as_str).collect()
    }

    pub fn search(&self, q: &Query) -> Vec<&Procedure> {
        let folded_query = q.text.as_deref().map(text::fold).filter(|t| !t.is_empty());
        let agency = q.agency.as_deref().and_then(|c| self.agency(c));
        let mut hits: Vec<(usize, &Procedure)> = self
            .procedures
            .iter()
            .enumerate()
            .filter(|(_, p)| agency.is_none_or(|a| a.kind == p.implementing_kind))
            .filter(|(_, p)| {
                q.field
                    .as_deref()
                    .is_none_or(|f| text::fold(f) == text::fold(&p.field))
            })
            .filter(|(_, p)| q.level.is_none_or(|l| p.level.number() == l))
            .filter(|(_, p)| !q.online_only || p.level.online_submission())
            .filter(|(_, p)| q.online_class.is_none_or(|c| p.online_class == c))
            .filter(|(i, _)| {
                folded_query
                    .as_deref()
                    .is_none_or(|fq| text::matches_all_words(&self.folded[*i], fq))
            })
            .collect();
        if let Some(fq) = &folded_query {
            // Names that start with the query first.
            hits.sort_by_key(|(i, _)| !self.folded[*i].starts_with(fq.as_str()));
        }
        hits.into_iter().map(|(_, p)| p).collect()
    }

    /// Whether the agency with this code implements the procedure.
    pub fn implements(&self, procedure: &Procedure, agency: &AgencyCode) -> bool {
        procedure.is_implemented_by(agency, &self.agencies)
    }
}
