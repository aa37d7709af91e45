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
