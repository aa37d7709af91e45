//! Conditional fields and repeating groups of the declaration (issue 22 item 4), on the sample
//! procedure "Đăng ký nhận cha, mẹ, con": "Quốc tịch khác" asks which one; the evidence "chứng
//! cứ khác" shows the witnesses group (2–4 people) and its declaration upload. Both ways a
//! browser posts the page: without JavaScript ("Cập nhật", "Thêm", "Xóa" reload it), and as
//! `static/form.js` does (items added in the page, the whole form posted with "Tiếp tục").

use crate::helpers::*;
use dvc_domain::staff::Role;
use reqwest::multipart::{Form, Part};

const NHAN: &str = "1.001022";

fn base_answers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("agency_code", AGENCY),
        ("applicant_full_name", "Nguyễn Thị Hoa"),
        ("applicant_birth_date", "1992-05-14"),
        ("applicant_id_number", "031192004567"),
        ("applicant_phone", "0912345678"),
        ("applicant_email", "hoa.nguyen@example.vn"),
        (
            "applicant_address",
            "Số 12 phố Điện Biên Phủ, phường Hồng Bàng",
        ),
        ("loai_yeu_cau", "me_nhan_con"),
        ("duoc_nhan_ho_ten", "Trần Minh An"),
        ("duoc_nhan_gioi_tinh", "nam"),
        ("duoc_nhan_ngay_sinh", "2020-03-01"),
        ("duoc_nhan_dan_toc", "Kinh"),
        ("duoc_nhan_noi_cu_tru", "Phường Hồng Bàng, Hải Phòng"),
        ("cam_doan", "co"),
    ]
}

/// The declaration with the base answers, then `extra` (added or replacing), CSRF first.
fn declaration(csrf: &str, extra: &[(&str, &str)], files: &[&str]) -> Form {
    let mut form = Form::new().text("csrf", csrf.to_string());
    for (k, v) in base_answers() {
        if !extra.iter().any(|(ek, _)| *ek == k) {
            form = form.text(k, v.to_string());
        }
    }
    for (k, v) in extra {
        form = form.text(k.to_string(), v.to_string());
    }
    for f in files {
        let part = Part::bytes(valid_pdf())
            .file_name(format!("{f}.pdf"))
            .mime_str("application/pdf")
            .expect("mime");
        form = form.part(f.to_string(), part);
    }
    form
}

/// The opening tag of the element with this id.
fn tag_of<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id} in\n{page}"));
    let start = page[..at].rfind('<').expect("tag start");
    let end = at + page[at..].find('>').expect("tag end");
    &page[start..=end]
}

/// The wrapper of a conditional field (the element carrying `data-show-if` around `wrap-KEY`).
fn wrapper_of<'a>(page: &'a str, key: &str) -> &'a str {
    let at = page
        .find(&format!("id=\"wrap-{key}\""))
        .unwrap_or_else(|| panic!("no field {key}"));
    let start = page[..at]
        .rfind("<div data-show-if")
        .expect("conditional wrapper");
    let end = start + page[start..].find('>').expect("tag end");
    &page[start..=end]
}

async fn page(app: &TestApp) -> String {
    let (status, body) = app.get_text(&format!("/thu-tuc/{NHAN}/nop-ho-so")).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn conditional_fields_and_groups_without_javascript() {
    let app = TestApp::spawn().await;
    let csrf = app.open_form(NHAN).await;
    let body = page(&app).await;
    // Hidden until asked for; the section's witnesses group with it.
    assert!(wrapper_of(&body, "duoc_nhan_quoc_tich_khac").contains(" hidden"));
    assert!(
        tag_of(&body, "phan-5").contains(" hidden"),
        "{}",
        tag_of(&body, "phan-5")
    );
    assert!(tag_of(&body, "phan-5").contains("data-show-if=\"loai_chung_cu\""));
    assert!(body.contains("value=\"cap-nhat\""), "a Cập nhật button");
    assert!(body.contains("/static/form."), "the enhancement script");

    // "Cập nhật": the page again, the chosen branches shown, no error reported.
    let r = app
        .post_declaration(
            NHAN,
            declaration(
                &csrf,
                &[
                    ("duoc_nhan_quoc_tich", "khac"),
                    ("loai_chung_cu", "chung_cu_khac"),
                    ("_action", "cap-nhat"),
                ],
                &[],
            ),
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(location(&r), format!("/thu-tuc/{NHAN}/nop-ho-so"));
    let body = page(&app).await;
    assert!(!body.contains("error-summary"), "Cập nhật reports no error");
    assert!(!wrapper_of(&body, "duoc_nhan_quoc_tich_khac").contains(" hidden"));
    assert!(!tag_of(&body, "phan-5").contains(" hidden"));
    assert!(
        body.contains("id=\"muc-nguoi_lam_chung-1\"")
            && body.contains("id=\"muc-nguoi_lam_chung-2\"")
    );
    assert!(
        !body.contains("id=\"muc-nguoi_lam_chung-3\""),
        "min 2 items to start"
    );
    assert!(body.contains("name=\"lam_chung_ho_ten.2\""));
    // What was typed is kept.
    assert!(body.contains("value=\"Trần Minh An\""));

    // "Thêm": a third witness.
    let r = app
        .post_declaration(
            NHAN,
            declaration(
                &csrf,
                &[
                    ("duoc_nhan_quoc_tich", "khac"),
                    ("loai_chung_cu", "chung_cu_khac"),
                    ("nguoi_lam_chung", "2"),
                    ("lam_chung_ho_ten.1", "Lê Văn Cường"),
                    ("_action", "them:nguoi_lam_chung"),
                ],
                &[],
            ),
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        location(&r),
        format!("/thu-tuc/{NHAN}/nop-ho-so#muc-nguoi_lam_chung-3")
    );
    let body = page(&app).await;
    assert!(body.contains("id=\"muc-nguoi_lam_chung-3\""));
    assert!(body.contains("Người làm chứng thứ 3"));
    assert!(body.contains("value=\"Lê Văn Cường\""));

    // "Tiếp tục" with the shown fields empty: each reported, with the item it belongs to.
    let r = app
        .post_declaration(
            NHAN,
            declaration(
                &csrf,
                &[
                    ("duoc_nhan_quoc_tich", "khac"),
                    ("loai_chung_cu", "chung_cu_khac"),
                    ("nguoi_lam_chung", "3"),
                    ("lam_chung_ho_ten.1", "Lê Văn Cường"),
                    ("lam_chung_so_dinh_danh.1", "031085001111"),
                ],
                &["tep_chung_cu"],
            ),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("Nhập tên quốc tịch người được nhận."),
        "{body}"
    );
    assert!(body.contains("href=\"#f-lam_chung_ho_ten.2\""));
    assert!(body.contains("Người làm chứng thứ 2: Nhập họ, chữ đệm và tên người làm chứng."));
    assert!(body.contains("Người làm chứng thứ 3: Nhập số định danh"));
    assert!(body.contains("Chọn tệp cho mục “Văn bản cam đoan có hai người làm chứng”"));

    // "Xóa" the third witness, then everything filled in: on to the review.
    let r = app
        .post_declaration(
            NHAN,
            declaration(
                &csrf,
                &[
                    ("duoc_nhan_quoc_tich", "khac"),
                    ("loai_chung_cu", "chung_cu_khac"),
                    ("nguoi_lam_chung", "3"),
                    ("lam_chung_ho_ten.1", "Lê Văn Cường"),
                    ("lam_chung_ho_ten.3", "Xóa Tôi Đi"),
                    ("_action", "xoa:nguoi_lam_chung:3"),
                ],
                &[],
            ),
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let body = page(&app).await;
    assert!(!body.contains("id=\"muc-nguoi_lam_chung-3\""));
    assert!(!body.contains("Xóa Tôi Đi"));
    assert!(
        !body.contains("value=\"xoa:nguoi_lam_chung:1\""),
        "at the minimum, no Xóa"
    );

    let r = app
        .post_declaration(
            NHAN,
            declaration(
                &csrf,
                &[
                    // A foreign nationality is refused here (it belongs to the procedure with
                    // a foreign element, `refuse` on the option): Vietnamese, so the name of
                    // another nationality is hidden and dropped.
                    ("duoc_nhan_quoc_tich", "viet_nam"),
                    ("duoc_nhan_quoc_tich_khac", "Hàn Quốc"),
                    ("loai_chung_cu", "chung_cu_khac"),
                    ("nguoi_lam_chung", "2"),
                    ("lam_chung_ho_ten.1", "Lê Văn Cường"),
                    ("lam_chung_so_dinh_danh.1", "031085001111"),
                    ("lam_chung_ho_ten.2", "Phạm Thị Dung"),
                    ("lam_chung_so_dinh_danh.2", "031187002222"),
                ],
                &["tep_chung_cu", "tep_cam_doan_lam_chung"],
            ),
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let (csrf2, token, _, review) = app.review(NHAN).await;
    assert!(!review.contains("Hàn Quốc"));
    assert!(review.contains("Người làm chứng: Người làm chứng thứ 2"));
    assert!(review.contains("Phạm Thị Dung"));
    assert!(review.contains("href=\"/thu-tuc/1.001022/nop-ho-so#f-lam_chung_ho_ten.2\""));
    assert!(review.contains("tep_cam_doan_lam_chung.pdf"));

    // Filed: the back office shows the groups (the private link page does too).
    let r = app
        .send(NHAN, &[("csrf", &csrf2), ("submit_token", &token)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let code = code_from_confirmation(&location(&r));
    let staff = app
        .official("motcua@example.vn", Role::Reception, AGENCY)
        .await;
    let (status, body) = staff.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Người làm chứng thứ 2"), "{body}");
    assert!(body.contains("Phạm Thị Dung") && !body.contains("Hàn Quốc"));
}

#[tokio::test]
async fn hidden_fields_are_not_required_and_their_answers_are_dropped() {
    let app = TestApp::spawn().await;
    let csrf = app.open_form(NHAN).await;
    // Answers typed before the choice changed: all hidden now, none required, none kept.
    let r = app
        .post_declaration(
            NHAN,
            declaration(
                &csrf,
                &[
                    ("duoc_nhan_quoc_tich", "viet_nam"),
                    ("duoc_nhan_quoc_tich_khac", "Pháp"),
                    ("loai_chung_cu", "giam_dinh"),
                    ("nguoi_lam_chung", "2"),
                    ("lam_chung_ho_ten.1", "Người Cũ"),
                ],
                &["tep_chung_cu", "tep_cam_doan_lam_chung"],
            ),
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let (csrf2, token, _, review) = app.review(NHAN).await;
    assert!(!review.contains("Pháp"), "stale answer shown");
    assert!(!review.contains("Người Cũ"));
    assert!(!review.contains("Người làm chứng"));
    assert!(
        !review.contains("tep_cam_doan_lam_chung.pdf"),
        "stale file kept"
    );
    let r = app
        .send(NHAN, &[("csrf", &csrf2), ("submit_token", &token)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let code = code_from_confirmation(&location(&r));
    let staff = app
        .official("motcua@example.vn", Role::Reception, AGENCY)
        .await;
    let (_, body) = staff.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    assert!(!body.contains("Người Cũ") && !body.contains("Pháp"));
    assert!(
        !body.contains("tep_cam_doan_lam_chung.pdf"),
        "a hidden upload is not filed"
    );
}

/// What `static/form.js` posts: items added in the page (keys `.3`, the count raised) and the
/// whole form sent with "Tiếp tục", no reload in between.
#[tokio::test]
async fn the_javascript_path_posts_items_added_in_the_page() {
    let app = TestApp::spawn().await;
    let csrf = app.open_form(NHAN).await;
    let body = page(&app).await;
    // The script and the item it copies.
    let js = extract(&body, "<script src=\"").expect("script");
    let r = app.get(&js).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/javascript")
    );
    assert!(r.text().await.unwrap_or_default().contains("data-show-if"));
    assert!(body.contains("<template id=\"mau-nguoi_lam_chung\">"));
    assert!(body.contains("name=\"lam_chung_ho_ten.__N__\""));
    assert!(body.contains("data-add=\"nguoi_lam_chung\""));

    let mut extra = vec![
        ("duoc_nhan_quoc_tich", "viet_nam"),
        ("loai_chung_cu", "chung_cu_khac"),
        ("nguoi_lam_chung", "4"),
    ];
    let names = ["Lê Văn Một", "Lê Văn Hai", "Lê Văn Ba", "Lê Văn Bốn"];
    let keys: Vec<(String, String)> = (1..=4)
        .flat_map(|i| {
            [
                (format!("lam_chung_ho_ten.{i}"), names[i - 1].to_string()),
                (
                    format!("lam_chung_so_dinh_danh.{i}"),
                    format!("03108500{i:04}"),
                ),
            ]
        })
        .collect();
    for (k, v) in &keys {
        extra.push((k.as_str(), v.as_str()));
    }
    // A fifth item is beyond the maximum: not a field of the form, dropped.
    extra.push(("lam_chung_ho_ten.5", "Lê Văn Năm"));
    let r = app
        .post_declaration(
            NHAN,
            declaration(&csrf, &extra, &["tep_chung_cu", "tep_cam_doan_lam_chung"]),
        )
        .await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let (_, _, _, review) = app.review(NHAN).await;
    assert!(review.contains("Người làm chứng thứ 4") && review.contains("Lê Văn Bốn"));
    assert!(!review.contains("Lê Văn Năm"));

    // Without the count the group keeps its minimum, whatever keys come.
    let r = app
        .post_declaration(
            NHAN,
            declaration(
                &csrf,
                &[
                    ("duoc_nhan_quoc_tich", "viet_nam"),
                    ("loai_chung_cu", "chung_cu_khac"),
                    ("lam_chung_ho_ten.1", "Lê Văn Một"),
                    ("lam_chung_so_dinh_danh.1", "031085000001"),
                ],
                &[],
            ),
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let body = r.text().await.expect("body");
    assert!(body.contains("Người làm chứng thứ 2: Nhập họ"), "{body}");
}
