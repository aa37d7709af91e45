//! Antivirus scanning with a real ClamAV daemon ([`crate::clamav`]) on every upload path: the
//! declaration, the supplement and the official's result file. Infected: refused with a message
//! naming the file, nothing stored, an `upload_infected` audit entry. Clean: stored. Scanner not
//! answering: 503 with a Vietnamese "try again shortly", nothing stored, the draft kept, and
//! `/healthz` degraded until the scanner is back.

use crate::back_office::Official;
use crate::clamav::{EICAR, EICAR_SIGNATURE, MARKER_SIGNATURE, Relay, clamd, pdf_with_marker};
use crate::helpers::*;
use crate::hostile::{draft_rows, referenced_keys, stored_files};
use crate::hostile_uploads::to_supplement;
use dvc_domain::staff::Role;

const BUSY: &str = "Hệ thống kiểm tra tệp đang bận, Ông/Bà vui lòng thử lại sau ít phút";

fn infected(name: &str) -> String {
    format!("Tệp “{name}” có chứa mã độc (virus) nên không được tiếp nhận")
}

/// The `upload_infected` audit entries: (actor, ip, subject, reason).
async fn infected_entries(app: &TestApp) -> Vec<(String, String, String, Option<String>)> {
    app.seal_audit().await;
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT actor, ip, subject, reason FROM audit_log WHERE action = 'upload_infected' ORDER BY seq")
            .fetch_all(p).await.expect("audit entries")
    })
}

async fn status_of(app: &TestApp, code: &str) -> String {
    let st: serde_json::Value = app
        .get(&format!("/api/v1/dossiers/{code}/status"))
        .await
        .json()
        .await
        .expect("json");
    st["status"].as_str().expect("status").to_string()
}

/// A page's text, with minijinja's `&#x2f;` turned back into `/` (as in "Ông/Bà").
async fn text(r: reqwest::Response) -> String {
    r.text().await.expect("body").replace("&#x2f;", "/")
}

async fn health(app: &TestApp) -> (u16, String) {
    app.get_text("/healthz").await
}

/// Every draft of the app holds no file.
async fn drafts_hold_no_file(app: &TestApp) -> bool {
    draft_rows(app).await.iter().all(|(_, _, _, files)| {
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(files)
            .expect("draft files JSON")
            .is_empty()
    })
}

#[tokio::test]
async fn infected_declaration_uploads_are_refused_named_audited_and_never_stored() {
    let app = TestApp::builder().clamd(&clamd().tcp_url).spawn().await;
    assert_eq!(health(&app).await, (200, "ok".to_string()));
    let cases = [
        // EICAR is not even a PDF: the scanner speaks first.
        (EICAR.to_vec(), "eicar-chung-sinh.pdf", EICAR_SIGNATURE),
        // A well-formed PDF that the content checks accept: only the scanner stops it.
        (pdf_with_marker(), "ban-quet-nhiem.pdf", MARKER_SIGNATURE),
    ];
    for (bytes, name, _) in &cases {
        let csrf = app.open_form(PROC).await;
        let r = app
            .post_declaration(PROC, form_with(&csrf, &[], Some((bytes.clone(), name))))
            .await;
        assert_eq!(r.status().as_u16(), 422, "{name}");
        let body = text(r).await;
        assert!(body.contains(&infected(name)), "{name}: {body}");
        assert!(stored_files(&app).is_empty(), "{name}: nothing stored");
        assert!(drafts_hold_no_file(&app).await, "{name}: no draft file");
        // What was typed is kept.
        assert!(body.contains("value=\"Trần Minh An\""), "{name}");
    }
    let entries = infected_entries(&app).await;
    let expected: Vec<_> = cases
        .iter()
        .map(|(_, name, sig)| {
            (
                "citizen".to_string(),
                String::new(),
                name.to_string(),
                Some(sig.to_string()),
            )
        })
        .collect();
    assert_eq!(entries, expected);

    // A clean PDF goes through, is stored, and the dossier can be filed.
    let csrf = app.open_form(PROC).await;
    let r = app
        .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(stored_files(&app).len(), 1);
    let (csrf, token, _, _) = app.review(PROC).await;
    let r = app
        .send(PROC, &[("csrf", &csrf), ("submit_token", &token)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(infected_entries(&app).await.len(), 2);
}

#[tokio::test]
async fn an_infected_supplement_is_refused_and_the_dossier_still_waits() {
    // Over the Unix socket this time.
    let app = TestApp::builder().clamd(&clamd().unix_url).spawn().await;
    let (code, _, link) = to_supplement(&app).await;
    let files = stored_files(&app);
    let keys = referenced_keys(&app).await;
    let r = app
        .send_supplement(&link, EICAR.to_vec(), "bo-sung.pdf", Some("Gửi bổ sung"))
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let body = text(r).await;
    assert!(body.contains(&infected("bo-sung.pdf")), "{body}");
    assert_eq!(stored_files(&app), files, "nothing stored");
    assert_eq!(referenced_keys(&app).await, keys, "no attachment");
    assert_eq!(status_of(&app, &code).await, "awaiting_supplement");
    assert_eq!(
        infected_entries(&app).await,
        vec![(
            "citizen".into(),
            String::new(),
            "bo-sung.pdf".into(),
            Some(EICAR_SIGNATURE.into())
        )]
    );
    let r = app
        .send_supplement(&link, valid_pdf(), "bo-sung.pdf", None)
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(stored_files(&app).len(), files.len() + 1);
    assert_ne!(status_of(&app, &code).await, "awaiting_supplement");
}

async fn upload_result(
    app: &TestApp,
    official: &Official,
    code: &str,
    bytes: Vec<u8>,
    name: &str,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("csrf", official.csrf.clone())
        .part(
            "result_file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
    official
        .client
        .post(app.url(&format!("/can-bo/ho-so/{code}/thao-tac/tra-ket-qua")))
        .multipart(form)
        .send()
        .await
        .expect("return result")
}

#[tokio::test]
async fn an_infected_result_file_is_refused_and_a_silent_scanner_fails_closed() {
    let mut relay = Relay::start().await;
    let app = TestApp::builder().clamd(&relay.url).spawn().await;
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
    // Submitting for approval is the assignee's: the dossier is forwarded to the specialist.
    let (specialist_id,): (i64,) = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT id FROM staff WHERE email = 'chuyenvien@hongbang.gov.vn'").fetch_one(p).await.expect("id")
    });
    let specialist_id = specialist_id.to_string();
    for (who, action, fields) in [
        (&reception, "tiep-nhan", vec![]),
        (
            &reception,
            "chuyen-xu-ly",
            vec![("assignee_id", specialist_id.as_str())],
        ),
        (&specialist, "trinh-phe-duyet", vec![]),
        (&leader, "phe-duyet", vec![]),
    ] {
        assert_eq!(
            who.act(&app, &code, action, &fields)
                .await
                .status()
                .as_u16(),
            303,
            "{action}"
        );
    }
    let approved = status_of(&app, &code).await;
    let files = stored_files(&app);

    // The scanner stops answering: the result is refused for now, nothing stored.
    relay.cut().await;
    let r = upload_result(&app, &reception, &code, result_pdf(), "ket-qua.pdf").await;
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(text(r).await.contains(BUSY));
    assert_eq!(stored_files(&app), files);
    assert_eq!(status_of(&app, &code).await, approved);

    relay.restore().await;
    let r = upload_result(&app, &reception, &code, pdf_with_marker(), "ket-qua.pdf").await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(text(r).await.contains(&infected("ket-qua.pdf")));
    assert_eq!(stored_files(&app), files, "nothing stored");
    assert_eq!(status_of(&app, &code).await, approved);
    assert_eq!(
        infected_entries(&app).await,
        vec![(
            "motcua@hongbang.gov.vn".into(),
            String::new(),
            "ket-qua.pdf".into(),
            Some(MARKER_SIGNATURE.into())
        )]
    );

    let r = upload_result(&app, &reception, &code, result_pdf(), "ket-qua.pdf").await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(stored_files(&app).len(), files.len() + 1);
    assert_ne!(status_of(&app, &code).await, approved);
}

#[tokio::test]
async fn a_scanner_that_does_not_answer_keeps_the_draft_stores_nothing_and_degrades_healthz() {
    let mut relay = Relay::start().await;
    let app = TestApp::builder().clamd(&relay.url).spawn().await;
    assert_eq!(health(&app).await, (200, "ok".to_string()));
    let (code, _, link) = to_supplement(&app).await;
    let files = stored_files(&app);
    let keys = referenced_keys(&app).await;

    relay.cut().await;
    let (status, body) = health(&app).await;
    assert_eq!(status, 200, "the node still serves everything but uploads");
    assert_eq!(body, "degraded: antivirus scanner unavailable");

    // A declaration: 503, the draft keeps what was typed, no file, not ready to file.
    let citizen = app.shallow_clone();
    let csrf = citizen.open_form(PROC).await;
    let r = citizen
        .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("60")
    );
    let body = text(r).await;
    assert!(body.contains(BUSY), "{body}");
    assert!(body.contains("lang=\"vi\""));
    assert_eq!(stored_files(&app), files);
    assert_eq!(referenced_keys(&app).await, keys);
    let (_, form) = citizen
        .get_text(&format!("/thu-tuc/{PROC}/nop-ho-so"))
        .await;
    assert!(form.contains("value=\"Trần Minh An\""), "answers kept");
    let (review, _) = citizen
        .get_text(&format!("/thu-tuc/{PROC}/nop-ho-so/kiem-tra"))
        .await;
    assert_ne!(review, 200, "the declaration stays a draft");

    // A supplement: 503, the dossier still waits, nothing stored.
    let r = app
        .send_supplement(&link, valid_pdf(), "bo-sung.pdf", None)
        .await;
    assert_eq!(r.status().as_u16(), 503);
    assert!(text(r).await.contains(BUSY));
    assert_eq!(stored_files(&app), files);
    assert_eq!(referenced_keys(&app).await, keys);
    assert_eq!(status_of(&app, &code).await, "awaiting_supplement");
    assert!(infected_entries(&app).await.is_empty());

    // Back again: healthy, and the same uploads go through.
    relay.restore().await;
    assert_eq!(health(&app).await, (200, "ok".to_string()));
    let csrf = citizen.open_form(PROC).await;
    let r = citizen
        .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let r = app
        .send_supplement(&link, valid_pdf(), "bo-sung.pdf", None)
        .await;
    assert_eq!(r.status().as_u16(), 303);
}
