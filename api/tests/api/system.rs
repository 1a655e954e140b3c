//! Health, readiness against stopped dependencies, error shapes, body limits, tokens.

use serde_json::{json, Value};
use shared::token::SigningKey;
use sqlx::PgPool;

use crate::helpers::{assert_problem, TestApp};

#[sqlx::test(migrations = "./migrations")]
async fn ready_is_200_with_both_dependencies_up(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"], "up");
    assert_eq!(body["checks"]["redis"], "up");
    assert_eq!(app.get("/health/live", None).await.status(), 200);
    assert!(app
        .get("/metrics", None)
        .await
        .text()
        .await
        .unwrap()
        .contains("http_requests_total"));
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert!(doc["paths"]["/api/v1/payments"].is_object());
}

#[sqlx::test(migrations = "./migrations")]
async fn with_redis_unreachable_ready_is_503_and_booking_is_a_503_problem(db: PgPool) {
    let app = TestApp::spawn_with(db, |s| s.redis.url = "redis://127.0.0.1:1".into()).await;
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap()["checks"]["redis"],
        "down"
    );
    let token = app.token("u", 1, "1", chrono::Utc::now().timestamp() + 60);
    assert_problem(app.schedules(&token, 1).await, 503, "SERVICE_UNAVAILABLE").await;
}

#[sqlx::test(migrations = "./migrations")]
async fn with_postgres_gone_ready_is_503_and_balance_is_a_503_problem(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let token = app.token("u", 1, "1", chrono::Utc::now().timestamp() + 60);
    db.close().await;
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap()["checks"]["postgres"],
        "down"
    );
    assert_problem(
        app.get("/api/v1/balance", Some(&token)).await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn malformed_oversized_and_unknown_requests_are_problems(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let token = app.admit("u", 1).await;
    let post = |body: String, ct: &'static str| {
        app.client
            .post(app.url("/api/v1/balance/charge"))
            .bearer_auth(&token)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_problem(
        post("{".into(), "application/json").await.unwrap(),
        400,
        "MALFORMED_JSON",
    )
    .await;
    assert_problem(
        post(r#"{"amount":1,"x":2}"#.into(), "application/json")
            .await
            .unwrap(),
        400,
        "INVALID_BODY",
    )
    .await;
    assert_problem(
        post(r#"{"amount":1}"#.into(), "text/plain").await.unwrap(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    assert_problem(
        post(
            format!(r#"{{"amount":1,"pad":"{}"}}"#, "x".repeat(50_000)),
            "application/json",
        )
        .await
        .unwrap(),
        413,
        "BODY_TOO_LARGE",
    )
    .await;
    assert_problem(app.get("/api/v1/nothing", None).await, 404, "NOT_FOUND").await;
    assert_problem(
        app.get("/api/v1/reservations/not-a-uuid", Some(&token))
            .await,
        400,
        "INVALID_PATH",
    )
    .await;
    assert_problem(
        app.get("/api/v1/concerts/abc/schedules", Some(&token))
            .await,
        400,
        "INVALID_PATH",
    )
    .await;
    let res = app
        .client
        .put(app.url("/api/v1/balance"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 405, "METHOD_NOT_ALLOWED").await;
}

#[sqlx::test(migrations = "./migrations")]
async fn forged_expired_and_malformed_tokens_are_401(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let now = chrono::Utc::now().timestamp();
    let other = SigningKey::generate();
    let forged = other
        .sign(&shared::token::AccessClaims::new(
            "u",
            1,
            "1",
            now,
            now + 60,
        ))
        .unwrap();
    let expired = app.token("u", 1, "1", now - 120);
    for bad in [forged.as_str(), expired.as_str(), "garbage", ""] {
        let res = app
            .client
            .get(app.url("/api/v1/balance"))
            .header("authorization", format!("Bearer {bad}"))
            .send()
            .await
            .unwrap();
        assert_problem(res, 401, "INVALID_ACCESS_TOKEN").await;
    }
    assert_problem(
        app.get("/api/v1/balance", None).await,
        401,
        "INVALID_ACCESS_TOKEN",
    )
    .await;
    let res = app
        .client
        .get(app.url("/api/v1/balance"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "INVALID_ACCESS_TOKEN").await;
    let _ = json!({});
}
