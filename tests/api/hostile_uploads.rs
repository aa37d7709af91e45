//! The corpus of hostile uploads (`tests/fixtures/hostile/`, written by `generate.py`, outcomes in
//! `manifest.json`): polyglots (PDF header + HTML, GIF/HTML, JPEG header + script), wrong magic
//! bytes, SVG with script, a zip bomb, PDFs with JavaScript / launch actions / embedded files,
//! truncated files, pixel floods (50 000 × 50 000 PNG, 65 535 × 65 535 JPEG). Each is refused with
//! a clear Vietnamese message and nothing is stored. Accepted files under hostile names (`../`,
//! `%2e%2e/`, `..\`, right-to-left override, HTML, dot files, 300 characters) are stored under
//! generated keys, shown under a safe name, and served back as an attachment with a sandbox CSP.
//! The supplement and result uploads apply the same checks.

use crate::back_office::Official;
use crate::helpers::*;
use crate::hostile::{draft_rows, stored_files};
use dvc_domain::staff::Role;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Entry {
    file: String,
    client_name: String,
    expect: String,
    status: Option<u16>,
    message: Option<String>,
    shown_as: Option<String>,
}

fn corpus() -> Vec<(Entry, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    let manifest: Vec<Entry> =
        serde_json::from_str(include_str!("../fixtures/hostile/manifest.json")).expect("manifest");
    manifest
        .into_iter()
        .map(|e| {
            let bytes = std::fs::read(dir.join(&e.file)).expect("fixture");
            (e, bytes)
        })
        .collect()
}

fn no_draft_file(rows: &[(String, String, String, String)]) -> bool {
    rows.iter().all(|(_, _, _, files)| files == "{}")
}

#[tokio::test]
async fn every_hostile_upload_is_refused_with_a_clear_message_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let refused: Vec<_> = corpus()
        .into_iter()
        .filter(|(e, _)| e.expect == "refuse")
        .collect();
    assert!(refused.len() >= 18, "the corpus shrank");
    for (e, bytes) in refused {
        let csrf = app.open_form(PROC).await;
        let r = app
            .post_declaration(
                PROC,
                form_with(&csrf, &[], Some((bytes, e.client_name.as_str()))),
            )
            .await;
        let status = r.status().as_u16();
        let body = r.text().await.expect("body").replace("&#x2f;", "/");
        assert_eq!(Some(status), e.status, "{}: {body}", e.file);
        let message = e.message.as_deref().expect("message");
        assert!(
            body.contains(message),
            "{}: the page does not say “{message}”",
            e.file
        );
        // The message is tied to the upload field and listed in the error summary.
        assert!(body.contains("Giấy chứng sinh"), "{}", e.file);
        assert!(
            stored_files(&app).is_empty(),
            "{}: something was stored",
            e.file
        );
        assert!(no_draft_file(&draft_rows(&app).await), "{}", e.file);
        // What was typed is kept.
        assert!(body.contains("value=\"Trần Minh An\""), "{}", e.file);
    }
}

#[tokio::test]
async fn accepted_files_under_hostile_names_are_stored_under_generated_keys_and_served_as_attachments()
 {
    let app = TestApp::spawn().await;
    let accepted: Vec<_> = corpus()
        .into_iter()
        .filter(|(e, _)| e.expect == "accept")
        .collect();
    assert!(accepted.len() >= 7, "the corpus shrank");
    for (e, bytes) in accepted {
        let before = stored_files(&app);
        let csrf = app.open_form(PROC).await;
        let r = app
            .post_declaration(
                PROC,
                form_with(&csrf, &[], Some((bytes.clone(), e.client_name.as_str()))),
            )
            .await;
        assert_eq!(r.status().as_u16(), 303, "{}", e.file);
        let new: Vec<String> = stored_files(&app).difference(&before).cloned().collect();
        assert_eq!(new.len(), 1, "{}", e.file);
        // attachments/YYYY/MM/<uuid>: nothing from the client's name.
        let parts: Vec<&str> = new[0].split('/').collect();
        assert_eq!(parts.len(), 4, "{}", new[0]);
        assert_eq!(parts[0], "attachments");
        assert!(parts[1].len() == 4 && parts[2].len() == 2);
        assert!(uuid::Uuid::parse_str(parts[3]).is_ok(), "{}", new[0]);
        let shown = e.shown_as.as_deref().expect("shown_as");
        let (csrf, token, _, review) = app.review(PROC).await;
        let escaped = shown.replace('&', "&amp;").replace('"', "&quot;");
        assert!(
            review.contains(&escaped),
            "{}: review does not show {shown:?}",
            e.file
        );
        let r = app
            .send(PROC, &[("csrf", &csrf), ("submit_token", &token)])
            .await;
        assert_eq!(r.status().as_u16(), 303);
        let code = code_from_confirmation(&location(&r));
        let mail = app.mailbox.wait_for(&code, 10).await.expect("mail");
        let link = mail
            .lines()
            .find(|l| l.contains("/ho-so/xem/"))
            .expect("private link")
            .trim()
            .trim_start_matches(app.base.as_str())
            .to_string();
        let (_, page) = app.get_text(&link).await;
        let download = page
            .split('"')
            .find(|s| s.contains("/tep/"))
            .expect("attachment link")
            .to_string();
        let r = app.get(&download).await;
        assert_eq!(r.status().as_u16(), 200);
        let h = r.headers().clone();
        let kind = dvc_domain::form::FileKind::sniff(&bytes).expect("kind");
        assert_eq!(h["content-type"], kind.mime(), "{}", e.file);
        let cd = h["content-disposition"].to_str().expect("ascii");
        assert!(cd.starts_with("attachment;"), "{cd}");
        let encoded =
            percent_encoding::utf8_percent_encode(shown, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert!(
            cd.to_lowercase()
                .contains(&format!("filename*=utf-8''{}", encoded.to_lowercase()))
                || cd.contains(&format!("filename*=UTF-8''{shown}")),
            "{}: {cd}",
            e.file
        );
        assert!(!cd.contains(['/', '\\']) || cd.contains("%2F"), "{cd}");
        let csp = h["content-security-policy"].to_str().expect("csp");
        assert!(
            csp.contains("sandbox") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(
            r.bytes().await.expect("bytes").to_vec(),
            bytes,
            "{}",
            e.file
        );
    }
}

/// A filed dossier waiting for a supplement: its code, the officer who asked, the private link.
pub async fn to_supplement(app: &TestApp) -> (String, Official, String) {
    let code = app.submit_birth_registration().await;
    let reception = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let r = reception
        .act(
            app,
            &code,
            "yeu-cau-bo-sung",
            &[
                ("reason", "Thiếu giấy chứng sinh."),
                ("missing", "giay_chung_sinh"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let mail = app
        .mailbox
        .wait_for("Giấy tờ cần bổ sung", 10)
        .await
        .expect("mail");
    let link = mail
        .lines()
        .find(|l| l.contains("/ho-so/xem/"))
        .expect("link")
        .trim()
        .trim_start_matches(app.base.as_str())
        .to_string();
    (code, reception, link)
}

#[tokio::test]
async fn supplement_uploads_apply_the_same_checks() {
    let app = TestApp::spawn().await;
    let (code, _, link) = to_supplement(&app).await;
    let before = stored_files(&app);
    for (e, bytes) in corpus().into_iter().filter(|(e, _)| {
        matches!(
            e.file.as_str(),
            "pdf-then-html.pdf" | "pixel-flood.png" | "archive.zip" | "pdf-truncated.pdf"
        )
    }) {
        let r = app
            .send_supplement(&link, bytes, &e.client_name, None)
            .await;
        assert_eq!(r.status().as_u16(), 422, "{}", e.file);
        let body = r.text().await.expect("body");
        assert!(
            body.contains(e.message.as_deref().expect("message")),
            "{}: {body}",
            e.file
        );
        assert_eq!(stored_files(&app), before, "{}", e.file);
    }
    let st: serde_json::Value = app
        .get(&format!("/api/v1/dossiers/{code}/status"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(st["status"], "awaiting_supplement");
}

#[tokio::test]
async fn result_upload_applies_the_same_checks() {
    let app = TestApp::spawn().await;
    let code = app.submit_birth_registration().await;
    let reception = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let specialist = app
        .official("chuyenvien@hongbang.gov.vn", Role::Specialist, AGENCY)
        .await;
    let leader = app
        .official("lanhdao@hongbang.gov.vn", Role::Leader, AGENCY)
        .await;
    assert_eq!(
        reception
            .act(&app, &code, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    // Only the official holding the dossier submits it for approval.
    crate::one_stop::forward(&app, &reception, &code, "chuyenvien@hongbang.gov.vn").await;
    for (who, action) in [(&specialist, "trinh-phe-duyet"), (&leader, "phe-duyet")] {
        assert_eq!(
            who.act(&app, &code, action, &[]).await.status().as_u16(),
            303,
            "{action}"
        );
    }
    let before = stored_files(&app);
    for (e, bytes) in corpus().into_iter().filter(|(e, _)| {
        matches!(
            e.file.as_str(),
            "pdf-javascript.pdf" | "pixel-flood.jpg" | "svg-with-script.svg"
        )
    }) {
        let form = reqwest::multipart::Form::new()
            .text("csrf", reception.csrf.clone())
            .part(
                "result_file",
                reqwest::multipart::Part::bytes(bytes).file_name(e.client_name.clone()),
            );
        let r = reception
            .client
            .post(app.url(&format!("/can-bo/ho-so/{code}/thao-tac/tra-ket-qua")))
            .multipart(form)
            .send()
            .await
            .expect("return");
        assert_eq!(r.status().as_u16(), 422, "{}", e.file);
        let body = r.text().await.expect("body");
        assert!(body.contains("Tệp kết quả"), "{body}");
        assert!(
            body.contains(e.message.as_deref().expect("message")),
            "{}: {body}",
            e.file
        );
        assert_eq!(stored_files(&app), before, "{}", e.file);
    }
}

/// File names with NUL, escape sequences, CR/LF or bidi controls: either the request is refused
/// as unreadable (a clear Vietnamese message, nothing stored), or the file is accepted under a
/// generated key and shown under a name without any of those characters.
#[tokio::test]
async fn file_names_with_nul_and_control_characters_are_refused_or_cleaned() {
    let app = TestApp::spawn().await;
    for name in [
        "giay\u{0}.pdf",
        "\u{0}",
        "a\u{1b}[31mđỏ.pdf",
        "a\r\nContent-Type: text/html\r\n\r\n<script>.pdf",
        "tab\tand\u{7f}del.pdf",
        "\u{202e}fdp.exe",
        "\u{200b}\u{feff}.pdf",
    ] {
        let before = stored_files(&app);
        let csrf = app.open_form(PROC).await;
        let r = app
            .post_declaration(PROC, form_with(&csrf, &[], Some((valid_pdf(), name))))
            .await;
        let status = r.status().as_u16();
        let body = r.text().await.expect("body");
        match status {
            400 => {
                assert!(body.contains("không đọc được"), "{name:?}: {body}");
                assert_eq!(stored_files(&app), before, "{name:?}");
            }
            303 => {
                let rows = draft_rows(&app).await;
                let files: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&rows[0].3).expect("json");
                let shown = files["tep_giay_chung_sinh"]["file_name"]
                    .as_str()
                    .expect("name")
                    .to_string();
                assert!(
                    !shown.chars().any(|c| c.is_control()
                        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{feff}')),
                    "{name:?} shown as {shown:?}"
                );
                assert!(!shown.contains(['<', '>', '/', '\\']), "{shown:?}");
            }
            other => panic!("{name:?}: {other}"),
        }
    }
}
