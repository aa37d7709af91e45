//! Reading catalogue data files (`agencies.toml`, `procedures/*.toml`) and importing them.

use crate::store::{Db, catalog as store};
use anyhow::Context;
use dvc_domain::catalog::{AgenciesFile, Procedure};
use std::path::Path;

mod sample {
    include!(concat!(env!("OUT_DIR"), "/sample_catalog.rs"));
}

/// Parsed catalogue files.
pub struct CatalogFiles {
    pub agencies: AgenciesFile,
    pub procedures: Vec<Procedure>,
}

/// Parses (path, contents) pairs; paths are relative to the catalogue root.
pub fn parse_files<'a>(
    files: impl IntoIterator<Item = (String, &'a str)>,
) -> anyhow::Result<CatalogFiles> {
    let mut agencies = None;
    let mut procedures = Vec::new();
    for (path, text) in files {
        if path == "agencies.toml" {
            agencies = Some(AgenciesFile::from_toml(text).with_context(|| format!("tệp {path}"))?);
        } else if path.starts_with("procedures/") || path.starts_with("procedures\\") {
            procedures.push(Procedure::from_toml(text).with_context(|| format!("tệp {path}"))?);
        }
    }
    let agencies = agencies.context("thiếu tệp agencies.toml trong thư mục danh mục")?;
    Ok(CatalogFiles {
        agencies,
        procedures,
    })
}

/// The sample catalogue shipped inside the binary.
pub fn sample() -> anyhow::Result<CatalogFiles> {
    parse_files(
        sample::SAMPLE_FILES
            .iter()
            .map(|(p, t)| ((*p).to_string(), *t)),
    )
}

/// Reads a catalogue directory from disk.
pub fn read_dir(root: &Path) -> anyhow::Result<CatalogFiles> {
    let mut contents = Vec::new();
    let agencies = root.join("agencies.toml");
    contents.push((
        "agencies.toml".to_string(),
        std::fs::read_to_string(&agencies)
            .with_context(|| format!("không đọc được {}", agencies.display()))?,
    ));
    let dir = root.join("procedures");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("không đọc được thư mục {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
        .collect();
    paths.sort();
    for p in paths {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        contents.push((
            format!("procedures/{name}"),
            std::fs::read_to_string(&p)
                .with_context(|| format!("không đọc được {}", p.display()))?,
        ));
    }
    parse_files(contents.iter().map(|(p, t)| (p.clone(), t.as_str())))
}

pub async fn import(db: &Db, files: &CatalogFiles) -> anyhow::Result<store::ImportReport> {
    Ok(store::import(
        db,
        &files.agencies.agencies,
        &files.procedures,
        crate::now_ms(),
    )
    .await?)
}
