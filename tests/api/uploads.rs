//! Uploads: checked by content, size enforced while streaming, stored under generated names.

use crate::helpers::*;

#[tokio::test]
async fn disguised_upload_is_refused_and_not_stored() {
    let app = TestApp::spawn().await;
    let csrf = app.open_form(PROC).await;
    let html = b"<html><script>alert(1)</script></html>".to_vec();
    let r = app
        .post_declaration(
            PROC,
            form_with(&csrf, &[], Some((html, "giay-chung-sinh.pdf"))),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let body = r.text().await.expect("body");
    assert!(body.contains("không phải PDF, JPG hoặc PNG"));
    assert_eq!(count_files(&app.dir.join("files")), 0, "nothing stored");
}

#[tokio::test]
async fn oversized_upload_gets_413_and_answers_are_kept() {
    let app = TestApp::spawn().await;
    let csrf = app.open_form(PROC).await;
    let mut big = valid_pdf();
    big.resize(11 * 1024 * 1024, b' ');
    let r = app
        .post_declaration(PROC, form_with(&csrf, &[], Some((big, "to.pdf"))))
        .await;
    assert_eq!(r.status().as_u16(), 413);
    let body = r.text().await.expect("body");
    assert!(body.contains("lớn hơn 10 MB"));
    assert_eq!(count_files(&app.dir.join("files")), 0);
    // What was typed before the file is kept.
    let (_, form) = app.get_text(&format!("/thu-tuc/{PROC}/nop-ho-so")).await;
    assert!(form.contains("value=\"Trần Minh An\""));
}

#[tokio::test]
async fn stored_under_generated_name_and_traversal_names_are_harmless() {
    let app = TestApp::spawn().await;
    let csrf = app.open_form(PROC).await;
    // A control character in the file name makes the request unreadable: a clear 400, nothing stored.
    let r = app
        .post_declaration(
            PROC,
            form_with(&csrf, &[], Some((valid_pdf(), "bad\u{7}name.pdf"))),
        )
        .await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.expect("body").contains("không đọc được"));
    assert_eq!(list_files(&app.dir.join("files")).len(), 0);
    let csrf = app.open_form(PROC).await;
    let r = app
        .post_declaration(
            PROC,
            form_with(&csrf, &[], Some((valid_pdf(), "../../etc/passwd.pdf"))),
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let names = list_files(&app.dir.join("files"));
    assert_eq!(names.len(), 1);
    assert!(!names[0].contains("passwd") && !names[0].contains(".."));
    let (_, review) = app
        .get_text(&format!("/thu-tuc/{PROC}/nop-ho-so/kiem-tra"))
        .await;
    assert!(review.contains("passwd.pdf") && !review.contains("../"));
    // Replacing the file deletes the old one.
    let csrf = app.open_form(PROC).await;
    let r = app
        .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(list_files(&app.dir.join("files")).len(), 1);
}

fn list_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(list_files(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

fn count_files(dir: &std::path::Path) -> usize {
    list_files(dir).len()
}
