//! Rules about time, checked at their exact boundaries on a manual clock
//! ([`dichvucong::clock::Clock::manual`]): no sleeps, and nothing depends on today's date. Each
//! test names the instants it uses; the last instant a rule still holds and the first one it no
//! longer does are both checked.

use crate::back_office::Official;
use crate::helpers::*;
use dichvucong::config::CaptchaMode;
use dvc_domain::staff::Role;
use jiff::Timestamp;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);
const MS: Duration = Duration::from_millis(1);

/// An instant given in UTC.
pub fn utc(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> Timestamp {
    jiff::civil::date(y, mo, d)
        .at(h, mi, s, 0)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .expect("utc")
        .timestamp()
}

/// Monday 11 January 2027, 09:00 in Vietnam: a plain working week (no holiday before 2 February).
pub fn monday_morning() -> Timestamp {
    utc(2027, 1, 11, 2, 0, 0)
}

/// Saves a valid draft of the khai sinh declaration (one PDF) from this visitor's browser.
pub async fn save_draft(visitor: &TestApp) {
    let csrf = visitor.open_form(PROC).await;
    let r = visitor
        .post_declaration(PROC, birth_form(&csrf, valid_pdf()))
        .await;
    assert_eq!(r.status().as_u16(), 303, "the draft was not saved");
}

/// The status of the review page: 200 while the session and its draft live, 303 (back to an
/// empty form) once they do not.
pub async fn review_status(visitor: &TestApp) -> u16 {
    visitor
        .get(&format!("/thu-tuc/{PROC}/nop-ho-so/kiem-tra"))
        .await
        .status()
        .as_u16()
}

/// "bốn, bảy, hai" → "472".
pub fn spelled_digits(words: &str) -> String {
    const WORDS: [&str; 10] = [
        "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
    ];
    words
        .split(", ")
        .map(|w| WORDS.iter().position(|x| *x == w).expect("digit word"))
        .map(|d| char::from(b'0' + u8::try_from(d).expect("digit")))
        .collect()
}

/// The review page with the verification code's text alternative: the fields of the final POST
/// with the right answer.
pub async fn review_with_code(visitor: &TestApp) -> Vec<(&'static str, String)> {
    let (s, page) = visitor
        .get_text(&format!(
            "/thu-tuc/{PROC}/nop-ho-so/kiem-tra?ma-xac-nhan=chu"
        ))
        .await;
    assert_eq!(s, 200, "{page}");
    let words = extract(&page, "nhập 12): <strong>").expect("words");
    let digits = spelled_digits(words.split("</strong>").next().expect("words"));
    vec![
        (
            "csrf",
            extract(&page, "name=\"csrf\" value=\"").expect("csrf"),
        ),
        (
            "submit_token",
            extract(&page, "name=\"submit_token\" value=\"").expect("token"),
        ),
        (
            "captcha_id",
            extract(&page, "name=\"captcha_id\" value=\"").expect("id"),
        ),
        ("captcha_answer", digits),
    ]
}

pub async fn send_fields(visitor: &TestApp, fields: &[(&'static str, String)]) -> u16 {
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    visitor.send(PROC, &f).await.status().as_u16()
}

/// A fresh login of an official created earlier (a back-office session ends two hours after
/// login, so each jump of the clock logs in again).
async fn login(app: &TestApp, email: &str) -> Official {
    let (s, o) = app.login(email, "mật khẩu đủ dài 123").await;
    assert_eq!(s, 303, "login of {email}");
    o
}

async fn in_queue(app: &TestApp, email: &str, queue: &str, code: &str) -> bool {
    let o = login(app, email).await;
    let (s, page) = o.get(app, &format!("/can-bo?hang-doi={queue}")).await;
    assert_eq!(s, 200);
    page.contains(code)
}

async fn due_at(app: &TestApp, code: &str) -> (i64, i64) {
    let row = dichvucong::store::dossiers::find_by_code(&app.state.db, code)
        .await
        .expect("read")
        .expect("dossier");
    (
        row.due_at.expect("due_at"),
        row.original_due_at.expect("original_due_at"),
    )
}

fn at_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).expect("ms")
}

#[tokio::test]
async fn a_citizen_session_ends_two_hours_after_its_last_use() {
    let t0 = monday_morning();
    let app = TestApp::builder().manual_clock(t0).spawn().await;
    let used = app.shallow_clone();
    let idle = app.shallow_clone();
    save_draft(&used).await;
    save_draft(&idle).await;
    // The last millisecond of the idle lifetime: alive, and the use slides it.
    app.clock().set(t0 + (2 * HOUR - MS));
    assert_eq!(review_status(&used).await, 200);
    // Exactly two hours without a use: gone, draft and all.
    app.clock().set(t0 + 2 * HOUR);
    assert_eq!(review_status(&idle).await, 303);
    let (_, form) = idle.get_text(&format!("/thu-tuc/{PROC}/nop-ho-so")).await;
    assert!(
        !form.contains("Trần Minh An"),
        "the draft outlived its session"
    );
    // The session used at 2 h − 1 ms lives until two hours after that use, and no longer.
    app.clock().set(t0 + (4 * HOUR - 2 * MS));
    assert_eq!(review_status(&used).await, 200);
    app.clock().set(t0 + (6 * HOUR - 2 * MS));
    assert_eq!(review_status(&used).await, 303);
}

#[tokio::test]
async fn a_citizen_session_ends_twelve_hours_after_it_began_whatever_the_activity() {
    let t0 = monday_morning();
    let app = TestApp::builder().manual_clock(t0).spawn().await;
    let visitor = app.shallow_clone();
    save_draft(&visitor).await;
    // Used every 1 h 59 min: never idle for two hours.
    let step = 2 * HOUR - Duration::from_secs(60);
    for _ in 0..6 {
        app.clock().advance(step);
        assert_eq!(review_status(&visitor).await, 200);
    }
    app.clock().set(t0 + (12 * HOUR - MS));
    assert_eq!(review_status(&visitor).await, 200, "the last millisecond");
    app.clock().set(t0 + 12 * HOUR);
    assert_eq!(
        review_status(&visitor).await,
        303,
        "twelve hours after issue"
    );
}

#[tokio::test]
async fn a_verification_code_expires_ten_minutes_after_it_is_shown() {
    let t0 = monday_morning();
    let app = TestApp::builder()
        .captcha(CaptchaMode::Image)
        .manual_clock(t0)
        .spawn()
        .await;
    // Shown at t0, answered at t0 + 10 min − 1 ms: accepted.
    save_draft(&app).await;
    let fields = review_with_code(&app).await;
    app.clock().advance(Duration::from_secs(600) - MS);
    assert_eq!(send_fields(&app, &fields).await, 303);
    // Shown at t1, answered at t1 + 10 min with the right digits: refused, nothing filed.
    save_draft(&app).await;
    let fields = review_with_code(&app).await;
    app.clock().advance(Duration::from_secs(600));
    assert_eq!(send_fields(&app, &fields).await, 422);
    assert_eq!(
        dichvucong::store::dossiers::count(&app.state.db)
            .await
            .expect("count"),
        1
    );
}

#[tokio::test]
async fn dossier_codes_roll_over_at_midnight_in_vietnam() {
    // 16:59:59 UTC is 23:59:59 in Vietnam (UTC+7); 17:00:00 UTC is the next day there.
    let app = TestApp::builder()
        .manual_clock(utc(2027, 1, 11, 16, 59, 59))
        .spawn()
        .await;
    let late = app.submit_birth_registration().await;
    app.clock().set(utc(2027, 1, 11, 17, 0, 0));
    let next = app.shallow_clone().submit_birth_registration().await;
    assert_eq!(
        code_date_and_seq(&late),
        ("270111".to_string(), 1),
        "{late}"
    );
    assert_eq!(
        code_date_and_seq(&next),
        ("270112".to_string(), 1),
        "{next}"
    );
}

#[tokio::test]
async fn due_soon_and_overdue_queues_change_at_their_boundaries() {
    let t0 = monday_morning();
    let app = TestApp::builder().manual_clock(t0).spawn().await;
    let code = app.submit_birth_registration().await;
    let email = "motcua@hongbang.gov.vn";
    let reception = app.official(email, Role::Reception, AGENCY).await;
    assert_eq!(
        reception
            .act(&app, &code, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    let (due, _) = due_at(&app, &code).await;
    // Received on Monday at 09:00, before the 15:00 cut-off: due the same day at closing time.
    assert_eq!(due, utc(2027, 1, 11, 10, 0, 0).as_millisecond());
    let two_days = 2 * 86_400_000;
    // "Sắp đến hạn": due within the next two days, and not yet late.
    app.clock().set(at_ms(due - two_days));
    assert!(!in_queue(&app, email, "sap-den-han", &code).await);
    app.clock().set(at_ms(due - two_days + 1));
    assert!(in_queue(&app, email, "sap-den-han", &code).await);
    // At the due instant itself it is still on time.
    app.clock().set(at_ms(due));
    assert!(in_queue(&app, email, "sap-den-han", &code).await);
    assert!(!in_queue(&app, email, "qua-han", &code).await);
    // One millisecond later it is late, and no longer "due soon".
    app.clock().set(at_ms(due + 1));
    assert!(in_queue(&app, email, "qua-han", &code).await);
    assert!(!in_queue(&app, email, "sap-den-han", &code).await);
}

#[tokio::test]
async fn awaiting_a_supplement_pauses_the_clock_and_the_appointment_moves_by_the_pause() {
    let t0 = monday_morning();
    let app = TestApp::builder().manual_clock(t0).spawn().await;
    let code = app.submit_birth_registration().await;
    let email = "motcua@hongbang.gov.vn";
    let reception = app.official(email, Role::Reception, AGENCY).await;
    assert_eq!(
        reception
            .act(&app, &code, "tiep-nhan", &[])
            .await
            .status()
            .as_u16(),
        303
    );
    let (due, original) = due_at(&app, &code).await;
    // Asked for a supplement at 10:00 on Monday: the clock stops.
    app.clock().set(t0 + HOUR);
    let reception = login(&app, email).await;
    let r = reception
        .act(
            &app,
            &code,
            "yeu-cau-bo-sung",
            &[
                ("reason", "Giấy chứng sinh bị mờ."),
                ("missing", "giay_chung_sinh"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let mail = app
        .mailbox
        .wait_for("Giấy tờ cần bổ sung", 10)
        .await
        .expect("supplement mail");
    let link = mail
        .lines()
        .find(|l| l.contains("/ho-so/xem/"))
        .expect("private link")
        .trim()
        .trim_start_matches(&app.base)
        .to_string();
    // Two days later the appointment has passed, but a paused dossier is not late.
    app.clock().set(at_ms(due + 2 * 86_400_000));
    assert!(!in_queue(&app, email, "qua-han", &code).await);
    assert!(in_queue(&app, email, "cho-bo-sung", &code).await);
    // The citizen supplements a week after being asked (Monday 10:00 to Monday 10:00): the
    // appointment moves by one week of office time, i.e. to the same hour a week later.
    app.clock().set(t0 + HOUR + Duration::from_secs(7 * 86_400));
    let r = app
        .send_supplement(&link, valid_pdf(), "giay-chung-sinh.pdf", None)
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let week = 7 * 86_400_000;
    let (new_due, new_original) = due_at(&app, &code).await;
    assert_eq!(
        new_due,
        due + week,
        "the appointment did not move by the pause"
    );
    assert_eq!(new_original, original + week);
    // Running again: on time until the new appointment, late one millisecond after it.
    app.clock().set(at_ms(new_due));
    assert!(!in_queue(&app, email, "qua-han", &code).await);
    app.clock().set(at_ms(new_due + 1));
    assert!(in_queue(&app, email, "qua-han", &code).await);
}

#[tokio::test]
async fn a_rate_limit_window_ends_on_its_last_millisecond() {
    // Lookups: 3 a minute, in fixed windows starting on the minute.
    let start = utc(2027, 1, 11, 2, 0, 0);
    let app = TestApp::builder()
        .rate_limits(1000, 3)
        .manual_clock(start)
        .spawn()
        .await;
    let lookup = || async { app.get("/tra-cuu?ma=000.00.02.H31-270111-0001").await };
    assert_eq!(lookup().await.status().as_u16(), 404);
    assert_eq!(lookup().await.status().as_u16(), 404);
    // The window's last millisecond still counts in it: the third lookup passes, the fourth not.
    app.clock().set(start + (Duration::from_secs(60) - MS));
    assert_eq!(lookup().await.status().as_u16(), 404);
    let r = lookup().await;
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    // The next window's first millisecond starts afresh.
    app.clock().set(start + Duration::from_secs(60));
    for _ in 0..3 {
        assert_eq!(lookup().await.status().as_u16(), 404);
    }
    assert_eq!(lookup().await.status().as_u16(), 429);
}
