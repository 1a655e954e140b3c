//! Creating concerts through the admin endpoint.

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{assert_problem, TestApp, ADMIN};

#[sqlx::test(migrations = "./migrations")]
async fn admin_creates_a_concert_with_its_seats_and_opens_its_queue(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let body = json!({"name": "Spring Tour", "schedules": [
        {"startsAt": "2027-03-01T19:00:00Z", "seatCount": 50, "price": 55000},
        {"startsAt": "2027-03-02T19:00:00Z", "seatCount": 20, "price": 0}
    ]});
    let res = app.create_concert_raw(&body, Some(ADMIN)).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let concert_id = created["concertId"].as_i64().unwrap();
    assert_eq!(
        created["schedules"][0]["seatIds"].as_array().unwrap().len(),
        50
    );
    assert_eq!(
        created["schedules"][1]["seatIds"].as_array().unwrap().len(),
        20
    );

    let seats: i64 = sqlx::query_scalar("SELECT count(*) FROM seats s JOIN schedules c ON c.id = s.schedule_id WHERE c.concert_id = $1")
        .bind(concert_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(seats, 70);
    let mut conn = app.redis.get().await.unwrap();
    let (name, admit): (String, u32) = redis::cmd("HMGET")
        .arg(app.keys.concert(concert_id).config())
        .arg("name")
        .arg("admitPerTick")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(name, "Spring Tour");
    assert_eq!(admit, 10, "queue opened with the configured defaults");
    let open: bool = redis::cmd("SISMEMBER")
        .arg(app.keys.open_concerts())
        .arg(concert_id)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(open);
}

#[sqlx::test(migrations = "./migrations")]
async fn admin_endpoint_needs_the_admin_token(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let body = json!({"name": "X", "schedules": [{"startsAt": "2027-03-01T19:00:00Z", "seatCount": 1, "price": 1}]});
    assert_problem(
        app.create_concert_raw(&body, None).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    assert_problem(
        app.create_concert_raw(&body, Some("nope")).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn bad_concerts_are_400_and_leave_nothing_behind(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let cases = [
        (json!({"name": "X", "schedules": []}), "INVALID_CONCERT"),
        (
            json!({"name": "a\u{0}b", "schedules": [{"startsAt": "2027-03-01T19:00:00Z", "seatCount": 1, "price": 1}]}),
            "INVALID_CONCERT",
        ),
        (
            json!({"name": "X", "schedules": [{"startsAt": "-5000-01-01T00:00:00Z", "seatCount": 1, "price": 1}]}),
            "INVALID_CONCERT",
        ),
        (
            json!({"name": "", "schedules": [{"startsAt": "2027-03-01T19:00:00Z", "seatCount": 1, "price": 1}]}),
            "INVALID_CONCERT",
        ),
        (
            json!({"name": "X", "schedules": [{"startsAt": "2027-03-01T19:00:00Z", "seatCount": 0, "price": 1}]}),
            "INVALID_CONCERT",
        ),
        (
            json!({"name": "X", "schedules": [{"startsAt": "2027-03-01T19:00:00Z", "seatCount": 10001, "price": 1}]}),
            "INVALID_CONCERT",
        ),
        (
            json!({"name": "X", "schedules": [{"startsAt": "2027-03-01T19:00:00Z", "seatCount": 1, "price": -1}]}),
            "INVALID_CONCERT",
        ),
        (
            json!({"name": "X", "schedules": [{"startsAt": "yesterday", "seatCount": 1, "price": 1}]}),
            "INVALID_BODY",
        ),
        (
            json!({"name": "X", "schedules": [{"startsAt": "2027-03-01T19:00:00Z", "seatCount": "1", "price": 1}]}),
            "INVALID_BODY",
        ),
        (
            json!({"name": "X", "schedules": [{"startsAt": "2027-03-01T19:00:00Z", "seatCount": 1, "price": 1, "x": 1}]}),
            "INVALID_BODY",
        ),
        (json!({"schedules": []}), "INVALID_BODY"),
    ];
    for (body, code) in cases {
        assert_problem(app.create_concert_raw(&body, Some(ADMIN)).await, 400, code).await;
    }
    let concerts: i64 = sqlx::query_scalar("SELECT count(*) FROM concerts")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(concerts, 0);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_queue_lost_by_redis_is_opened_again_by_itself(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 1_000).await;
    app.flush_redis().await;
    let mut conn = app.redis.get().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let name: Option<String> = redis::cmd("HGET")
            .arg(app.keys.concert(c.id).config())
            .arg("name")
            .query_async(&mut conn)
            .await
            .unwrap();
        if name.as_deref() == Some("Test Concert") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queue was not re-opened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let open: bool = redis::cmd("SISMEMBER")
        .arg(app.keys.open_concerts())
        .arg(c.id)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(open);
    let paused: Option<String> = redis::cmd("HGET")
        .arg(app.keys.concert(c.id).config())
        .arg("paused")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        paused.as_deref(),
        Some("0"),
        "a queue comes back with its pause state from its durable copy (it was running)"
    );
}
