//! The back office: the whole path through the workflow, authorisation, login throttling, audit.

use crate::helpers::*;
use dvc_domain::staff::Role;
use reqwest::Client;
use serde_json::Value;

pub const OTHER_AGENCY: &str = "000.00.03.H31";

/// A logged-in official's browser.
pub struct Official {
    pub client: Client,
    pub csrf: String,
}

impl TestApp {
    pub async fn create_staff(&self, email: &str, name: &str, role: Role, agency: &str) {
        let hash = dichvucong::password::hash("mật khẩu đủ dài 123".into())
            .await
            .expect("hash");
        let new = dichvucong::store::staff::NewStaff {
            email,
            name,
            title: "Công chức Tư pháp - Hộ tịch",
            role,
            agency_code: agency,
            password_hash: &hash,
        };
        dichvucong::store::staff::create(&self.state.db, &new, self.state.clock.now_ms())
            .await
            .expect("create staff");
    }

    pub async fn login(&self, email: &str, password: &str) -> (u16, Official) {
        let c = client();
        let body = c
            .get(self.url("/can-bo/dang-nhap"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        let csrf = extract(&body, "name=\"csrf\" value=\"").unwrap_or_else(|| panic!("{body}"));
        let r = c
            .post(self.url("/can-bo/dang-nhap"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        let mut csrf = String::new();
        if status == 303 {
            let page = c
                .get(self.url("/can-bo"))
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("text");
            csrf = extract(&page, "name=\"csrf\" value=\"").unwrap_or_default();
        }
        (status, Official { client: c, csrf })
    }

    pub async fn official(&self, email: &str, role: Role, agency: &str) -> Official {
        self.create_staff(email, email.split('@').next().unwrap_or("x"), role, agency)
            .await;
        let (s, o) = self.login(email, "mật khẩu đủ dài 123").await;
        assert_eq!(s, 303, "login of {email}");
        o
    }
}

impl Official {
    pub async fn act(
        &self,
        app: &TestApp,
        code: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.client
            .post(app.url(&format!("/can-bo/ho-so/{code}/thao-tac/{action}")))
            .form(&all)
            .send()
            .await
            .expect("act")
    }
    pub async fn get(&self, app: &TestApp, path: &str) -> (u16, String) {
        let r = self.client.get(app.url(path)).send().await.expect("get");
        let s = r.status().as_u16();
        (s, r.text().await.expect("body").replace("&#x2f;", "/"))
    }
}

async fn status_json(app: &TestApp, code: &str) -> Value {
    app.get(&format!("/api/v1/dossiers/{code}/status"))
        .await
        .json()
        .await
        .expect("json")
}

fn private_link(mail: &str, base: &str) -> String {
    mail.lines()
        .find(|l| l.contains("/ho-so/xem/"))
        .expect("private link")
        .trim()
        .trim_start_matches(base)
        .to_string()
}

#[tokio::test]
async fn whole_path_submit_receive_supplement_process_approve_return() {
    let app = TestApp::spawn().await;
    let code = app.submit_birth_registration().await;
    app.mailbox
        .wait_for(&code, 10)
        .await
        .expect("confirmation mail");
    let reception = app
        .official("motcua@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    app.create_staff(
        "chuyenvien@hongbang.gov.vn",
        "Lê Văn Chuyên",
        Role::Specialist,
        AGENCY,
    )
    .await;
    let (_, specialist) = app
        .login("chuyenvien@hongbang.gov.vn", "mật khẩu đủ dài 123")
        .await;
    let leader = app
        .official("lanhdao@hongbang.gov.vn", Role::Leader, AGENCY)
        .await;

    // Reception's queue shows the new dossier.
    let (s, queue) = reception.get(&app, "/can-bo?hang-doi=cho-tiep-nhan").await;
    assert_eq!(s, 200);
    assert!(queue.contains(&code));
    let (_, search) = reception
        .get(&app, "/can-bo?hang-doi=tat-ca&q=nguyen+thi+hoa")
        .await;
    assert!(search.contains(&code));

    // Tiếp nhận: appointment date, receipt, e-mail.
    let r = reception.act(&app, &code, "tiep-nhan", &[]).await;
    assert_eq!(r.status().as_u16(), 303);
    let st = status_json(&app, &code).await;
    assert_eq!(st["status"], "received");
    assert!(st["due_at"].is_string(), "{st}");
    assert_eq!(st["current_step"], "Thụ lý");
    let mail = app
        .mailbox
        .wait_for("Ngày hẹn trả kết quả", 10)
        .await
        .expect("received mail");
    assert!(mail.contains(&code));
    let (s, pdf) = reception
        .get(&app, &format!("/can-bo/ho-so/{code}/giay-to/mau-01"))
        .await;
    assert_eq!(s, 200);
    assert!(pdf.starts_with("%PDF-"));

    // Yêu cầu bổ sung: the clock pauses; the citizen is told exactly what to add.
    let r = reception
        .act(
            &app,
            &code,
            "yeu-cau-bo-sung",
            &[
                ("reason", "Giấy chứng sinh bị mờ, không đọc được số."),
                ("missing", "giay_chung_sinh"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let st = status_json(&app, &code).await;
    assert_eq!(st["status"], "awaiting_supplement");
    let mail = app
        .mailbox
        .wait_for("Giấy tờ cần bổ sung", 10)
        .await
        .expect("supplement mail");
    assert!(mail.contains("Giấy chứng sinh bị mờ") && mail.contains("Giấy chứng sinh"));
    // The queues follow the state.
    let (_, waiting) = reception.get(&app, "/can-bo?hang-doi=cho-bo-sung").await;
    assert!(waiting.contains(&code));
    let (_, to_receive) = reception.get(&app, "/can-bo?hang-doi=cho-tiep-nhan").await;
    assert!(!to_receive.contains(&code));
    let link = private_link(&mail, &app.base);

    // The citizen supplements online through the secret link.
    let (s, page) = app.get_text(&format!("{link}/bo-sung")).await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("Giấy chứng sinh bị mờ"));
    let r = app
        .send_supplement(
            &link,
            valid_pdf(),
            "giay-chung-sinh-ro.pdf",
            Some("Gửi lại bản rõ."),
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let st = status_json(&app, &code).await;
    assert_eq!(st["status"], "received", "back where it was: {st}");

    // Chuyển xử lý to the specialist: the citizen sees who handles it.
    let (_, detail) = reception.get(&app, &format!("/can-bo/ho-so/{code}")).await;
    let specialist_id = extract(&detail, "<option value=\"")
        .filter(|v| !v.is_empty())
        .unwrap_or_default();
    let specialist_id = detail
        .split("<option value=\"")
        .filter_map(|p| p.split_once('"'))
        .find(|(_, rest)| rest.contains("Lê Văn Chuyên"))
        .map(|(id, _)| id.to_string())
        .unwrap_or(specialist_id);
    let r = reception
        .act(
            &app,
            &code,
            "chuyen-xu-ly",
            &[("assignee_id", &specialist_id)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let st = status_json(&app, &code).await;
    assert_eq!(st["status"], "processing");
    assert_eq!(st["handler"]["name"], "Lê Văn Chuyên");
    let (_, lookup) = app.get_text(&format!("/tra-cuu?ma={code}")).await;
    assert!(lookup.contains("Lê Văn Chuyên") && lookup.contains("Thụ lý"));
    assert!(!lookup.contains("031192004567"));

    // The specialist's own queue; submit for approval; the leader sends back, then approves.
    let (_, mine) = specialist.get(&app, "/can-bo?hang-doi=cua-toi").await;
    assert!(mine.contains(&code));
    assert_eq!(
        specialist
            .act(&app, &code, "trinh-phe-duyet", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        status_json(&app, &code).await["status"],
        "awaiting_approval"
    );
    assert_eq!(
        leader
            .act(
                &app,
                &code,
                "tra-lai",
                &[("reason", "Kiểm tra lại nơi sinh.")]
            )
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(status_json(&app, &code).await["status"], "processing");
    assert_eq!(
        specialist
            .act(&app, &code, "trinh-phe-duyet", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        leader
            .act(&app, &code, "phe-duyet", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(status_json(&app, &code).await["status"], "result_ready");

    // Trả kết quả with the electronic result (toàn trình).
    let part = reqwest::multipart::Part::bytes(result_pdf())
        .file_name("giay-khai-sinh.pdf")
        .mime_str("application/pdf")
        .expect("mime");
    let form = reqwest::multipart::Form::new()
        .text("csrf", reception.csrf.clone())
        .part("result_file", part);
    let r = reception
        .client
        .post(app.url(&format!("/can-bo/ho-so/{code}/thao-tac/tra-ket-qua")))
        .multipart(form)
        .send()
        .await
        .expect("return");
    assert_eq!(r.status().as_u16(), 303);
    let st = status_json(&app, &code).await;
    assert_eq!(st["status"], "done");
    assert_eq!(st["on_time"], true);
    let mail = app
        .mailbox
        .wait_for("đã có kết quả", 10)
        .await
        .expect("result mail");
    let link = private_link(&mail, &app.base);
    let r = app.get(&format!("{link}/ket-qua")).await;
    assert_eq!(r.status().as_u16(), 200);
    // The agency's signature is an incremental update: the uploaded bytes come first, unchanged.
    let signed = r.bytes().await.expect("bytes").to_vec();
    assert!(signed.starts_with(&result_pdf()));
    assert!(
        signed.len() > result_pdf().len() + 2 * 16 * 1024,
        "signature appended"
    );

    // The timeline shows every step; the control slip renders.
    let tl = st["timeline"].as_array().expect("timeline");
    assert!(tl.len() >= 9, "{st}");
    let (s, pdf) = reception
        .get(&app, &format!("/can-bo/ho-so/{code}/giay-to/mau-06"))
        .await;
    assert_eq!(s, 200);
    assert!(pdf.starts_with("%PDF-"));

    // Illegal now: the dossier is closed.
    let r = reception.act(&app, &code, "tiep-nhan", &[]).await;
    assert_eq!(r.status().as_u16(), 409);

    // The audit chain is intact and covers the logins and every transition.
    app.seal_audit().await;
    let verified = dichvucong::store::audit::verify(&app.state.db, &app.state.audit_key, None)
        .await
        .expect("verify")
        .expect("intact");
    assert!(verified.entries >= 12, "{verified:?}");
}

#[tokio::test]
async fn authorization_matrix() {
    let app = TestApp::spawn().await;
    let code = app.submit_birth_registration().await;
    // Officials of another commune, in every role.
    let mut outsiders = Vec::new();
    for (i, role) in Role::ALL.iter().enumerate() {
        outsiders.push((
            *role,
            app.official(&format!("khac{i}@thanhdong.gov.vn"), *role, OTHER_AGENCY)
                .await,
        ));
    }
    let actions = [
        "tiep-nhan",
        "yeu-cau-bo-sung",
        "tu-choi",
        "chuyen-xu-ly",
        "trinh-phe-duyet",
        "phe-duyet",
        "tra-lai",
        "tra-ket-qua",
        "xin-loi-gia-han",
        "dung-xu-ly",
        "gia-han-theo-quy-dinh",
    ];
    for (role, o) in &outsiders {
        for path in [
            format!("/can-bo/ho-so/{code}"),
            format!("/can-bo/ho-so/{code}/giay-to/mau-06"),
            format!("/can-bo/ho-so/{code}/tep/1"),
        ] {
            let (s, _) = o.get(&app, &path).await;
            assert_eq!(s, 403, "{role:?} GET {path}");
        }
        let (_, queue) = o.get(&app, "/can-bo?hang-doi=tat-ca").await;
        assert!(
            !queue.contains(&code),
            "{role:?} sees another agency's dossier in a queue"
        );
        for a in actions {
            let r = o
                .act(
                    &app,
                    &code,
                    a,
                    &[
                        ("reason", "x"),
                        ("missing", "giay_chung_sinh"),
                        ("new_due", "2099-01-01"),
                    ],
                )
                .await;
            assert!(r.status().as_u16() == 403, "{role:?} {a}: {}", r.status());
        }
    }
    // In their own agency, a role may only do its own actions.
    let own: Vec<(Role, Official)> = {
        let mut v = Vec::new();
        for (i, role) in Role::ALL.iter().enumerate() {
            v.push((
                *role,
                app.official(&format!("nha{i}@hongbang.gov.vn"), *role, AGENCY)
                    .await,
            ));
        }
        v
    };
    for (role, o) in &own {
        let r = o.act(&app, &code, "phe-duyet", &[]).await;
        let expected = if *role == Role::Leader { 409 } else { 403 };
        assert_eq!(
            r.status().as_u16(),
            expected,
            "{role:?} approve on a submitted dossier"
        );
        if *role != Role::Reception {
            assert_eq!(
                o.act(&app, &code, "tiep-nhan", &[]).await.status().as_u16(),
                403,
                "{role:?} receive"
            );
        }
    }
    // Without a login: every staff page redirects to the login page; actions too.
    for path in [
        "/can-bo",
        &format!("/can-bo/ho-so/{code}"),
        "/can-bo/quan-tri/can-bo",
        &format!("/can-bo/ho-so/{code}/giay-to/mau-01"),
    ] {
        let r = client().get(app.url(path)).send().await.expect("get");
        assert_eq!(r.status().as_u16(), 303, "{path}");
        assert_eq!(location(&r), "/can-bo/dang-nhap");
    }
    let r = client()
        .post(app.url(&format!("/can-bo/ho-so/{code}/thao-tac/tiep-nhan")))
        .form(&[("csrf", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 303);
    // Only administrators manage staff.
    let (_, reception) = own
        .iter()
        .find(|(r, _)| *r == Role::Reception)
        .expect("reception");
    assert_eq!(reception.get(&app, "/can-bo/quan-tri/can-bo").await.0, 403);
    let (_, admin) = own.iter().find(|(r, _)| *r == Role::Admin).expect("admin");
    assert_eq!(admin.get(&app, "/can-bo/quan-tri/can-bo").await.0, 200);
    // A wrong CSRF token is refused even for the right official.
    let r = reception
        .client
        .post(app.url(&format!("/can-bo/ho-so/{code}/thao-tac/tiep-nhan")))
        .form(&[("csrf", "sai")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(status_json(&app, &code).await["status"], "submitted");
}

#[tokio::test]
async fn login_throttling_enumeration_rotation_and_logout() {
    let app = TestApp::spawn().await;
    app.create_staff("a@hongbang.gov.vn", "A", Role::Reception, AGENCY)
        .await;
    // Unknown account and wrong password look the same.
    let (s1, o1) = app
        .login("khongco@hongbang.gov.vn", "bất kỳ mật khẩu nào")
        .await;
    let (s2, _) = app.login("a@hongbang.gov.vn", "sai mật khẩu rồi").await;
    assert_eq!((s1, s2), (401, 401));
    // A failed login gives no session.
    assert_eq!(o1.get(&app, "/can-bo").await.0, 303);
    for _ in 0..4 {
        let (s, _) = app.login("a@hongbang.gov.vn", "sai mật khẩu rồi").await;
        assert_eq!(s, 401);
    }
    // Five failures: throttled, even with the right password.
    let (s, _) = app.login("a@hongbang.gov.vn", "mật khẩu đủ dài 123").await;
    assert_eq!(s, 429);

    // Session rotation and logout, with another account.
    app.create_staff("b@hongbang.gov.vn", "B", Role::Leader, AGENCY)
        .await;
    let c = client();
    let r = c
        .get(app.url("/can-bo/dang-nhap"))
        .send()
        .await
        .expect("get");
    // The pre-login session cookie, exactly as the browser holds it.
    let pre_value = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let body = r.text().await.expect("text");
    let csrf = extract(&body, "name=\"csrf\" value=\"").expect("csrf");
    let r = c
        .post(app.url("/can-bo/dang-nhap"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "b@hongbang.gov.vn"),
            ("password", "mật khẩu đủ dài 123"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 303);
    let set_cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(set_cookie.contains("HttpOnly"));
    let new_value = set_cookie.split(';').next().expect("pair").to_string();
    // Rotation: a new token at login, and the pre-login one no longer opens anything.
    assert_ne!(
        new_value, pre_value,
        "the session token was not rotated at login"
    );
    let pre = client()
        .get(app.url("/can-bo"))
        .header("cookie", &pre_value)
        .send()
        .await
        .expect("get");
    assert_eq!(
        pre.status().as_u16(),
        303,
        "the pre-login cookie is logged in"
    );
    let post = client()
        .get(app.url("/can-bo"))
        .header("cookie", &new_value)
        .send()
        .await
        .expect("get");
    assert_eq!(post.status().as_u16(), 200);
    let page = c
        .get(app.url("/can-bo"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let csrf = extract(&page, "name=\"csrf\" value=\"").expect("csrf");
    assert_eq!(
        c.post(app.url("/can-bo/dang-xuat"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .expect("logout")
            .status()
            .as_u16(),
        303
    );
    // The old cookie no longer works.
    let replay = client()
        .get(app.url("/can-bo"))
        .header("cookie", new_value)
        .send()
        .await
        .expect("get");
    assert_eq!(replay.status().as_u16(), 303);
}

#[tokio::test]
async fn audit_verify_catches_a_tampered_row() {
    let app = TestApp::spawn().await;
    let code = app.submit_birth_registration().await;
    let reception = app
        .official("r@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    assert_eq!(
        reception
            .act(&app, &code, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    let url = app.database_url();
    let run = |url: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dichvucong"));
        cmd.args(["audit", "verify"])
            .env("DVC_DATABASE_URL", url)
            .env("DVC_DATA_DIR", &app.dir);
        crate::helpers::run_cli(cmd)
    };
    let ok = run(&url).await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Change one row behind the application's back.
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query("UPDATE audit_log SET reason = 'sửa trộm' WHERE seq = 2").execute(p).await.expect("tamper");
    });
    let bad = run(&url).await;
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("số 2"), "{err}");
}

/// Removing a row from an intact chain is caught (a chain of its own: on the chain of the test
/// above, already broken, any verdict would be a failure).
#[tokio::test]
async fn audit_verify_catches_a_removed_row() {
    let app = TestApp::spawn().await;
    let code = app.submit_birth_registration().await;
    let reception = app
        .official("r@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    for (action, fields) in [
        ("tiep-nhan", vec![]),
        (
            "yeu-cau-bo-sung",
            vec![("reason", "Bản chụp mờ."), ("missing", "giay_chung_sinh")],
        ),
    ] {
        let r = reception.act(&app, &code, action, &fields).await;
        assert_eq!(r.status().as_u16(), 303, "{action}");
    }
    app.seal_audit().await;
    let rows = dichvucong::store::audit::verify(&app.state.db, &app.state.audit_key, None)
        .await
        .expect("verify")
        .expect("an intact chain to start from");
    assert!(rows.entries >= 3, "{rows:?}");
    let run = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dichvucong"));
        cmd.args(["audit", "verify"])
            .env("DVC_DATABASE_URL", app.database_url())
            .env("DVC_DATA_DIR", &app.dir);
        crate::helpers::run_cli(cmd)
    };
    assert!(run().await.status.success(), "the intact chain fails");
    // A row in the middle goes; its neighbours are untouched.
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query("DELETE FROM audit_log WHERE seq = 2").execute(p).await.expect("delete");
    });
    assert!(
        dichvucong::store::audit::verify(&app.state.db, &app.state.audit_key, None)
            .await
            .expect("verify")
            .is_err(),
        "a removed row went unnoticed"
    );
    assert!(
        !run().await.status.success(),
        "audit verify missed a removed row"
    );
}

#[tokio::test]
async fn refuse_apologise_and_stop_send_letters_and_mails() {
    let app = TestApp::spawn().await;
    let reception = app
        .official("mc@hongbang.gov.vn", Role::Reception, AGENCY)
        .await;
    let specialist = app
        .official("cv@hongbang.gov.vn", Role::Specialist, AGENCY)
        .await;

    // Refusal with the reason, by e-mail, and Mẫu 03.
    let a = app.submit_birth_registration().await;
    assert_eq!(
        reception
            .act(&app, &a, "tu-choi", &[])
            .await
            .status()
            .as_u16(),
        422,
        "a reason is required"
    );
    assert_eq!(
        reception
            .act(
                &app,
                &a,
                "tu-choi",
                &[("reason", "Trẻ không cư trú trên địa bàn phường.")]
            )
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(status_json(&app, &a).await["status"], "refused");
    let mail = app
        .mailbox
        .wait_for("Trẻ không cư trú", 10)
        .await
        .expect("refusal mail");
    let link = private_link(&mail, &app.base);
    let (s, private) = app.get_text(&link).await;
    assert_eq!(s, 200);
    assert!(private.contains("Phiếu từ chối tiếp nhận"));
    let doc = extract(&private, &format!("href=\"{link}/giay-to/")).expect("document link");
    let r = app.get(&format!("{link}/giay-to/{doc}")).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.expect("pdf").starts_with(b"%PDF-"));

    // Apology with a new date, then stop with the legal reason.
    let b = app.submit_birth_registration_again().await;
    assert_eq!(
        reception
            .act(&app, &b, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    let r = reception
        .act(
            &app,
            &b,
            "xin-loi-gia-han",
            &[
                ("reason", "Cần xác minh thêm với cơ sở y tế."),
                ("new_due", "2099-12-31"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let st = status_json(&app, &b).await;
    assert!(
        st["due_at"]
            .as_str()
            .expect("due")
            .starts_with("2099-12-31"),
        "{st}"
    );
    app.mailbox
        .wait_for("Cần xác minh thêm", 10)
        .await
        .expect("apology mail");
    let (s, pdf) = reception
        .get(&app, &format!("/can-bo/ho-so/{b}/giay-to/mau-04"))
        .await;
    assert_eq!(s, 200);
    assert!(pdf.starts_with("%PDF-"));
    // Only the official holding the dossier (or a leader) stops it.
    crate::one_stop::forward(&app, &reception, &b, "cv@hongbang.gov.vn").await;
    assert_eq!(
        specialist
            .act(
                &app,
                &b,
                "dung-xu-ly",
                &[(
                    "reason",
                    "Theo yêu cầu của cơ quan điều tra, khoản 2 Điều 9."
                )]
            )
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(status_json(&app, &b).await["status"], "stopped");
    app.mailbox
        .wait_for("khoản 2 Điều 9", 10)
        .await
        .expect("stop mail");
    let (s, _) = reception
        .get(&app, &format!("/can-bo/ho-so/{b}/giay-to/mau-05"))
        .await;
    assert_eq!(s, 200);
    // A document that was never issued is a clear 404.
    let (s, _) = reception
        .get(&app, &format!("/can-bo/ho-so/{b}/giay-to/mau-02"))
        .await;
    assert_eq!(s, 404);

    // Two supplement requests make a dossier count as late (QĐ 766), even before its due date.
    let c = app.submit_birth_registration_again().await;
    assert_eq!(
        reception
            .act(&app, &c, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        reception
            .act(
                &app,
                &c,
                "yeu-cau-bo-sung",
                &[("reason", "Thiếu"), ("other", "Giấy xác nhận cư trú")]
            )
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(status_json(&app, &c).await["on_time"], true);
    let mail = app
        .mailbox
        .wait_for("Giấy xác nhận cư trú", 10)
        .await
        .expect("supplement mail");
    let link = private_link(&mail, &app.base);
    let citizen = app.shallow_clone();
    let r = citizen
        .send_supplement(&link, valid_pdf(), "cu-tru.pdf", None)
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        reception
            .act(
                &app,
                &c,
                "yeu-cau-bo-sung",
                &[("reason", "Vẫn thiếu"), ("other", "Giấy tờ khác")]
            )
            .await
            .status()
            .as_u16(),
        303
    );
    let st = status_json(&app, &c).await;
    assert_eq!(st["on_time"], false, "{st}");
}

impl TestApp {
    /// Another full submission in a fresh browser session (each submission needs its own draft).
    pub async fn submit_birth_registration_again(&self) -> String {
        self.shallow_clone().submit_birth_registration().await
    }
}
