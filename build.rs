//! Embeds the sample catalogue (catalog/) and the static assets' fingerprints into the binary.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time: a build script compiled in another checkout may be reused from a shared
    // target dir, and a compile-time path would point into that checkout.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&manifest_dir);
    let mut out = String::from(
        "/// (relative path, contents) of every file of the sample catalogue.\npub static SAMPLE_FILES: &[(&str, &str)] = &[\n",
    );
    let mut files = Vec::new();
    collect(&root.join("catalog"), &mut files);
    files.sort();
    for f in &files {
        let rel = f
            .strip_prefix(root.join("catalog"))
            .unwrap_or(f)
            .display()
            .to_string();
        let _ = writeln!(
            out,
            "    ({rel:?}, include_str!({:?})),",
            f.display().to_string()
        );
    }
    out.push_str("];\n");
    println!("cargo:rerun-if-changed=catalog");
    println!("cargo:rerun-if-changed=static");
    println!("cargo:rerun-if-changed=migrations");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()))
        .join("sample_catalog.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            println!("cargo:rerun-if-changed={}", p.display());
            collect(&p, out);
        } else if p.extension().and_then(|x| x.to_str()) == Some("toml") {
            out.push(p);
        }
    }
}
