//! Catalogue pages and search.

use crate::helpers::*;

#[tokio::test]
async fn search_with_and_without_diacritics() {
    let app = TestApp::spawn().await;
    for q in [
        "dang+ky+khai+sinh",
        "DANG+KY+KHAI+SINH",
        "%C4%91%C4%83ng+k%C3%BD+khai+sinh",
        "Dang%20ky",
        "1.001193",
    ] {
        let (s, body) = app.get_text(&format!("/thu-tuc?q={q}")).await;
        assert_eq!(s, 200);
        assert!(
            body.contains("Đăng ký khai sinh"),
            "query {q} did not find it"
        );
    }
    let (_, body) = app.get_text("/thu-tuc?q=ket+hon").await;
    assert!(body.contains("Đăng ký kết hôn") && !body.contains(">Đăng ký khai sinh<"));
    let (_, none) = app.get_text("/thu-tuc?q=zzzz").await;
    assert!(none.contains("Tìm thấy 0 thủ tục"));
}

#[tokio::test]
async fn filters_by_level_field_and_agency() {
    let app = TestApp::spawn().await;
    let (_, l2) = app.get_text("/thu-tuc?muc_do=2").await;
    assert!(l2.contains("Chứng thực chữ ký") && !l2.contains("Đăng ký khai sinh"));
    let (_, field) = app
        .get_text("/thu-tuc?linh_vuc=Ch%E1%BB%A9ng+th%E1%BB%B1c")
        .await;
    assert!(
        field.contains("Chứng thực bản sao từ bản chính") && !field.contains("Đăng ký kết hôn")
    );
    let (_, agency) = app.get_text(&format!("/thu-tuc?co_quan={AGENCY}")).await;
    assert!(agency.contains("Đăng ký khai sinh"));
    let (_, tt) = app.get_text("/thu-tuc?hinh_thuc=toan_trinh").await;
    assert!(tt.contains("Đăng ký khai sinh") && !tt.contains("Đăng ký kết hôn"));
    // Nonsense filters are ignored, not errors.
    let (s, _) = app
        .get_text("/thu-tuc?muc_do=abc&co_quan=%00&truc_tuyen=xyz")
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn level_rules_on_procedure_pages() {
    let app = TestApp::spawn().await;
    // Level 2: template download, no online filing.
    let (s, l2) = app.get_text("/thu-tuc/2.000884").await;
    assert_eq!(s, 200);
    assert!(l2.contains("Mẫu đơn, tờ khai") && !l2.contains("/nop-ho-so\""));
    let (s, _) = app.get_text("/thu-tuc/2.000884/mau-to-khai").await;
    assert_eq!(s, 200);
    let (s, _) = app.get_text("/thu-tuc/2.000884/nop-ho-so").await;
    assert_eq!(s, 404);
    // Level 1: neither.
    let (_, l1) = app.get_text("/thu-tuc/1.004884").await;
    assert!(!l1.contains("/mau-to-khai") && !l1.contains("Nộp hồ sơ trực tuyến"));
    // The printable blank form is generated from the form definition.
    let (_, blank) = app.get_text(&format!("/thu-tuc/{PROC}/mau-to-khai")).await;
    assert!(blank.contains("Họ, chữ đệm và tên của trẻ") && blank.contains("Người khai"));
    // Unknown code: a Vietnamese 404.
    let (s, body) = app.get_text("/thu-tuc/9.999999").await;
    assert_eq!(s, 404);
    assert!(body.contains("Không tìm thấy thủ tục"));
}

#[tokio::test]
async fn import_catalog_is_idempotent() {
    let app = TestApp::spawn().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog");
    let files = dichvucong::catalog::import::read_dir(&dir).expect("read catalog");
    // The server loaded the same catalogue on first start: nothing changes.
    let r = dichvucong::catalog::import::import(&app.state.db, &files)
        .await
        .expect("import");
    assert_eq!((r.added, r.updated), (0, 0));
    let r = dichvucong::catalog::import::import(&app.state.db, &files)
        .await
        .expect("import");
    assert_eq!((r.added, r.updated), (0, 0));
    assert!(r.unchanged >= 10);
}

/// Facts of the sample catalogue found wrong in review (issue 17): the special zone, two-tier
/// sample codes, what the khai sinh form asks, copies asked for where copies are issued, and
/// foreign-element cases steered to their own procedure.
#[tokio::test]
async fn catalogue_facts_special_zone_two_tier_codes_birth_form_copies_and_foreign_cases() {
    let app = TestApp::spawn().await;
    let catalog = app.state.catalog();
    let zone = catalog.agency("000.00.05.H31").expect("Cát Hải");
    assert_eq!(zone.name, "Ủy ban nhân dân đặc khu Cát Hải (mẫu)");
    for a in catalog.agencies.iter().filter(|a| a.kind == "xa") {
        assert_eq!(
            a.parent.as_ref().map(|p| p.as_str()),
            Some("000.00.00.H31"),
            "{} sits directly under the province",
            a.name
        );
        assert!(
            a.code.as_str().starts_with("000.00."),
            "{}: a level-2 code",
            a.code
        );
        assert!(a.sample, "{} is marked as a sample", a.code);
    }
    // An old sample code still names the same commune.
    assert_eq!(
        catalog.agency("000.01.00.H31").map(|a| a.code.to_string()),
        Some(AGENCY.to_string())
    );

    // The khai sinh form asks what the printed Giấy khai sinh needs, and how many copies.
    let p = catalog.procedure(PROC).expect("khai sinh");
    let form = p.declaration();
    for name in [
        "tre_que_quan",
        "me_ngay_sinh",
        "me_dan_toc",
        "me_quoc_tich",
        "me_noi_cu_tru",
        "cha_ngay_sinh",
        "cha_dan_toc",
        "cha_quoc_tich",
        "cha_noi_cu_tru",
        "so_ban_sao",
    ] {
        assert!(form.field(name).is_some(), "khai sinh asks {name}");
    }
    for code in ["1.000656", "1.000894", "1.004837", "1.004873", "2.000635"] {
        let p = catalog.procedure(code).expect("procedure");
        let form = p.declaration();
        assert!(
            form.fields()
                .any(|f| f.name.starts_with("so_ban")
                    && f.kind == dvc_domain::form::FieldKind::Number),
            "{code} issues copies and asks how many"
        );
    }
    // A full-online procedure tells nobody to bring originals for an electronic result.
    for s in catalog.summaries() {
        let p = catalog.procedure(&s.code).expect("procedure");
        if p.online_class == dvc_domain::catalog::OnlineClass::ToanTrinh {
            assert!(p.originals_to_bring().is_empty(), "{}", p.code);
        }
    }

    // Foreign-element cases get a clear message pointing to their own procedure.
    for overrides in [
        vec![("yeu_to_nuoc_ngoai", Some("co"))],
        vec![("me_quoc_tich", Some("khac"))],
    ] {
        let csrf = app.open_form(PROC).await;
        let r = app
            .post_declaration(
                PROC,
                form_with(&csrf, &overrides, Some((valid_pdf(), "a.pdf"))),
            )
            .await;
        assert_eq!(r.status().as_u16(), 422, "{overrides:?}");
        let page = r.text().await.expect("body").replace("&#x2f;", "/");
        assert!(
            page.contains("Đăng ký khai sinh có yếu tố nước ngoài") && page.contains("2.000528"),
            "{overrides:?}"
        );
    }
    let csrf = app.open_form(PROC).await;
    let ok = app
        .post_declaration(
            PROC,
            form_with(
                &csrf,
                &[("so_ban_sao", Some("2"))],
                Some((valid_pdf(), "a.pdf")),
            ),
        )
        .await;
    assert_eq!(ok.status().as_u16(), 303);
}
