//! The procedure editor (issue 22 items 3 and 5): create → draft → publish; a citizen files on
//! the new version while a dossier filed on the old one still shows the old form; publishing a
//! form that makes citizens' checked drafts invalid warns first; versions readable, TOML out
//! and in, retire, every action in the audit log.

use crate::back_office::Official;
use crate::helpers::*;
use dvc_domain::catalog::Procedure;
use dvc_domain::staff::Role;

const EXTRA: &str = "\n[[sections]]\ntitle = \"Thông tin bổ sung\"\n\n[[sections.fields]]\nname = \"me_nghe_nghiep\"\nlabel = \"Nghề nghiệp của mẹ\"\ntype = \"text\"\nrequired = true\nmax_length = 80\n";

async fn post(
    app: &TestApp,
    o: &Official,
    path: &str,
    fields: &[(String, String)],
) -> reqwest::Response {
    let mut all: Vec<(String, String)> = vec![("csrf".into(), o.csrf.clone())];
    all.extend_from_slice(fields);
    o.client
        .post(app.url(path))
        .form(&all)
        .send()
        .await
        .expect("post")
}

fn input_of(p: &Procedure) -> Vec<(String, String)> {
    dvc_domain::editor::to_input(p).into_iter().collect()
}

fn with(mut fields: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    fields.retain(|(k, _)| k != key);
    fields.push((key.into(), value.into()));
    fields
}

async fn audit_actions(app: &TestApp, subject: &str) -> Vec<String> {
    let subject = subject.to_string();
    app.seal_audit().await;
    let rows: Vec<(String,)> = dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT action FROM audit_log WHERE subject = $1 ORDER BY seq")
            .bind(&subject).fetch_all(p).await.expect("audit")
    });
    rows.into_iter().map(|r| r.0).collect()
}

#[tokio::test]
async fn a_published_form_applies_to_new_dossiers_and_old_dossiers_keep_theirs() {
    let app = TestApp::spawn().await;
    let admin = app
        .official("quantri@hongbang.gov.vn", Role::Admin, AGENCY)
        .await;
    let officer = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    // A dossier filed on version 1.
    let v1_code = app.submit_birth_registration().await;
    // A citizen with a checked declaration on version 1, not sent yet.
    let waiting = app.shallow_clone();
    let csrf = waiting.open_form(PROC).await;
    assert_eq!(
        waiting
            .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
            .await
            .status()
            .as_u16(),
        303
    );

    // The editor: the list, the procedure, then a draft with one more required field.
    let (s, page) = admin.get(&app, "/can-bo/quan-tri/thu-tuc").await;
    assert_eq!(s, 200);
    assert!(page.contains(PROC));
    let (s, page) = admin
        .get(&app, &format!("/can-bo/quan-tri/thu-tuc/{PROC}/sua"))
        .await;
    assert_eq!(s, 200);
    assert!(page.contains("name=\"form\""));
    let live = app.state.catalog().procedure(PROC).expect("live");
    let input = input_of(&live);
    let form = input
        .iter()
        .find(|(k, _)| k == "form")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let r = post(
        &app,
        &admin,
        &format!("/can-bo/quan-tri/thu-tuc/{PROC}/sua"),
        &with(input.clone(), "form", &(form.clone() + EXTRA)),
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = admin
        .get(&app, &format!("/can-bo/quan-tri/thu-tuc/{PROC}"))
        .await;
    assert!(
        page.contains("Bản nháp: <strong>phiên bản 2</strong>"),
        "{page}"
    );
    // A draft changes nothing for citizens.
    let (_, citizen_page) = app.get_text(&format!("/thu-tuc/{PROC}/nop-ho-so")).await;
    assert!(!citizen_page.contains("Nghề nghiệp của mẹ"));

    // Publishing would make the waiting citizen's checked declaration invalid: a warning first.
    let r = post(
        &app,
        &admin,
        &format!("/can-bo/quan-tri/thu-tuc/{PROC}/xuat-ban"),
        &[],
    )
    .await;
    assert_eq!(r.status().as_u16(), 409);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("Xuất bản sẽ làm 1 bản nháp hồ sơ của người dân không còn hợp lệ"),
        "{body}"
    );
    assert!(body.contains("name=\"xac_nhan\" value=\"1\""));
    assert!(
        !app.get_text(&format!("/thu-tuc/{PROC}/nop-ho-so"))
            .await
            .1
            .contains("Nghề nghiệp của mẹ")
    );
    let r = post(
        &app,
        &admin,
        &format!("/can-bo/quan-tri/thu-tuc/{PROC}/xuat-ban"),
        &[("xac_nhan".into(), "1".into())],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        app.state.catalog().summary(PROC).map(|s| s.version),
        Some(2)
    );

    // The waiting citizen must now fill in the new field before sending.
    let (csrf, token, _, _) = waiting.review(PROC).await;
    let r = waiting
        .send(PROC, &[("csrf", &csrf), ("submit_token", &token)])
        .await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Nhập nghề nghiệp của mẹ.")
    );

    // A citizen files on version 2.
    let csrf = app.open_form(PROC).await;
    let (_, page) = app.get_text(&format!("/thu-tuc/{PROC}/nop-ho-so")).await;
    assert!(page.contains("Nghề nghiệp của mẹ"));
    let r = app
        .post_declaration(
            PROC,
            form_with(
                &csrf,
                &[("me_nghe_nghiep", Some("Giáo viên"))],
                Some((valid_pdf(), "giay-chung-sinh.pdf")),
            ),
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (csrf, token, _, _) = app.review(PROC).await;
    let r = app
        .send(PROC, &[("csrf", &csrf), ("submit_token", &token)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let v2_code = code_from_confirmation(&location(&r));

    // The back office shows each dossier with its own version.
    let (s, old) = officer.get(&app, &format!("/can-bo/ho-so/{v1_code}")).await;
    assert_eq!(s, 200);
    assert!(
        !old.contains("Nghề nghiệp của mẹ"),
        "the v1 dossier shows the v2 form"
    );
    assert!(old.contains("Trần Minh An"));
    let (_, new) = officer.get(&app, &format!("/can-bo/ho-so/{v2_code}")).await;
    assert!(new.contains("Nghề nghiệp của mẹ") && new.contains("Giáo viên"));
    // Earlier versions stay readable; each exports as a catalogue file.
    let (s, v1) = admin
        .get(
            &app,
            &format!("/can-bo/quan-tri/thu-tuc/{PROC}/phien-ban/1"),
        )
        .await;
    assert_eq!(s, 200);
    assert!(!v1.contains("Nghề nghiệp của mẹ"));
    let r = admin
        .client
        .get(app.url(&format!("/can-bo/quan-tri/thu-tuc/{PROC}/toml?phien-ban=2")))
        .send()
        .await
        .expect("toml");
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap_or_default()
            .contains(".toml")
    );
    let exported = Procedure::from_toml(&r.text().await.expect("text"))
        .expect("the export is a catalogue file");
    assert!(
        exported
            .form
            .as_ref()
            .and_then(|f| f.field("me_nghe_nghiep"))
            .is_some()
    );

    // Every editor action is in the audit log.
    let actions = audit_actions(&app, PROC).await;
    assert!(
        actions.contains(&"procedure_draft_save".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"procedure_publish".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_new_procedure_from_draft_to_catalogue_import_and_retire() {
    let app = TestApp::spawn().await;
    let admin = app
        .official("quantri@hongbang.gov.vn", Role::Admin, AGENCY)
        .await;
    let base = app.state.catalog().procedure("1.000656").expect("khai tu");
    let mut input = with(input_of(&base), "code", "9.999001");
    input = with(input, "name", "Thủ tục thử nghiệm của biên tập viên");
    // A broken form: the message names the line.
    let bad = with(
        input.clone(),
        "form",
        "title = \"T\"\n[[sections]]\ntitle = \"A\"\n[[sections.fields]]\nname = \"x\"\nlabel = \"X\"\ntype = \"chu\"\n",
    );
    let r = post(&app, &admin, "/can-bo/quan-tri/thu-tuc/moi", &bad).await;
    assert_eq!(r.status().as_u16(), 422);
    let body = r.text().await.expect("body");
    assert!(body.contains("Dòng 7"), "{body}");
    assert!(body.contains("href=\"#f-form\""));
    // The code of an existing procedure is refused.
    let r = post(
        &app,
        &admin,
        "/can-bo/quan-tri/thu-tuc/moi",
        &with(input.clone(), "code", "1.000656"),
    )
    .await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Đã có thủ tục mã 1.000656")
    );

    let r = post(&app, &admin, "/can-bo/quan-tri/thu-tuc/moi", &input).await;
    assert_eq!(r.status().as_u16(), 303);
    // A draft only: not in the catalogue, nor in its search.
    assert_eq!(app.get("/thu-tuc/9.999001").await.status().as_u16(), 404);
    let r = post(
        &app,
        &admin,
        "/can-bo/quan-tri/thu-tuc/9.999001/xuat-ban",
        &[],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let (s, page) = app.get_text("/thu-tuc/9.999001").await;
    assert_eq!(s, 200);
    assert!(page.contains("Thủ tục thử nghiệm của biên tập viên"));
    let (_, found) = app.get_text("/thu-tuc?q=thu+nghiem+bien+tap").await;
    assert!(
        found.contains("9.999001"),
        "the search index follows the publication"
    );

    // Import of a catalogue file: a draft of its procedure.
    let r = admin
        .client
        .get(app.url("/can-bo/quan-tri/thu-tuc/9.999001/toml"))
        .send()
        .await
        .expect("export");
    let toml = r.text().await.expect("toml").replace(
        "Thủ tục thử nghiệm của biên tập viên",
        "Thủ tục thử nghiệm, bản nhập",
    );
    let r = post(
        &app,
        &admin,
        "/can-bo/quan-tri/thu-tuc/nhap",
        &[("toml".into(), toml)],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = admin.get(&app, "/can-bo/quan-tri/thu-tuc/9.999001").await;
    assert!(page.contains("Thủ tục thử nghiệm, bản nhập") && page.contains("Bản nháp"));
    let r = post(
        &app,
        &admin,
        "/can-bo/quan-tri/thu-tuc/nhap",
        &[("toml".into(), "code = \"9.1\"\nname = 3\n".into())],
    )
    .await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.expect("body").contains("Dòng 2"));

    // Retire: no longer listed nor offered; then back.
    let r = post(
        &app,
        &admin,
        "/can-bo/quan-tri/thu-tuc/9.999001/ngung-ap-dung",
        &[("retired".into(), "1".into())],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let (s, page) = app.get_text("/thu-tuc/9.999001").await;
    assert_eq!(s, 404);
    assert!(page.contains("đã ngừng áp dụng"));
    // Nor through the API: not described, not filed by a partner system.
    let (s, body) = app.get_text("/api/v1/procedures/9.999001").await;
    assert_eq!(s, 404);
    assert!(body.contains("đã ngừng áp dụng"), "{body}");
    let (_, client_id, secret) =
        crate::partners::create_partner(&app, "Một cửa", AGENCY, "dossiers:write").await;
    let token = crate::partners::token(&app, &client_id, &secret).await;
    let r = app
        .client
        .post(app.url("/api/v1/dossiers"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "procedure_code": "9.999001", "agency_code": AGENCY, "answers": {} }))
        .send()
        .await
        .expect("file");
    assert_eq!(r.status().as_u16(), 422);
    let problem: serde_json::Value = r.json().await.expect("json");
    assert_eq!(problem["errors"][0]["field"], "procedure_code", "{problem}");
    assert!(
        !app.get_text("/thu-tuc?q=thu+nghiem")
            .await
            .1
            .contains("9.999001")
    );
    let r = post(
        &app,
        &admin,
        "/can-bo/quan-tri/thu-tuc/9.999001/ngung-ap-dung",
        &[("retired".into(), "0".into())],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(app.get("/thu-tuc/9.999001").await.status().as_u16(), 200);

    let actions = audit_actions(&app, "9.999001").await;
    for a in [
        "procedure_create",
        "procedure_publish",
        "procedure_import",
        "procedure_retire",
        "procedure_restore",
    ] {
        assert!(
            actions.contains(&a.to_string()),
            "{a} not audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn only_administrators_open_the_editor() {
    let app = TestApp::spawn().await;
    let officer = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    for path in [
        "/can-bo/quan-tri/thu-tuc".to_string(),
        "/can-bo/quan-tri/thu-tuc/moi".to_string(),
        format!("/can-bo/quan-tri/thu-tuc/{PROC}"),
        format!("/can-bo/quan-tri/thu-tuc/{PROC}/sua"),
        format!("/can-bo/quan-tri/thu-tuc/{PROC}/phien-ban/1"),
        format!("/can-bo/quan-tri/thu-tuc/{PROC}/toml"),
    ] {
        assert_eq!(officer.get(&app, &path).await.0, 403, "{path}");
        // Without a login: to the login page.
        let r = client().get(app.url(&path)).send().await.expect("get");
        assert_eq!(r.status().as_u16(), 303, "{path}");
    }
    let admin = app
        .official("quantri@hongbang.gov.vn", Role::Admin, AGENCY)
        .await;
    // CSRF: a post without the token changes nothing.
    let r = admin
        .client
        .post(app.url(&format!("/can-bo/quan-tri/thu-tuc/{PROC}/ngung-ap-dung")))
        .form(&[("retired", "1")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        app.get(&format!("/thu-tuc/{PROC}")).await.status().as_u16(),
        200
    );
    assert_eq!(
        crate::authorization::save_procedure_draft(&app, &officer).await,
        403
    );
    assert_eq!(
        crate::authorization::save_procedure_draft(&app, &admin).await,
        303
    );
}

/// Another node published (written straight to the database here): this node follows within a
/// few seconds, search index included.
#[tokio::test]
async fn a_publication_on_another_node_reaches_this_one() {
    let app = TestApp::spawn().await;
    let mut p = (*app.state.catalog().procedure("1.000656").expect("khai tu")).clone();
    p.name = "Đăng ký khai tử (sửa ở nút khác)".into();
    dichvucong::store::procedures::save_draft(&app.state.db, &p, "other-node", 1)
        .await
        .expect("draft");
    dichvucong::store::procedures::publish(&app.state.db, "1.000656", "other-node", 2)
        .await
        .expect("publish")
        .expect("a draft");
    let followed = wait_until(30, || async {
        app.get_text("/thu-tuc?q=sua+o+nut+khac")
            .await
            .1
            .contains("1.000656")
    })
    .await;
    assert!(followed, "the catalogue was not reloaded");
    assert_eq!(
        app.state.catalog().summary("1.000656").map(|s| s.version),
        Some(2)
    );
}
