//! The catalogue at national scale: 10,000 procedures (the benchmark's generator), imported
//! through the real import function, then pages, pagination, API cursors and search ranking.

use crate::helpers::*;
use dichvucong::catalog::import::{CatalogFiles, import, read_dir};
use dvc_domain::catalog::Procedure;
use dvc_domain::text::{fold, matches_words};
use serde_json::Value;
use std::sync::OnceLock;

#[path = "../../crates/bench/src/catalog.rs"]
#[allow(dead_code)]
mod generator;

const PROCEDURES: usize = 10_000;
/// The budget of a catalogue page: HTML and its render-blocking CSS, compressed.
const BUDGET_BYTES: usize = 14 * 1000;

/// The generated catalogue, parsed once per test process (its files removed at once).
fn files() -> &'static CatalogFiles {
    static FILES: OnceLock<CatalogFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("dvc-national-{}", uuid::Uuid::new_v4().simple()));
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog");
        let n = generator::generate(
            &src,
            &dir.join("catalog"),
            &dir.join("names.tsv"),
            PROCEDURES,
        )
        .expect("generate the catalogue");
        assert_eq!(n, PROCEDURES);
        let files = read_dir(&dir.join("catalog")).expect("read the generated catalogue");
        let _ = std::fs::remove_dir_all(&dir);
        files
    })
}

async fn national_app() -> TestApp {
    let app = TestApp::spawn().await;
    import(&app.state.db, files()).await.expect("import");
    app.state.reload_catalog().await.expect("reload");
    app
}

/// Body bytes as sent with `Accept-Encoding: br` (the client does not decode them).
async fn wire_bytes(app: &TestApp, path: &str) -> (usize, String) {
    let r = app
        .client
        .get(app.url(path))
        .header("accept-encoding", "br")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200, "{path}");
    assert_eq!(
        r.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("br"),
        "{path} sent with br"
    );
    let n = r.bytes().await.expect("body").len();
    let (_, text) = app.get_text(path).await;
    (n, text)
}

fn link(body: &str, label: &str) -> Option<String> {
    // `<a href="…"…>Label</a>` in the pagination nav; minijinja escapes & as &amp;.
    let nav = &body[body.find("aria-label=\"Phân trang\"")?..];
    let end = nav.find(&format!(">{label}</a>"))?;
    let start = nav[..end].rfind("href=\"")? + 6;
    let href = &nav[start..end];
    Some(href[..href.find('"')?].replace("&amp;", "&"))
}

fn procedure_links(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("<a href=\"/thu-tuc/") {
        rest = &rest[i + 18..];
        let code: String = rest.chars().take_while(|c| *c != '"').collect();
        if !code.contains('/') {
            out.push(code);
        }
    }
    out
}

#[tokio::test]
async fn national_catalogue_pages_stay_small_and_paginate() {
    let app = national_app().await;
    let all = &files().procedures;
    let online = all.iter().filter(|p| p.level.online_submission()).count();
    let pages = online.div_ceil(20);

    // Page 1 of the online services: the count, 20 procedures, "next" and "last" only.
    let (_, first) = app.get_text("/thu-tuc?truc_tuyen=1").await;
    assert!(
        first.contains(&format!("Tìm thấy {online} thủ tục")),
        "total count"
    );
    assert!(first.contains(&format!("Trang 1 / {pages}")));
    assert_eq!(procedure_links(&first).len(), 20);
    assert_eq!(link(&first, "Trang trước"), None);
    assert_eq!(link(&first, "Trang đầu"), None);
    assert_eq!(
        link(&first, "Trang sau").as_deref(),
        Some("/thu-tuc?truc_tuyen=1&trang=2")
    );
    let last = link(&first, "Trang cuối").expect("last page link");
    assert_eq!(last, format!("/thu-tuc?truc_tuyen=1&trang={pages}"));

    // Following "next": page 2, with "first" and "previous" back to page 1, other procedures.
    let (_, second) = app
        .get_text(&link(&first, "Trang sau").expect("next"))
        .await;
    assert!(second.contains(&format!("Trang 2 / {pages}")));
    assert_eq!(
        link(&second, "Trang trước").as_deref(),
        Some("/thu-tuc?truc_tuyen=1&trang=1")
    );
    assert_eq!(
        link(&second, "Trang đầu").as_deref(),
        Some("/thu-tuc?truc_tuyen=1&trang=1")
    );
    let (p1, p2) = (procedure_links(&first), procedure_links(&second));
    assert!(p2.iter().all(|c| !p1.contains(c)), "page 2 follows page 1");

    // The last page: the remainder, no "next"/"last"; beyond it, the last page again.
    let (_, end) = app.get_text(&last).await;
    assert!(end.contains(&format!("Trang {pages} / {pages}")));
    assert_eq!(
        procedure_links(&end).len(),
        online - (pages - 1) * 20,
        "the rest on the last page"
    );
    assert_eq!(link(&end, "Trang sau"), None);
    assert_eq!(link(&end, "Trang cuối"), None);
    let (_, beyond) = app.get_text("/thu-tuc?truc_tuyen=1&trang=99999").await;
    assert!(beyond.contains(&format!("Trang {pages} / {pages}")));
    let (s, junk) = app.get_text("/thu-tuc?trang=abc").await;
    assert_eq!(s, 200);
    assert!(junk.contains("Trang 1 / "));

    // Every filter is kept in the links (GET forms, no JavaScript).
    let (_, filtered) = app
        .get_text(&format!(
            "/thu-tuc?q=gi%E1%BA%A5y+ph%C3%A9p&co_quan={AGENCY}&linh_vuc=H%E1%BB%99+t%E1%BB%8Bch&muc_do=4&truc_tuyen=1&hinh_thuc=toan_trinh"
        ))
        .await;
    let next = link(&filtered, "Trang sau").expect("a second page of filtered results");
    assert_eq!(
        next,
        format!(
            "/thu-tuc?q=gi%E1%BA%A5y%20ph%C3%A9p&co_quan={AGENCY}&linh_vuc=H%E1%BB%99%20t%E1%BB%8Bch&muc_do=4&truc_tuyen=1&hinh_thuc=toan_trinh&trang=2"
        )
    );
    let (_, filtered2) = app.get_text(&next).await;
    assert!(filtered2.contains("Trang 2 / "));

    // Grouped by field when listing.
    assert!(first.contains("<h2 class=\"group-title\">"));

    // Every catalogue page, with its CSS, within 14 KB compressed.
    let css = {
        let start = first
            .find("<link rel=\"stylesheet\" href=\"")
            .expect("css link")
            + 29;
        first[start..start + first[start..].find('"').expect("end")].to_string()
    };
    let css_bytes = {
        let r = app
            .client
            .get(app.url(&css))
            .header("accept-encoding", "br")
            .send()
            .await
            .expect("css");
        r.bytes().await.expect("css body").len()
    };
    for path in [
        "/thu-tuc",
        "/thu-tuc?truc_tuyen=1",
        "/thu-tuc?truc_tuyen=1&trang=2",
        last.as_str(),
        "/thu-tuc?q=giay+phep",
        "/thu-tuc?q=cap&trang=3",
        "/thu-tuc?linh_vuc=H%E1%BB%99+t%E1%BB%8Bch",
        "/thu-tuc?co_quan=000.00.02.H31&muc_do=3",
        "/thu-tuc?hinh_thuc=mot_phan",
        "/",
    ] {
        let (html, _) = wire_bytes(&app, path).await;
        eprintln!("{path}: {html} B HTML + {css_bytes} B CSS (br)");
        assert!(
            html + css_bytes <= BUDGET_BYTES,
            "{path}: {html} B of HTML + {css_bytes} B of CSS > {BUDGET_BYTES} B"
        );
    }
}

/// The order the catalogue promises: code match, name start, all words in the name, other
/// fields; then field, name, code.
fn expected_rank(p: &Procedure, fq: &str) -> u8 {
    if fold(&p.code).starts_with(fq) {
        0
    } else if fold(&p.name).starts_with(fq) {
        1
    } else if matches_words(&fold(&p.name), fq) {
        2
    } else {
        3
    }
}

async fn walk(app: &TestApp, query: &str, limit: usize) -> Vec<String> {
    let mut codes = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..=PROCEDURES {
        let mut url = format!("/api/v1/procedures?{query}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&url).await;
        assert_eq!(r.status().as_u16(), 200, "{url}");
        let v: Value = r.json().await.expect("json");
        let items = v["items"].as_array().expect("items");
        assert!(items.len() <= limit);
        codes.extend(
            items
                .iter()
                .map(|i| i["code"].as_str().expect("code").to_string()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), limit, "only the last page is short");
                cursor = Some(c.to_string());
            }
            None => return codes,
        }
    }
    panic!("the cursors never end");
}

#[tokio::test]
async fn national_catalogue_api_cursors_and_search_ranking() {
    let app = national_app().await;
    let all = &files().procedures;

    // Without a search: every procedure exactly once, by field, name, code.
    let mut expected: Vec<&Procedure> = all.iter().collect();
    expected.sort_by(|a, b| (&a.field, &a.name, &a.code).cmp(&(&b.field, &b.name, &b.code)));
    let walked = walk(&app, "", 200).await;
    assert_eq!(walked.len(), PROCEDURES);
    assert_eq!(
        walked,
        expected.iter().map(|p| p.code.clone()).collect::<Vec<_>>()
    );
    // The default page is 50.
    let v: Value = app
        .get("/api/v1/procedures")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["items"].as_array().expect("items").len(), 50);
    assert!(v["next_cursor"].is_string());

    // Searches through the API: exactly the procedures with every word (the last a prefix),
    // folded, in ranked order, each once.
    for (q, words) in [
        ("giay+phep+xay+dung", "giay phep xay dung"),
        ("%C4%90%C4%83ng+k%C3%BD", "dang ky"),
        ("dang+ky+khai+s", "dang ky khai s"),
        ("ho+tich", "ho tich"),
        ("9.0001", "9 0001"),
    ] {
        let mut want: Vec<&Procedure> = all
            .iter()
            .filter(|p| matches_words(&fold(&format!("{} {} {}", p.name, p.code, p.field)), words))
            .collect();
        want.sort_by(|a, b| {
            (expected_rank(a, words), &a.field, &a.name, &a.code).cmp(&(
                expected_rank(b, words),
                &b.field,
                &b.name,
                &b.code,
            ))
        });
        assert!(!want.is_empty(), "{q} finds something");
        let got = walk(&app, &format!("q={q}"), 37).await;
        let want: Vec<String> = want.iter().map(|p| p.code.clone()).collect();
        let mismatch = got.iter().zip(&want).position(|(g, w)| g != w);
        assert!(
            got.len() == want.len() && mismatch.is_none(),
            "q={q}: {} found, {} expected, first difference at {mismatch:?}",
            got.len(),
            want.len()
        );
    }

    // Ranking on the page, as people type.
    let first_of = |body: &str| procedure_links(body).into_iter().next();
    for (q, first) in [
        ("9.000123", "9.000123"),                   // a code
        ("1.001193", PROC),                         // a code
        ("dang+ky+khai+sinh", PROC),                // no diacritics
        ("%C4%91%C4%83ng+k%C3%BD+khai+sinh", PROC), // đ
        ("DANG+KY+KHAI+S", PROC),                   // prefix of the last word
        ("ho+tich", "2.000635"),                    // in a name before only in the field
    ] {
        let (_, body) = app.get_text(&format!("/thu-tuc?q={q}")).await;
        assert_eq!(first_of(&body).as_deref(), Some(first), "q={q}");
    }
    let (_, two) = app.get_text("/thu-tuc?q=dang+ky+khai+sinh").await;
    assert_eq!(
        procedure_links(&two)[..2],
        [PROC.to_string(), "1.004884".to_string()],
        "name start, then all words in the name"
    );
    // Only the last word is a prefix: "dan ky" is not "dang ky".
    let (_, none) = app.get_text("/thu-tuc?q=dan+ky+khai+sinh").await;
    assert!(none.contains("Tìm thấy 0 thủ tục"));

    // Bad limit or cursor: RFC 9457 problem details in Vietnamese.
    for bad in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "limit=-1",
        "cursor=%21%21",
        "cursor=e30",
    ] {
        let r = app.get(&format!("/api/v1/procedures?{bad}")).await;
        assert_eq!(r.status().as_u16(), 400, "{bad}");
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{bad}"
        );
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["status"], 400);
        let detail = v["detail"].as_str().expect("detail");
        assert!(
            detail.contains("Tham số limit") || detail.contains("Tham số cursor"),
            "{bad}: {detail}"
        );
    }
    // The OpenAPI document describes the page and the parameters.
    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    let params = doc["paths"]["/api/v1/procedures"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    for name in ["limit", "cursor", "q"] {
        assert!(
            params.iter().any(|p| p["name"] == name),
            "openapi lacks {name}"
        );
    }
    assert!(doc["components"]["schemas"]["ProcedurePage"]["properties"]["next_cursor"].is_object());
}
