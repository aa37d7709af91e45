//! The one-stop office as the rules run it (issue 17): what the public status shows and hides,
//! the citizen's withdrawal, supplements and the clock, who may act, lawful extra time.

use crate::back_office::Official;
use crate::helpers::*;
use dvc_domain::staff::Role;
use serde_json::Value;

/// The private link in an e-mail, as a path.
pub fn link_in(mail: &str, base: &str) -> String {
    mail.lines()
        .find(|l| l.contains("/ho-so/xem/"))
        .expect("private link")
        .trim()
        .trim_start_matches(base)
        .to_string()
}

pub async fn status_of(app: &TestApp, code: &str) -> Value {
    app.get(&format!("/api/v1/dossiers/{code}/status"))
        .await
        .json()
        .await
        .expect("json")
}

/// A received birth registration and its reception officer.
async fn received(app: &TestApp, who: &str) -> (String, Official) {
    let code = app.submit_birth_registration().await;
    let r = app
        .official(&format!("{who}@hongbang.gov.vn"), Role::Reception, AGENCY)
        .await;
    assert_eq!(
        r.act(app, &code, "tiep-nhan", &[]).await.status().as_u16(),
        303
    );
    (code, r)
}

const REASON: &str = "Giấy chứng sinh của bà Trần Thị Mận, CCCD 031190004567, bị mờ.";
const DIAGNOSIS_FILE: &str = "ket-qua-chan-doan-viem-gan-B.pdf";

#[tokio::test]
async fn public_status_shows_fixed_texts_and_no_reason_or_file_name_which_the_private_page_shows() {
    let app = TestApp::spawn().await;
    let (code, r) = received(&app, "motcua").await;
    let resp = r
        .act(
            &app,
            &code,
            "yeu-cau-bo-sung",
            &[("reason", REASON), ("missing", "giay_chung_sinh")],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    let mail = app
        .mailbox
        .wait_for("Giấy tờ cần bổ sung", 10)
        .await
        .expect("supplement mail");
    assert!(mail.contains(REASON), "the e-mail carries the reason");
    let link = link_in(&mail, &app.base);
    let ok = app
        .send_supplement(&link, valid_pdf(), DIAGNOSIS_FILE, None)
        .await;
    assert_eq!(ok.status().as_u16(), 303);

    let secrets = ["Trần Thị Mận", "031190004567", "chan-doan-viem-gan"];
    let api = status_of(&app, &code).await.to_string();
    let (s, page) = app.get_text(&format!("/tra-cuu?ma={code}")).await;
    assert_eq!(s, 200);
    for secret in secrets {
        assert!(!api.contains(secret), "public API shows {secret}: {api}");
        assert!(!page.contains(secret), "public page shows {secret}");
    }
    for fixed in [
        "Hồ sơ đã được tiếp nhận",
        "Cơ quan yêu cầu bổ sung hồ sơ; chi tiết đã gửi tới người nộp",
        "Người nộp đã bổ sung hồ sơ",
    ] {
        assert!(api.contains(fixed), "API lacks {fixed}: {api}");
        assert!(page.contains(fixed), "page lacks {fixed}");
    }
    // The private page shows the officer's reason and the file's name.
    let (s, private) = app.get_text(&link).await;
    assert_eq!(s, 200);
    for secret in secrets {
        assert!(private.contains(secret), "private page lacks {secret}");
    }
}
