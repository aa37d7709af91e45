//! Overload: beyond `DVC_MAX_IN_FLIGHT` requests at once, the portal answers at once with 503,
//! `Retry-After` and a Vietnamese page (problem JSON under `/api`) instead of queueing; the health
//! check is never shed; capacity comes back when a request ends.

use crate::helpers::*;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn one_request_over_the_limit_gets_503_with_retry_after_and_capacity_comes_back() {
    let app = TestApp::builder().max_in_flight(1).spawn().await;
    let (s, _) = app.get_text("/").await;
    assert_eq!(s, 200, "one request at a time is served");

    // A request that holds the only place: a login form whose body never finishes arriving.
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(
        format!(
            "POST /can-bo/dang-nhap HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=a"
        )
        .as_bytes(),
    )
    .await
    .expect("send head");

    // Every other request is turned away at once while it is in flight…
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let r = app.get("/").await;
        if r.status().as_u16() == 503 {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no 503 while the only place was taken"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        page.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
    let body = page.text().await.expect("body");
    assert!(
        body.contains("Cổng đang quá tải") && body.contains("thử lại sau ít giây"),
        "{body}"
    );
    let api = app.get("/api/v1/procedures").await;
    assert_eq!(api.status().as_u16(), 503);
    let json: serde_json::Value = api.json().await.expect("json");
    assert_eq!(json["error"]["code"], "overloaded");
    // …but the health check still answers.
    let (s, _) = app.get_text("/healthz").await;
    assert_eq!(s, 200);

    // The slow client goes away: its place is free again.
    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, _) = app.get_text("/").await;
        if s == 200 {
            break;
        }
        assert_eq!(s, 503);
        assert!(Instant::now() < deadline, "capacity never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
