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
    // The queue's settings come back first, then its entry in the open set (another slot in a
    // cluster, so a command of its own): both are waited for.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let name: Option<String> = redis::cmd("HGET")
            .arg(app.keys.concert(c.id).config())
            .arg("name")
            .query_async(&mut conn)
            .await
            .unwrap();
        let open: bool = redis::cmd("SISMEMBER")
            .arg(app.keys.open_concerts())
            .arg(c.id)
            .query_async(&mut conn)
            .await
            .unwrap();
        if name.as_deref() == Some("Test Concert") && open {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queue was not re-opened (name {name:?}, in the open set: {open})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
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

/// The console's sale figures of concert `id`, asserting 200.
async fn sales(app: &TestApp, id: i64) -> Value {
    let res = app
        .get(&format!("/api/v1/admin/concerts/{id}/sales"), Some(ADMIN))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

/// The figures the console charts, in the order of the response.
fn figures(v: &Value) -> [i64; 7] {
    [
        "seatsTotal",
        "sold",
        "held",
        "sellable",
        "payments",
        "revenue",
        "holdsCreated",
    ]
    .map(|f| v[f].as_i64().unwrap_or_else(|| panic!("{f} in {v}")))
}

#[sqlx::test(migrations = "./migrations")]
async fn sales_follow_holds_payments_releases_and_started_dates(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3, 2], 1_000).await;
    let (first, second) = (c.schedules[0].clone(), c.schedules[1].clone());
    let before = sales(&app, c.id).await;
    assert_eq!(before["concertId"], c.id);
    // total, sold, held, sellable, payments, revenue, holds created
    assert_eq!(figures(&before), [5, 0, 0, 5, 0, 0, 0]);

    let [alice, bob] =
        <[String; 2]>::try_from(app.admit_many(&["alice", "bob"], c.id).await).unwrap();
    let paid = app.hold_ok(&alice, first.0, &first.1[..2]).await;
    let released = app.hold_ok(&bob, second.0, &second.1[..1]).await;
    assert_eq!(figures(&sales(&app, c.id).await), [5, 0, 3, 2, 0, 0, 2]);

    app.charge_ok(&alice, 2_000).await;
    assert_eq!(app.pay(&alice, &paid, Some("p-1")).await.status(), 201);
    assert_eq!(figures(&sales(&app, c.id).await), [5, 2, 1, 2, 1, 2_000, 2]);

    assert_eq!(app.release(&bob, &released).await.status(), 200);
    assert_eq!(figures(&sales(&app, c.id).await), [5, 2, 0, 3, 1, 2_000, 2]);

    // A date that has started is off sale: its seats are no longer sellable.
    sqlx::query("UPDATE schedules SET starts_at = now() - interval '1 minute' WHERE id = $1")
        .bind(second.0)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(figures(&sales(&app, c.id).await), [5, 2, 0, 1, 1, 2_000, 2]);

    // Another concert's sale is its own.
    let other = app.create_concert(&[4], 10).await;
    assert_eq!(figures(&sales(&app, other.id).await), [4, 0, 0, 4, 0, 0, 0]);

    // A closed concert answers its final figures.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/admin/concerts/{}/close", c.id)))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(figures(&sales(&app, c.id).await), [5, 2, 0, 1, 1, 2_000, 2]);
}

#[sqlx::test(migrations = "./migrations")]
async fn sales_need_the_admin_token_and_a_known_concert(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[1], 1).await;
    let path = format!("/api/v1/admin/concerts/{}/sales", c.id);
    assert_problem(app.get(&path, None).await, 401, "UNAUTHORIZED").await;
    assert_problem(app.get(&path, Some("nope")).await, 401, "UNAUTHORIZED").await;
    let access = app.admit("alice", c.id).await;
    assert_problem(app.get(&path, Some(&access)).await, 401, "UNAUTHORIZED").await;

    for unknown in [c.id + 1_000, 0, -1] {
        let res = app
            .get(
                &format!("/api/v1/admin/concerts/{unknown}/sales"),
                Some(ADMIN),
            )
            .await;
        assert_problem(res, 404, "CONCERT_NOT_FOUND").await;
    }
    let res = app
        .get("/api/v1/admin/concerts/abc/sales", Some(ADMIN))
        .await;
    assert_problem(res, 400, "INVALID_PATH").await;
}
