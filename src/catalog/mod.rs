//! The catalogue in memory: agencies, and for each procedure what lists and search need (a
//! summary, its folded code and name, its words in an inverted [`index`]) plus the full
//! procedure packed (deflate-compressed JSON). A full procedure is unpacked on demand and kept
//! in a small cache of the most recently used ones, so a province's 10,000 procedures fit in a
//! few tens of megabytes. Loaded from the database at start and after each import (the index is
//! built with it); read by every catalogue page.

pub mod import;
pub mod index;

use dvc_domain::agency::{Agency, AgencyCode};
use dvc_domain::catalog::{OnlineClass, Procedure, ServiceLevel};
use dvc_domain::text;
use index::Index;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
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
    /// The live version's number ([`crate::store::procedures`]).
    pub version: i64,
    /// No longer offered: not listed nor searchable, no new dossier; its dossiers keep it.
    pub retired: bool,
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
            version: 1,
            retired: false,
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
    /// In catalogue order: field, then name, then code.
    summaries: Vec<Summary>,
    /// Deflate-compressed JSON of every procedure, end to end, compressed against `dictionary`
    /// (the start of the catalogue: procedures share most of their keys and phrases), and where
    /// each one is (start, length), same index as `summaries`.
    packed: Vec<u8>,
    packed_at: Vec<(u32, u32)>,
    dictionary: Box<[u8]>,
    /// Folded code and name of each procedure (ranking), same index as `summaries`.
    folded_codes: Vec<Box<str>>,
    folded_names: Vec<Box<str>>,
    /// Position in `fields` of each procedure's field.
    field_of: Vec<u32>,
    /// Distinct fields, sorted, and the same folded (computed once, not per request).
    fields: Vec<String>,
    folded_fields: Vec<String>,
    index: Index,
    by_code: HashMap<String, usize>,
    /// Positions in `agencies` of those implementing at least one procedure.
    implementing: Vec<usize>,
    online: usize,
    pub version: Option<String>,
    cache: Mutex<Vec<(usize, Arc<Procedure>)>>,
}

/// The most of the catalogue's first procedures used as the compression dictionary (deflate
/// looks back 32 KB at most).
const DICTIONARY_SIZE: usize = 32 * 1024;

/// Builds a [`Catalog`] one stored procedure at a time (never all of them unpacked at once).
#[derive(Default)]
pub struct Builder {
    entries: Vec<(Summary, (u32, u32))>,
    /// The first procedures' JSON, until there is enough of it for the dictionary.
    pending: Vec<(Summary, String)>,
    dictionary: Option<Box<[u8]>>,
    packed: Vec<u8>,
    compressor: Option<flate2::Compress>,
}

impl Builder {
    /// Adds a procedure from its stored JSON.
    pub fn add_json(&mut self, json: &str) -> Result<(), CatalogLoadError> {
        let p: Procedure =
            serde_json::from_str(json).map_err(|e| CatalogLoadError::Corrupt(e.to_string()))?;
        self.push(Summary::of(&p), json.to_string());
        Ok(())
    }

    /// Adds a procedure from its stored row: JSON, live version, retired or not.
    pub fn add_stored(
        &mut self,
        json: &str,
        version: i64,
        retired: bool,
    ) -> Result<(), CatalogLoadError> {
        let p: Procedure =
            serde_json::from_str(json).map_err(|e| CatalogLoadError::Corrupt(e.to_string()))?;
        let mut summary = Summary::of(&p);
        summary.version = version;
        summary.retired = retired;
        self.push(summary, json.to_string());
        Ok(())
    }

    pub fn add(&mut self, p: &Procedure) -> Result<(), CatalogLoadError> {
        let json =
            serde_json::to_string(p).map_err(|e| CatalogLoadError::Corrupt(e.to_string()))?;
        self.push(Summary::of(p), json);
        Ok(())
    }

    fn push(&mut self, summary: Summary, json: String) {
        if self.dictionary.is_some() {
            let at = self.pack(json.as_bytes());
            self.entries.push((summary, at));
            return;
        }
        self.pending.push((summary, json));
        if self.pending.iter().map(|(_, j)| j.len()).sum::<usize>() >= DICTIONARY_SIZE {
            self.flush_pending();
        }
    }

    /// Fixes the dictionary (the last 32 KB of the JSON seen so far) and packs what waited.
    fn flush_pending(&mut self) {
        let mut all: Vec<u8> = Vec::new();
        for (_, j) in &self.pending {
            all.extend_from_slice(j.as_bytes());
        }
        let from = all.len().saturating_sub(DICTIONARY_SIZE);
        self.dictionary = Some(all[from..].into());
        for (summary, json) in std::mem::take(&mut self.pending) {
            let at = self.pack(json.as_bytes());
            self.entries.push((summary, at));
        }
    }

    /// Compresses one procedure's JSON onto the end of `packed`; its (start, length).
    fn pack(&mut self, bytes: &[u8]) -> (u32, u32) {
        let dictionary = self.dictionary.as_deref().unwrap_or_default();
        let c = self
            .compressor
            .get_or_insert_with(|| flate2::Compress::new(flate2::Compression::default(), false));
        c.reset();
        let start = self.packed.len();
        if c.set_dictionary(dictionary).is_ok() {
            loop {
                let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
                let input = bytes.get(consumed..).unwrap_or_default();
                self.packed.reserve(input.len() / 4 + 256);
                match c.compress_vec(input, &mut self.packed, flate2::FlushCompress::Finish) {
                    Ok(flate2::Status::StreamEnd) => break,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, "a procedure does not compress");
                        self.packed.truncate(start);
                        break;
                    }
                }
            }
        }
        let len = self.packed.len() - start;
        (
            u32::try_from(start).unwrap_or(u32::MAX),
            u32::try_from(len).unwrap_or(0),
        )
    }

    pub fn build(mut self, agencies: Vec<Agency>, version: Option<String>) -> Catalog {
        if self.dictionary.is_none() {
            self.flush_pending();
        }
        self.entries.sort_by(|(a, _), (b, _)| catalogue_order(a, b));
        let mut summaries = Vec::with_capacity(self.entries.len());
        let mut packed_at = Vec::with_capacity(self.entries.len());
        for (s, at) in self.entries {
            summaries.push(s);
            packed_at.push(at);
        }
        let mut packed = self.packed;
        packed.shrink_to_fit();
        let by_code = summaries
            .iter()
            .enumerate()
            .map(|(i, p)| (p.code.clone(), i))
            .collect();
        let mut fields: Vec<String> = summaries.iter().map(|p| p.field.clone()).collect();
        fields.sort_unstable();
        fields.dedup();
        let folded_fields: Vec<String> = fields.iter().map(|f| text::fold(f)).collect();
        let field_of = summaries
            .iter()
            .map(|p| {
                let i = fields.binary_search(&p.field).unwrap_or_default();
                u32::try_from(i).unwrap_or_default()
            })
            .collect();
        let folded_codes: Vec<Box<str>> = summaries
            .iter()
            .map(|p| text::fold(&p.code).into())
            .collect();
        let folded_names: Vec<Box<str>> = summaries
            .iter()
            .map(|p| text::fold(&p.name).into())
            .collect();
        // The searchable words: name, code and field, as `Procedure::search_text` has them.
        let texts: Vec<String> = summaries
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let f = fields.binary_search(&p.field).unwrap_or_default();
                format!(
                    "{} {} {}",
                    folded_names[i], folded_codes[i], folded_fields[f]
                )
            })
            .collect();
        let index = Index::build(texts.iter().map(String::as_str));
        drop(texts);
        let kinds: HashSet<&str> = summaries
            .iter()
            .map(|p| p.implementing_kind.as_str())
            .collect();
        let implementing = agencies
            .iter()
            .enumerate()
            .filter(|(_, a)| kinds.contains(a.kind.as_str()))
            .map(|(i, _)| i)
            .collect();
        let online = summaries
            .iter()
            .filter(|p| p.level.online_submission() && !p.retired)
            .count();
        Catalog {
            agencies,
            summaries,
            packed,
            packed_at,
            dictionary: self.dictionary.unwrap_or_default(),
            folded_codes,
            folded_names,
            field_of,
            fields,
            folded_fields,
            index,
            by_code,
            implementing,
            online,
            version,
            cache: Mutex::new(Vec::with_capacity(CACHE_SIZE)),
        }
    }
}

/// Field, then name, then code: the order of the catalogue pages and of the API without a search.
fn catalogue_order(a: &Summary, b: &Summary) -> Ordering {
    a.field
        .cmp(&b.field)
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| a.code.cmp(&b.code))
}

fn unpack(bytes: &[u8], dictionary: &[u8]) -> Option<Procedure> {
    let mut d = flate2::Decompress::new(false);
    d.set_dictionary(dictionary).ok()?;
    let mut json = Vec::with_capacity(bytes.len() * 8);
    loop {
        let consumed = usize::try_from(d.total_in()).ok()?;
        let before = (d.total_in(), d.total_out());
        json.reserve(bytes.len() * 4);
        match d.decompress_vec(
            bytes.get(consumed..)?,
            &mut json,
            flate2::FlushDecompress::Finish,
        ) {
            Ok(flate2::Status::StreamEnd) => break,
            Ok(_) if (d.total_in(), d.total_out()) != before => continue,
            _ => {
                tracing::error!("a packed procedure does not unpack");
                return None;
            }
        }
    }
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

/// How well a procedure matches a search: lower first.
pub mod rank {
    /// The code starts with the query ("1.0011").
    pub const CODE: u8 = 0;
    /// The name starts with the query ("dang ky khai s").
    pub const NAME_START: u8 = 1;
    /// Every word of the query is in the name.
    pub const NAME: u8 = 2;
    /// Some words only in the code or the field.
    pub const OTHER: u8 = 3;
}

/// One procedure found, at its catalogue position.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    position: u32,
    rank: u8,
}

/// Where a list stopped: the sort key of its last item (rank, field, name, code), so that the
/// next page starts after it even if the catalogue was reloaded in between.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    rank: u8,
    field: String,
    name: String,
    code: String,
}

impl Cursor {
    /// Opaque text form (base64url of a small JSON array).
    pub fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::to_vec(&(self.rank, &self.field, &self.name, &self.code))
            .unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        use base64::Engine;
        if text.len() > 2048 {
            return None;
        }
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let (rank, field, name, code): (u8, String, String, String) =
            serde_json::from_slice(&json).ok()?;
        Some(Cursor {
            rank,
            field,
            name,
            code,
        })
    }
}

/// The procedures a [`Query`] found, ranked (without search text: in catalogue order).
pub struct Results<'a> {
    catalog: &'a Catalog,
    hits: Vec<Hit>,
}

impl<'a> Results<'a> {
    pub fn len(&self) -> usize {
        self.hits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }

    /// At most `limit` summaries from the `offset`-th.
    pub fn page(&self, offset: usize, limit: usize) -> Vec<&'a Summary> {
        self.hits
            .iter()
            .skip(offset)
            .take(limit)
            .map(|h| &self.catalog.summaries[h.position as usize])
            .collect()
    }

    /// All of them (tests and small catalogues).
    pub fn all(&self) -> Vec<&'a Summary> {
        self.page(0, self.hits.len())
    }

    /// The cursor that continues after the `i`-th result.
    pub fn cursor_after(&self, i: usize) -> Option<Cursor> {
        let h = self.hits.get(i)?;
        let s = &self.catalog.summaries[h.position as usize];
        Some(Cursor {
            rank: h.rank,
            field: s.field.clone(),
            name: s.name.clone(),
            code: s.code.clone(),
        })
    }

    /// The offset of the first result after the cursor.
    pub fn offset_after(&self, c: &Cursor) -> usize {
        let key = (c.rank, c.field.as_str(), c.name.as_str(), c.code.as_str());
        self.hits.partition_point(|h| {
            let s = &self.catalog.summaries[h.position as usize];
            (h.rank, s.field.as_str(), s.name.as_str(), s.code.as_str()) <= key
        })
    }
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
        let (start, len) = *self.packed_at.get(i)?;
        let bytes = self
            .packed
            .get(start as usize..start as usize + len as usize)?;
        let p = Arc::new(unpack(bytes, &self.dictionary)?);
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

    /// The summary of the procedure with this code (retired ones included).
    pub fn summary(&self, code: &str) -> Option<&Summary> {
        self.by_code.get(code).and_then(|&i| self.summaries.get(i))
    }

    /// Every procedure's summary, in catalogue order (field, then name, then code).
    pub fn summaries(&self) -> &[Summary] {
        &self.summaries
    }

    /// How many procedures can be filed online (level 3 or 4).
    pub fn online_count(&self) -> usize {
        self.online
    }

    pub fn agency(&self, code: &str) -> Option<&Agency> {
        self.agencies
            .iter()
            .find(|a| a.code.as_str() == code || a.former_codes.iter().any(|f| f.as_str() == code))
    }

    /// Agencies that implement at least one procedure (for the filter list).
    pub fn implementing_agencies(&self) -> Vec<&Agency> {
        self.implementing
            .iter()
            .filter_map(|&i| self.agencies.get(i))
            .collect()
    }

    pub fn fields(&self) -> Vec<&str> {
        self.fields.iter().map(String::as_str).collect()
    }

    /// The procedures matching the filters and every word of the search text (folded: with or
    /// without diacritics, đ = d; the last word may be unfinished), ranked: code, then name,
    /// then other fields; within a rank, in catalogue order.
    pub fn search(&self, q: &Query) -> Results<'_> {
        let folded_query = q.text.as_deref().map(text::fold).filter(|t| !t.is_empty());
        let agency = q.agency.as_deref().and_then(|c| self.agency(c));
        let field: Option<Vec<bool>> = q.field.as_deref().map(|f| {
            let f = text::fold(f);
            self.folded_fields.iter().map(|ff| *ff == f).collect()
        });
        let keep = |i: usize| {
            let p = &self.summaries[i];
            !p.retired
                && agency.is_none_or(|a| a.kind == p.implementing_kind)
                && field.as_ref().is_none_or(|wanted| {
                    wanted
                        .get(self.field_of[i] as usize)
                        .copied()
                        .unwrap_or(false)
                })
                && q.level.is_none_or(|l| p.level.number() == l)
                && (!q.online_only || p.level.online_submission())
                && q.online_class.is_none_or(|c| p.online_class == c)
        };
        let to_hit = |i: usize, rank: u8| Hit {
            position: u32::try_from(i).unwrap_or(u32::MAX),
            rank,
        };
        let mut hits: Vec<Hit> = match folded_query.as_deref() {
            None => (0..self.summaries.len())
                .filter(|&i| keep(i))
                .map(|i| to_hit(i, rank::CODE))
                .collect(),
            Some(fq) => match self.index.matching(fq) {
                None => Vec::new(),
                Some(set) => set
                    .iter()
                    .filter(|&i| keep(i))
                    .map(|i| to_hit(i, self.rank(i, fq)))
                    .collect(),
            },
        };
        if folded_query.is_some() {
            // Stable: catalogue order within a rank.
            hits.sort_by_key(|h| h.rank);
        }
        Results {
            catalog: self,
            hits,
        }
    }

    fn rank(&self, i: usize, folded_query: &str) -> u8 {
        if self.folded_codes[i].starts_with(folded_query) {
            rank::CODE
        } else if self.folded_names[i].starts_with(folded_query) {
            rank::NAME_START
        } else if text::matches_words(&self.folded_names[i], folded_query) {
            rank::NAME
        } else {
            rank::OTHER
        }
    }

    /// Approximate heap bytes of the search index and of the packed procedures.
    pub fn index_bytes(&self) -> usize {
        self.index.heap_bytes()
    }

    pub fn packed_bytes(&self) -> usize {
        self.packed.len() + self.dictionary.len()
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
        // A catalogue too small to fill the dictionary unpacks as well.
        let one = Catalog::new(
            files.agencies.agencies.clone(),
            vec![original.clone()],
            None,
        )
        .expect("catalogue");
        assert_eq!(*one.procedure(&original.code).expect("found"), original);
        // More procedures than the cache holds: every one still unpacks.
        for s in c.summaries() {
            assert_eq!(c.procedure(&s.code).expect("unpacks").code, s.code);
        }
    }
}
