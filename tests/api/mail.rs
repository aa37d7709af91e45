//! The e-mail outbox: a dead SMTP server delays the confirmation, never loses it.

use crate::helpers::*;
use dichvucong::jobs::mailer::{Mailer, Transport};
use std::time::Duration;

/// A portal whose SMTP server is a port with nothing listening.
async fn app_with_dead_smtp() -> TestApp {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    TestApp::builder()
        .smtp(SmtpChoice::Dead(port))
        .spawn()
        .await
}

/// (id, attempts, locked_until, last_error) of every outbox row.
type OutboxRow = (i64, i64, Option<i64>, Option<String>);

async fn outbox_rows(app: &TestApp) -> Vec<OutboxRow> {
    dichvucong::db_run!(&app.state.db, p => {
        sqlx::query_as("SELECT id, attempts, locked_until, last_error FROM outbox ORDER BY id")
            .fetch_all(p)
            .await
            .expect("outbox rows")
    })
}

/// Waits until the app's own worker has tried every queued message at least once and holds
/// none of them (its failed round is over).
async fn wait_for_failed_round(app: &TestApp, n: usize) -> Vec<OutboxRow> {
    let tried = wait_until(20, || async move {
        let rows = outbox_rows(app).await;
        rows.len() == n
            && rows.iter().any(|(_, attempts, _, _)| *attempts >= 1)
            && rows.iter().all(|(_, _, locked, _)| locked.is_none())
    })
    .await;
    let rows = outbox_rows(app).await;
    assert!(
        tried,
        "the worker never finished a failed round, or left a message locked: {rows:?}"
    );
    rows
}

/// A second outbox worker on the app's database (as after a restart), sending to `url`.
/// When the tests' re-armed messages fall due: an hour from now, so that the app's own outbox
/// worker (on the system clock, SMTP dead) leaves them alone, while [`worker_to`]'s worker, whose
/// clock is set past that hour, finds them due.
fn rearm_at() -> i64 {
    dichvucong::now_ms() + 3_600_000
}

fn worker_to(app: &TestApp, url: &str) -> Mailer {
    Mailer {
        db: app.state.db.clone(),
        transport: Transport::from_config(Some(url), &app.dir).expect("transport"),
        from: "Cổng <no-reply@dichvucong.test>".parse().expect("from"),
        queue: Default::default(),
        backoff_base: Duration::from_millis(100),
        clock: dichvucong::clock::Clock::manual(dichvucong::ts(rearm_at() + 60_000)),
    }
}

#[tokio::test]
async fn dead_smtp_delays_but_does_not_lose_the_email() {
    let app = app_with_dead_smtp().await;
    let code = app.submit_birth_registration().await;
    // The worker tries and fails; the message stays pending with its error recorded.
    let rows = wait_for_failed_round(&app, 1).await;
    assert!(rows[0].1 >= 1 && rows[0].3.is_some(), "{rows:?}");
    let (pending, sent) = dichvucong::store::outbox::counts(&app.state.db)
        .await
        .expect("counts");
    assert_eq!((pending, sent), (1, 0));

    // The SMTP server comes back: a worker (as after a restart) delivers it, once.
    let (url, mailbox) = crate::smtp::start().await;
    // Make the retry due now.
    dichvucong::store::outbox::mark_failed(&app.state.db, 1, rearm_at(), "test: retry now")
        .await
        .expect("reschedule");
    let mailer = worker_to(&app, &url);
    let sent_now = mailer.send_due().await.expect("send");
    assert_eq!(sent_now, 1);
    let msg = mailbox.wait_for(&code, 5).await.expect("delivered");
    assert!(msg.contains("Mã hồ sơ"));
    assert_eq!(
        mailer.send_due().await.expect("send"),
        0,
        "never sent twice"
    );
    assert_eq!(
        dichvucong::store::outbox::counts(&app.state.db)
            .await
            .expect("counts"),
        (0, 1)
    );
}

#[tokio::test]
async fn a_message_named_by_id_is_claimed_directly_and_sent_once() {
    let app = app_with_dead_smtp().await;
    let code = app.submit_birth_registration().await;
    wait_for_failed_round(&app, 1).await;
    let (url, mailbox) = crate::smtp::start().await;
    dichvucong::store::outbox::mark_failed(&app.state.db, 1, rearm_at(), "test: retry now")
        .await
        .expect("reschedule");
    let mailer = worker_to(&app, &url);
    // An id that does not exist, next to the real one, is simply not claimed.
    assert_eq!(mailer.send_hinted(&[1, 999]).await.expect("send"), 1);
    mailbox.wait_for(&code, 5).await.expect("delivered");
    assert_eq!(
        mailer.send_hinted(&[1]).await.expect("send"),
        0,
        "a sent message is not claimed again"
    );
    assert_eq!(
        dichvucong::store::outbox::counts(&app.state.db)
            .await
            .expect("counts"),
        (0, 1)
    );
}

#[test]
fn backoff_grows_and_is_capped() {
    use dichvucong::jobs::mailer::backoff;
    let b = Duration::from_secs(2);
    assert_eq!(backoff(b, 1), Duration::from_secs(2));
    assert_eq!(backoff(b, 3), Duration::from_secs(8));
    assert_eq!(backoff(b, 30), Duration::from_secs(3600));
}

#[tokio::test]
async fn a_failed_round_leaves_no_message_locked_and_a_batch_goes_out_together() {
    let app = app_with_dead_smtp().await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(app.submit_birth_registration().await);
    }
    // The worker claims the three together, fails on the first, and gives the others back
    // untried: nothing stays locked for the lease (the wait fails if a lock stays), nothing is
    // lost.
    let rows = wait_for_failed_round(&app, 3).await;

    let (url, mailbox) = crate::smtp::start().await;
    for (id, _, _, _) in &rows {
        dichvucong::store::outbox::mark_failed(&app.state.db, *id, rearm_at(), "test: retry now")
            .await
            .expect("reschedule");
    }
    let mailer = worker_to(&app, &url);
    assert_eq!(
        mailer.send_due().await.expect("send"),
        3,
        "one batch, all three"
    );
    for code in &codes {
        mailbox.wait_for(code, 5).await.expect("delivered");
    }
    assert_eq!(
        dichvucong::store::outbox::counts(&app.state.db)
            .await
            .expect("counts"),
        (0, 3)
    );
}
