//! migrations/sqlite and migrations/postgres must not drift: same files, and in each file the same
//! statements once comments are removed and the one allowed spelling difference is mapped
//! (`INTEGER PRIMARY KEY AUTOINCREMENT` on SQLite ↔ `BIGSERIAL PRIMARY KEY` on PostgreSQL).
//! Every table must also be listed in [`super::tables`], so `migrate-data` copies it or knowingly
//! leaves it behind.

use super::tables::{COPIED, NOT_COPIED};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The statements of a migration, normalised: comments removed, whitespace collapsed, the
/// SQLite spelling of a generated key mapped to PostgreSQL's.
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|l| match l.find("--") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join(" ");
    let collapsed = without_comments
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mapped = replace_ci(
        &collapsed,
        "INTEGER PRIMARY KEY AUTOINCREMENT",
        "BIGSERIAL PRIMARY KEY",
    );
    mapped
        .split(';')
        .map(|s| s.trim().replace("( ", "(").replace(" )", ")"))
        .filter(|s| !s.is_empty())
        .collect()
}

fn replace_ci(haystack: &str, needle: &str, with: &str) -> String {
    let lower = haystack.to_ascii_lowercase();
    let needle_lower = needle.to_ascii_lowercase();
    let mut out = String::new();
    let mut last = 0;
    for (i, _) in lower.match_indices(&needle_lower) {
        out.push_str(&haystack[last..i]);
        out.push_str(with);
        last = i + needle.len();
    }
    out.push_str(&haystack[last..]);
    out
}

/// Differences between the two engines' versions of one migration, in words.
fn drift(file: &str, sqlite: &str, postgres: &str) -> Vec<String> {
    let a = statements(sqlite);
    let b = statements(postgres);
    let mut out = Vec::new();
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => out.push(format!(
                "{file}, statement {}:\n  sqlite:   {}\n  postgres: {}",
                i + 1,
                x.map_or("(none)", String::as_str),
                y.map_or("(none)", String::as_str)
            )),
        }
    }
    out
}

/// Tables and their columns after applying `statements` in order (CREATE TABLE, ALTER TABLE …
/// ADD COLUMN / DROP COLUMN / RENAME TO, DROP TABLE).
fn tables(stmts: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in stmts {
        let words: Vec<&str> = s.split_whitespace().collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let is = |i: usize, w: &str| upper.get(i).is_some_and(|u| u == w);
        if is(0, "CREATE") && is(1, "TABLE") {
            let name_at = if is(2, "IF") { 5 } else { 2 };
            let Some(name) = words.get(name_at) else {
                continue;
            };
            let name = name.split('(').next().unwrap_or(name).trim_matches('"');
            let body = s
                .find('(')
                .and_then(|open| s.rfind(')').map(|close| &s[open + 1..close]))
                .unwrap_or("");
            let mut cols = Vec::new();
            let mut depth = 0;
            let mut part = String::new();
            for c in body.chars().chain(std::iter::once(',')) {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    ',' if depth == 0 => {
                        let first = part.split_whitespace().next().unwrap_or("").to_string();
                        let kw = first.to_ascii_uppercase();
                        if !first.is_empty()
                            && !["PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "CONSTRAINT"]
                                .contains(&kw.as_str())
                        {
                            cols.push(part.trim().to_string());
                        }
                        part.clear();
                        continue;
                    }
                    _ => {}
                }
                part.push(c);
            }
            tables.insert(name.to_string(), cols);
        } else if is(0, "ALTER") && is(1, "TABLE") {
            let Some(name) = words.get(2).map(|n| n.trim_matches('"').to_string()) else {
                continue;
            };
            if is(3, "ADD") {
                let at = if is(4, "COLUMN") { 5 } else { 4 };
                let def = words[at.min(words.len())..].join(" ");
                tables.entry(name).or_default().push(def);
            } else if is(3, "DROP") {
                let at = if is(4, "COLUMN") { 5 } else { 4 };
                if let Some(col) = words.get(at)
                    && let Some(cols) = tables.get_mut(&name)
                {
                    cols.retain(|c| c.split_whitespace().next() != Some(*col));
                }
            } else if is(3, "RENAME")
                && is(4, "TO")
                && let (Some(cols), Some(new)) = (tables.remove(&name), words.get(5))
            {
                tables.insert(new.trim_matches('"').to_string(), cols);
            }
        } else if is(0, "DROP") && is(1, "TABLE") {
            let at = if is(2, "IF") { 4 } else { 2 };
            if let Some(name) = words.get(at) {
                tables.remove(name.trim_matches('"'));
            }
        }
    }
    tables
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .expect("migrations directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("read migration"))
        })
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_are_in_lockstep() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let sqlite = read_dir(&root.join("sqlite"));
    let postgres = read_dir(&root.join("postgres"));
    let a: BTreeSet<&String> = sqlite.keys().collect();
    let b: BTreeSet<&String> = postgres.keys().collect();
    assert_eq!(
        a, b,
        "migrations/sqlite and migrations/postgres must hold the same files"
    );
    assert!(!a.is_empty());
    let mut problems = Vec::new();
    let mut all_sqlite = Vec::new();
    let mut all_pg = Vec::new();
    for (name, sql) in &sqlite {
        let pg = &postgres[name];
        problems.extend(drift(name, sql, pg));
        all_sqlite.extend(statements(sql));
        all_pg.extend(statements(pg));
    }
    assert!(
        problems.is_empty(),
        "migrations drifted:\n{}",
        problems.join("\n")
    );
    // Same tables with the same columns at the end (implied by the above; kept for the message).
    let ts = tables(&all_sqlite);
    assert_eq!(ts, tables(&all_pg));

    // Every table is copied by migrate-data or knowingly left behind, exactly once.
    let mut listed: Vec<&str> = COPIED.iter().map(|t| t.name).collect();
    listed.extend(NOT_COPIED);
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a table is listed twice in store/tables.rs"
    );
    let in_migrations: BTreeSet<&str> = ts.keys().map(String::as_str).collect();
    assert_eq!(
        in_migrations, unique,
        "store/tables.rs must list every table of the migrations (COPIED or NOT_COPIED)"
    );
    for t in COPIED.iter().filter(|t| t.serial_id) {
        assert!(
            ts[t.name]
                .iter()
                .any(|c| c.starts_with("id BIGSERIAL PRIMARY KEY")),
            "{} is marked serial_id but has no generated id",
            t.name
        );
    }
}

#[test]
fn the_check_sees_drift() {
    let sqlite = "-- SQLite header\nCREATE TABLE a (\n id INTEGER PRIMARY KEY AUTOINCREMENT,\n x TEXT NOT NULL\n);";
    let same = "-- PostgreSQL header, different words\nCREATE TABLE a (id BIGSERIAL PRIMARY KEY, x TEXT NOT NULL);";
    assert!(drift("f", sqlite, same).is_empty());
    let missing_column = "CREATE TABLE a (id BIGSERIAL PRIMARY KEY);";
    assert_eq!(drift("f", sqlite, missing_column).len(), 1);
    let other_type = "CREATE TABLE a (id BIGSERIAL PRIMARY KEY, x BIGINT NOT NULL);";
    assert_eq!(drift("f", sqlite, other_type).len(), 1);
    let extra_table = format!("{same}\nCREATE TABLE b (k TEXT PRIMARY KEY);");
    assert_eq!(drift("f", sqlite, &extra_table).len(), 1);
    let parsed = tables(&statements(
        "CREATE TABLE a (id BIGINT, b TEXT, PRIMARY KEY (id, b)); ALTER TABLE a ADD COLUMN c BIGINT;",
    ));
    assert_eq!(parsed["a"], vec!["id BIGINT", "b TEXT", "c BIGINT"]);
}
