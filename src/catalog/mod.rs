//! The catalogue in memory: agencies, and for each procedure what lists and search need (a
//! summary and its folded text) plus the full procedure packed (deflate-compressed JSON). A full
//! procedure is unpacked on demand and kept in a small cache of the most recently used ones, so
//! a province's 10,000 procedures fit in a few tens of megabytes. Loaded from the database at
//! start and after each import; read by every catalogue page.

pub mod import;

use dvc_domain::agency::{Agency, AgencyCode};
use dvc_domain::catalog::{OnlineClass, Procedure, ServiceLevel};
use dvc_domain::text;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

/// Unpacked procedures kept ready (the ones citizens are filling in right now).
const CACHE_SIZE: usize = 64;

/// What the catalogue list, search and API list show of a procedure.
#[derive(Debug, Clone)]
pub struct Summary {
    pub code: String,
    pub name: String,
    pub field: String,
    pub level: ServiceLevel,
    pub online_class: OnlineClass,
    pub implementing_kind: String,
    pub implementing_agency: String,
}

impl Summary {
    fn of(p: &Procedure) -> Summary {
        Summary {
            code: p.code.clone(),
            name: p.name.clone(),
            field: p.field.clone(),
            level: p.level,
            online_class: p.online_class,
            implementing_kind: p.implementing_kind.clone(),
            implementing_agency: p.implementing_agency.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogLoadError {
    #[error("thủ tục lưu trữ không đọc được: {0}")]
    Corrupt(String),
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub agencies: Vec<Agency>,
    summaries: Vec<Summary>,
    /// Deflate-compressed JSON of each procedure, same index as `summaries`.
    packed: Vec<Box<[u8]>>,
    folded: Vec<String>,
    by_code: HashMap<String, usize>,
    /// Distinct fields, sorted (computed once, not per request).
    fields: Vec<String>,
    pub version: Option<String>,
    cache: Mutex<Vec<(usize, Arc<Procedure>)>>,
}

/// Builds a [`Catalog`] one stored procedure at a time (never all of them unpacked at once).
#[derive(Default)]
pub struct Builder {
    entries: Vec<(Summary, String, Box<[u8]>)>,
}

impl Builder {
    /// Adds a procedure from its stored JSON.
    pub fn add_json(&mut self, json: &str) -> Result<(), CatalogLoadError> {
        let p: Procedure =
            serde_json::from_str(json).map_err(|e| CatalogLoadError::Corrupt(e.to_string()))?;
        self.entries
            .push((Summary::of(&p), p.search_text(), pack(json.as_bytes())));
        Ok(())
    }

    pub fn add(&mut self, p: &Procedure) -> Result<(), CatalogLoadError> {
        let json =
            serde_json::to_string(p).map_err(|e| CatalogLoadError::Corrupt(e.to_string()))?;
        self.entries
            .push((Summary::of(p), p.search_text(), pack(json.as_bytes())));
        Ok(())
    }

    pub fn build(mut self, agencies: Vec<Agency>, version: Option<String>) -> Catalog {
        self.entries.sort_by(|(a, _, _), (b, _, _)| {
            a.field.cmp(&b.field).then_with(|| a.name.cmp(&b.name))
        });
        let mut summaries = Vec::with_capacity(self.entries.len());
        let mut folded = Vec::with_capacity(self.entries.len());
        let mut packed = Vec::with_capacity(self.entries.len());
        for (s, f, p) in self.entries {
            summaries.push(s);
            folded.push(f);
            packed.push(p);
        }
        let by_code = summaries
            .iter()
            .enumerate()
            .map(|(i, p)| (p.code.clone(), i))
            .collect();
        let mut fields: Vec<String> = summaries.iter().map(|p| p.field.clone()).collect();
        fields.sort_unstable();
        fields.dedup();
        Catalog {
            agencies,
            summaries,
            packed,
            folded,
            by_code,
            fields,
            version,
            cache: Mutex::new(Vec::with_capacity(CACHE_SIZE)),
        }
    }
}

fn pack(bytes: &[u8]) -> Box<[u8]> {
    let mut enc = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default().into_boxed_slice()
}

fn unpack(bytes: &[u8]) -> Option<Procedure> {
    let mut json = Vec::with_capacity(bytes.len() * 4);
    flate2::read::DeflateDecoder::new(bytes)
        .read_to_end(&mut json)
        .ok()?;
    match serde_json::from_slice(&json) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::error!(error = %e, "a packed procedure does not unpack");
            None
        }
    }
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
    /// A catalogue of these procedures (tests, and anything already holding them).
    pub fn new(
        agencies: Vec<Agency>,
        procedures: Vec<Procedure>,
        version: Option<String>,
    ) -> Result<Catalog, CatalogLoadError> {
        let mut b = Builder::default();
        for p in &procedures {
            b.add(p)?;
        }
        Ok(b.build(agencies, version))
    }

    /// The full procedure with this code (unpacked, or from the cache of recent ones).
    pub fn procedure(&self, code: &str) -> Option<Arc<Procedure>> {
        let i = *self.by_code.get(code)?;
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some(pos) = cache.iter().position(|(j, _)| *j == i) {
            // Most recently used at the end.
            let hit = cache.remove(pos);
            let p = hit.1.clone();
            cache.push(hit);
            return Some(p);
        }
        drop(cache);
        let p = Arc::new(unpack(self.packed.get(i)?)?);
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if !cache.iter().any(|(j, _)| *j == i) {
            if cache.len() >= CACHE_SIZE {
                cache.remove(0);
            }
            cache.push((i, p.clone()));
        }
        Some(p)
    }

    /// Every procedure's summary, in catalogue order (field, then name).
    pub fn summaries(&self) -> &[Summary] {
        &self.summaries
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
            .filter(|a| self.summaries.iter().any(|p| p.implementing_kind == a.kind))
            .collect()
    }

    pub fn fields(&self) -> Vec<&str> {
        self.fields.iter().map(String::as_str).collect()
    }

    pub fn search(&self, q: &Query) -> Vec<&Summary> {
        let folded_query = q.text.as_deref().map(text::fold).filter(|t| !t.is_empty());
        let agency = q.agency.as_deref().and_then(|c| self.agency(c));
        let field = q.field.as_deref().map(text::fold);
        let mut hits: Vec<(usize, &Summary)> = self
            .summaries
            .iter()
            .enumerate()
            .filter(|(_, p)| agency.is_none_or(|a| a.kind == p.implementing_kind))
            .filter(|(_, p)| field.as_deref().is_none_or(|f| f == text::fold(&p.field)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_procedures_unpack_equal_and_are_cached() {
        let files = import::sample().expect("sample catalogue");
        let n = files.procedures.len();
        let original = files.procedures[0].clone();
        let c = Catalog::new(
            files.agencies.agencies.clone(),
            files.procedures.clone(),
            None,
        )
        .expect("catalogue");
        assert_eq!(c.summaries().len(), n);
        let p = c.procedure(&original.code).expect("found");
        assert_eq!(*p, original);
        let again = c.procedure(&original.code).expect("found");
        assert!(
            Arc::ptr_eq(&p, &again),
            "the second read comes from the cache"
        );
        assert!(c.procedure("no-such-code").is_none());
        // More procedures than the cache holds: every one still unpacks.
        for s in c.summaries() {
            assert_eq!(c.procedure(&s.code).expect("unpacks").code, s.code);
        }
    }
}
