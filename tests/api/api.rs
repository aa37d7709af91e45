//! The JSON API and its OpenAPI document.

use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn procedures_api() {
    let app = TestApp::spawn().await;
    let list: Value = app
        .get("/api/v1/procedures?q=khai+sinh")
        .await
        .json()
        .await
        .expect("json");
    let arr = list["items"].as_array().expect("items");
    assert!(arr.iter().any(|p| p["code"] == PROC && p["level"] == 4));
    let p: Value = app
        .get(&format!("/api/v1/procedures/{PROC}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["name"], "Đăng ký khai sinh");
    let fields = p["form"]["fields"].as_array().expect("fields");
    let id = fields
        .iter()
        .find(|f| f["name"] == "applicant_id_number")
        .expect("applicant block");
    assert_eq!(id["type"], "citizen_id");
    assert_eq!(id["required"], true);
    let sex = fields
        .iter()
        .find(|f| f["name"] == "tre_gioi_tinh")
        .expect("own field");
    assert_eq!(sex["options"][0]["value"], "nam");
    for key in [
        "steps",
        "methods",
        "documents",
        "processing_time",
        "fees",
        "legal_basis",
        "result",
        "applicants",
    ] {
        assert!(!p[key].is_null(), "missing {key}");
    }
    let r = app.get("/api/v1/procedures/0.000000").await;
    assert_eq!(r.status().as_u16(), 404);
    let e: Value = r.json().await.expect("json");
    assert!(
        e["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("Không tìm thấy")
    );
}

#[tokio::test]
async fn dossier_status_api_has_no_personal_data() {
    let app = TestApp::spawn().await;
    let code = app.submit_birth_registration().await;
    let r = app.get(&format!("/api/v1/dossiers/{code}/status")).await;
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.expect("text");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["code"], code);
    assert_eq!(v["status"], "submitted");
    assert_eq!(v["procedure_code"], PROC);
    assert!(v["timeline"].as_array().expect("timeline").len() == 1);
    for private in [
        "Nguyễn Thị Hoa",
        "031192004567",
        "0912345678",
        "hoa.nguyen@example.vn",
    ] {
        assert!(!text.contains(private), "API leaks {private}");
    }
    let r = app.get("/api/v1/dossiers/not-a-code/status").await;
    assert_eq!(r.status().as_u16(), 400);
    let r = app
        .get(&format!("/api/v1/dossiers/{AGENCY}-260101-9999/status"))
        .await;
    assert_eq!(r.status().as_u16(), 404);
    let r = app.get("/api/v1/khong-co").await;
    assert_eq!(r.status().as_u16(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn openapi_document_lists_the_endpoints() {
    let app = TestApp::spawn().await;
    let v: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    let paths = v["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/procedures",
        "/api/v1/procedures/{code}",
        "/api/v1/dossiers/{code}/status",
    ] {
        assert!(paths.contains_key(p), "openapi lacks {p}");
    }
    assert!(v["components"]["schemas"]["PublicStatus"].is_object());
}
