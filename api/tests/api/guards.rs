//! The guards of the money path, each with a test that fails without it: what Redis says
//! cannot change what is paid, a hold never outlives its session, a lost hold never sells a
//! seat twice.

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{assert_invariants, assert_problem, TestApp};

/// Sets fields of a held reservation's hash in Redis, as a bug or an intruder could.
async fn tamper(app: &TestApp, concert_id: i64, rid: &str, fields: &[(&str, String)]) {
    let key = app.keys.concert(concert_id).reservation(rid);
    let mut conn = app.redis.get().await.unwrap();
    let mut cmd = redis::cmd("HSET");
    cmd.arg(key);
    for (f, v) in fields {
        cmd.arg(*f).arg(v);
    }
    let _: i64 = cmd.query_async(&mut conn).await.unwrap();
}

async fn tickets_of(db: &PgPool, rid: &str) -> Vec<(i64, i64, i64)> {
    sqlx::query_as("SELECT schedule_id, seat_id, price FROM tickets WHERE reservation_id = $1::uuid ORDER BY seat_id")
        .bind(rid)
        .fetch_all(db)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn prices_written_into_redis_do_not_change_what_is_paid(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 5_000).await;
    let t = app.admit("alice", c.id).await;
    app.charge_ok(&t, 20_000).await;
    let seats = &c.seats()[..2];
    let rid = app.hold_ok(&t, c.schedule(), seats).await;
    let free = format!("[[{},1,0],[{},2,0]]", seats[0], seats[1]);
    tamper(
        &app,
        c.id,
        &rid,
        &[("seats", free), ("totalPrice", "0".into())],
    )
    .await;
    let body: Value = app.reservation(&t, &rid).await.json().await.unwrap();
    assert_eq!(body["totalPrice"], 10_000, "what a payment charges: {body}");
    let res = app.pay(&t, &rid, Some("p1")).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["amount"], 10_000, "{body}");
    assert_eq!(app.balance(&t).await, 10_000);
    assert_eq!(
        tickets_of(&app.db, &rid).await,
        [
            (c.schedule(), seats[0], 5_000),
            (c.schedule(), seats[1], 5_000)
        ]
    );
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_schedule_written_into_redis_sells_nothing(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3, 3], 5_000).await;
    let other = c.schedules[1].0;
    let t = app.admit("alice", c.id).await;
    app.charge_ok(&t, 20_000).await;
    let seat = c.seats()[0];
    let rid = app.hold_ok(&t, c.schedule(), &[seat]).await;
    // The hash names the other schedule, and the hold keys are forged to match, so the claim
    // passes: Postgres's seats still say the seat is not that schedule's.
    tamper(&app, c.id, &rid, &[("scheduleId", other.to_string())]).await;
    let k = app.keys.concert(c.id);
    let mut conn = app.redis.get().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(k.seat_hold(other, seat))
        .arg(&rid)
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_problem(app.pay(&t, &rid, Some("p1")).await, 409, "SEAT_UNAVAILABLE").await;
    assert_eq!(app.balance(&t).await, 20_000);
    assert!(tickets_of(&app.db, &rid).await.is_empty());
    // With the real schedule back, the hold pays at the real price.
    tamper(
        &app,
        c.id,
        &rid,
        &[("scheduleId", c.schedule().to_string())],
    )
    .await;
    assert_eq!(app.pay(&t, &rid, Some("p2")).await.status(), 201);
    assert_eq!(app.balance(&t).await, 15_000);
    assert_invariants(&app.db).await;
}

/// Admits `user` with a session that ends in `ms` milliseconds; the access token.
async fn admit_until(app: &TestApp, user: &str, concert_id: i64, ms: i64) -> (String, i64) {
    let k = app.keys.concert(concert_id);
    let ends = chrono::Utc::now().timestamp_millis() + ms;
    let ticket = shared::ids::TicketId::new(rand::random::<u32>() as u64 + 1);
    let mut pipe = redis::pipe();
    shared::session::start(&mut pipe, &k, &crate::helpers::user_id(user), ticket, ends);
    let mut conn = app.redis.get().await.unwrap();
    let () = pipe.query_async(&mut conn).await.unwrap();
    (app.token(user, concert_id, ticket, ends / 1000 + 60), ends)
}

#[sqlx::test(migrations = "./migrations")]
async fn a_hold_ends_with_its_session(db: PgPool) {
    let app = TestApp::spawn(db).await; // HOLD_TTL_SECONDS 300
    let c = app.create_concert(&[2], 1_000).await;
    let seat = c.seats()[0];
    let (short, ends) = admit_until(&app, "short", c.id, 1_500).await;
    let res = app.hold(&short, c.schedule(), &[seat]).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert_eq!(
        expires, ends,
        "the session's end, not 300 s from now: {body}"
    );
    // A long session's hold keeps the hold TTL.
    let long = app.admit("long", c.id).await;
    let res = app.hold(&long, c.schedule(), &[c.seats()[1]]).await;
    let body: Value = res.json().await.unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let ttl = expires - chrono::Utc::now().timestamp_millis();
    assert!((295_000..=300_000).contains(&ttl), "{ttl}");
    // Once the short session is over, its seat is on sale again.
    let other = app.admit("other", c.id).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let res = app.hold(&other, c.schedule(), &[seat]).await;
        if res.status() == 201 {
            break;
        }
        assert_problem(res, 409, "SEAT_UNAVAILABLE").await;
        assert!(
            std::time::Instant::now() < deadline,
            "the hold outlived its session"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(chrono::Utc::now().timestamp_millis() >= ends);
}

/// The hold key of `seat`, as Redis has it: the reservation holding it, if any.
async fn hold_key(app: &TestApp, concert_id: i64, schedule_id: i64, seat: i64) -> Option<String> {
    let mut conn = app.redis.get().await.unwrap();
    redis::cmd("GET")
        .arg(app.keys.concert(concert_id).seat_hold(schedule_id, seat))
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Sets (or, with `None`, deletes) the hold key of `seat`, as a lost write or a failover would.
async fn set_hold_key(
    app: &TestApp,
    concert_id: i64,
    schedule_id: i64,
    seat: i64,
    rid: Option<&str>,
) {
    let key = app.keys.concert(concert_id).seat_hold(schedule_id, seat);
    let mut conn = app.redis.get().await.unwrap();
    let cmd = match rid {
        Some(rid) => {
            let mut c = redis::cmd("SET");
            c.arg(key).arg(rid).arg("PX").arg(60_000);
            c
        }
        None => {
            let mut c = redis::cmd("DEL");
            c.arg(key);
            c
        }
    };
    let _: redis::Value = cmd.query_async(&mut conn).await.unwrap();
}

async fn sold_count(db: &PgPool, seat: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM tickets WHERE seat_id = $1")
        .bind(seat)
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn a_lost_hold_put_back_after_another_sale_is_refused_by_postgres(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[1], 5_000).await;
    let (s, seat) = (c.schedule(), c.seats()[0]);
    let a = app.admit("a", c.id).await;
    let b = app.admit("b", c.id).await;
    app.charge_ok(&a, 5_000).await;
    app.charge_ok(&b, 5_000).await;
    let ra = app.hold_ok(&a, s, &[seat]).await;
    // Redis loses a's hold key; b holds the seat and pays.
    set_hold_key(&app, c.id, s, seat, None).await;
    let rb = app.hold_ok(&b, s, &[seat]).await;
    assert_eq!(app.pay(&b, &rb, Some("b")).await.status(), 201);
    // a's hold key comes back (a replica that missed the loss), so the claim passes: only
    // the fence in Postgres stands between a and a second sale.
    set_hold_key(&app, c.id, s, seat, Some(&ra)).await;
    assert_problem(app.pay(&a, &ra, Some("a")).await, 409, "SEAT_UNAVAILABLE").await;
    assert_eq!(app.balance(&a).await, 5_000, "a's money is untouched");
    assert_eq!(app.balance(&b).await, 0);
    assert_eq!(sold_count(&app.db, seat).await, 1);
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_payment_whose_seat_another_hold_took_is_refused_before_the_sale(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[1], 5_000).await;
    let (s, seat) = (c.schedule(), c.seats()[0]);
    let a = app.admit("a", c.id).await;
    let b = app.admit("b", c.id).await;
    app.charge_ok(&a, 5_000).await;
    app.charge_ok(&b, 5_000).await;
    let ra = app.hold_ok(&a, s, &[seat]).await;
    // Redis loses a's hold key and b holds the seat; a's reservation still reads HELD, so
    // only the claim's check of the hold keys stops a's payment.
    set_hold_key(&app, c.id, s, seat, None).await;
    let rb = app.hold_ok(&b, s, &[seat]).await;
    assert_problem(app.pay(&a, &ra, Some("a")).await, 409, "HOLD_EXPIRED").await;
    assert_eq!(
        hold_key(&app, c.id, s, seat).await.as_deref(),
        Some(rb.as_str())
    );
    assert_eq!(app.balance(&a).await, 5_000);
    // The seat is b's to buy.
    assert_eq!(app.pay(&b, &rb, Some("b")).await.status(), 201);
    assert_eq!(app.balance(&b).await, 0);
    assert_eq!(sold_count(&app.db, seat).await, 1);
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_payment_after_the_session_ended_is_refused(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[1], 5_000).await;
    let t = app.admit("a", c.id).await;
    app.charge_ok(&t, 5_000).await;
    let rid = app.hold_ok(&t, c.schedule(), &[c.seats()[0]]).await;
    // The session ends (the fan left) while the hold is still there.
    app.end_session("a", c.id).await;
    assert_problem(
        app.pay(&t, &rid, Some("p")).await,
        403,
        "SESSION_NOT_ACTIVE",
    )
    .await;
    assert_eq!(app.balance(&t).await, 5_000);
    assert_eq!(sold_count(&app.db, c.seats()[0]).await, 0);
}

/// The advisory lock a request with `key` from `user` takes, held by the test's own
/// connection as a request still running with that key would.
async fn hold_key_lock(
    db: &PgPool,
    user: &str,
    key: &str,
) -> sqlx::pool::PoolConnection<sqlx::Postgres> {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("idempotency-key", key.parse().unwrap());
    let key = api::domain::IdempotencyKey::required(&headers).unwrap();
    let mut conn = db.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key.lock_id(user))
        .execute(&mut *conn)
        .await
        .unwrap();
    conn
}

#[sqlx::test(migrations = "./migrations")]
async fn a_request_whose_key_is_locked_by_a_running_one_moves_no_money(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[1], 5_000).await;
    let t = app.admit("a", c.id).await;
    app.charge_ok(&t, 5_000).await;
    let rid = app.hold_ok(&t, c.schedule(), &[c.seats()[0]]).await;
    let lock = hold_key_lock(&app.db, "a", "k").await;
    let res = app.charge(&t, serde_json::json!(1_000), Some("k")).await;
    assert_problem(res, 409, "IDEMPOTENCY_IN_PROGRESS").await;
    assert_problem(
        app.pay(&t, &rid, Some("k")).await,
        409,
        "IDEMPOTENCY_IN_PROGRESS",
    )
    .await;
    assert_eq!(app.balance(&t).await, 5_000, "neither moved money");
    assert_eq!(sold_count(&app.db, c.seats()[0]).await, 0);
    drop(lock);
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
#[should_panic(expected = "every ticket is sold at its seat's price")]
async fn the_invariant_checks_catch_a_ticket_off_its_seats_price(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[1], 5_000).await;
    let t = app.admit("a", c.id).await;
    app.charge_ok(&t, 5_000).await;
    let rid = app.hold_ok(&t, c.schedule(), &[c.seats()[0]]).await;
    assert_eq!(app.pay(&t, &rid, Some("p")).await.status(), 201);
    assert_invariants(&app.db).await;
    // As a payment that took its prices from Redis could have written it.
    sqlx::raw_sql(
        "UPDATE tickets SET price = 0; UPDATE payments SET amount = 0;
         UPDATE reservations SET total_price = 0",
    )
    .execute(&app.db)
    .await
    .unwrap();
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_seat_of_another_concert_written_into_redis_sells_nothing(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[1], 5_000).await;
    let other = app.create_concert(&[1], 5_000).await;
    let (os, oseat) = (other.schedule(), other.seats()[0]);
    let t = app.admit("a", c.id).await;
    app.charge_ok(&t, 20_000).await;
    let rid = app.hold_ok(&t, c.schedule(), &[c.seats()[0]]).await;
    // The hash (in this concert's keys) names the other concert's schedule and seat, with a
    // forged hold key to match: the claim and the api's seat copy agree with it, Postgres's
    // schedules do not.
    tamper(
        &app,
        c.id,
        &rid,
        &[
            ("scheduleId", os.to_string()),
            ("seats", format!("[[{oseat},1,5000]]")),
        ],
    )
    .await;
    set_hold_key(&app, c.id, os, oseat, Some(&rid)).await;
    assert_problem(app.pay(&t, &rid, Some("p")).await, 409, "SEAT_UNAVAILABLE").await;
    assert_eq!(app.balance(&t).await, 20_000);
    assert_eq!(sold_count(&app.db, oseat).await, 0);
    assert_invariants(&app.db).await;
}
