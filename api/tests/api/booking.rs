//! Schedules, seat maps and holds: the session and concert rules, all-or-nothing holds,
//! and a thousand clients racing for one seat.

use shared::ids::TicketId;
use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{assert_problem, TestApp};

#[sqlx::test(migrations = "./migrations")]
async fn schedules_and_seats_merge_sold_and_held(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10, 5], 30_000).await;
    let alice = app.admit("alice", c.id).await;
    let bob = app.admit("bob", c.id).await;

    let res = app.schedules(&alice, c.id).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["schedules"].as_array().unwrap().len(), 2);
    assert_eq!(body["schedules"][0]["totalSeats"], 10);
    assert_eq!(body["schedules"][0]["availableSeats"], 10);

    let held = app.hold_ok(&alice, c.schedule(), &c.seats()[..2]).await;
    app.charge_ok(&bob, 100_000).await;
    let sold = app.hold_ok(&bob, c.schedule(), &c.seats()[2..3]).await;
    assert_eq!(app.pay(&bob, &sold, Some("k1")).await.status(), 201);

    let body: Value = app.schedules(&alice, c.id).await.json().await.unwrap();
    assert_eq!(body["schedules"][0]["availableSeats"], 7);
    let seats: Value = app
        .seats(&alice, c.id, c.schedule())
        .await
        .json()
        .await
        .unwrap();
    let seats = seats["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 10);
    assert_eq!(seats[0]["status"], "HELD");
    assert_eq!(seats[0]["mine"], true);
    assert_eq!(seats[2]["status"], "SOLD");
    assert_eq!(seats[3]["status"], "AVAILABLE");
    assert_eq!(seats[0]["seatNumber"], 1);
    assert_eq!(seats[0]["price"], 30_000);
    let _ = held;
}

#[sqlx::test(migrations = "./migrations")]
async fn booking_needs_an_active_session_for_the_same_concert(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[5], 1_000).await;
    let other = app.create_concert(&[5], 1_000).await;
    let token = app.admit("alice", c.id).await;

    assert_problem(app.schedules(&token, other.id).await, 403, "WRONG_CONCERT").await;
    assert_problem(
        app.seats(&token, other.id, other.schedule()).await,
        403,
        "WRONG_CONCERT",
    )
    .await;
    assert_problem(
        app.hold(&token, other.schedule(), &other.seats()[..1])
            .await,
        403,
        "WRONG_CONCERT",
    )
    .await;
    assert_problem(
        app.seats(&token, c.id, other.schedule()).await,
        404,
        "SCHEDULE_NOT_FOUND",
    )
    .await;

    app.end_session("alice", c.id).await;
    assert_problem(app.schedules(&token, c.id).await, 403, "SESSION_NOT_ACTIVE").await;
    assert_problem(
        app.seats(&token, c.id, c.schedule()).await,
        403,
        "SESSION_NOT_ACTIVE",
    )
    .await;
    assert_problem(
        app.hold(&token, c.schedule(), &c.seats()[..1]).await,
        403,
        "SESSION_NOT_ACTIVE",
    )
    .await;
    // Account endpoints still work with the token.
    assert_eq!(app.balance(&token).await, 0);

    // A token whose jti is not the current session's ticket does not book either.
    let stale = app.token(
        "bob",
        c.id,
        TicketId::new(999_999_999_999),
        chrono::Utc::now().timestamp() + 60,
    );
    app.admit("bob", c.id).await;
    assert_problem(app.schedules(&stale, c.id).await, 403, "SESSION_NOT_ACTIVE").await;
}

#[sqlx::test(migrations = "./migrations")]
async fn holds_are_all_or_nothing_and_validated(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    let other = app.create_concert(&[3], 1_000).await;
    let alice = app.admit("alice", c.id).await;
    let bob = app.admit("bob", c.id).await;
    let s = c.seats();

    assert_problem(
        app.hold(&alice, c.schedule(), &[]).await,
        400,
        "INVALID_SEAT_SELECTION",
    )
    .await;
    assert_problem(
        app.hold(&alice, c.schedule(), &[s[0], s[0]]).await,
        400,
        "INVALID_SEAT_SELECTION",
    )
    .await;
    assert_problem(
        app.hold(&alice, c.schedule(), &s[..5]).await,
        400,
        "INVALID_SEAT_SELECTION",
    )
    .await;
    assert_problem(
        app.hold(&alice, c.schedule(), &[other.seats()[0]]).await,
        404,
        "SEAT_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.hold(&alice, 999_999, &[s[0]]).await,
        404,
        "SCHEDULE_NOT_FOUND",
    )
    .await;

    let res = app.hold(&alice, c.schedule(), &[s[1], s[2]]).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "HELD");
    assert_eq!(body["totalPrice"], 2_000);
    assert_eq!(body["seats"].as_array().unwrap().len(), 2);
    assert!(body["expiresAt"].is_string());

    // One of bob's seats is taken: none of them is held.
    assert_problem(
        app.hold(&bob, c.schedule(), &[s[2], s[3]]).await,
        409,
        "SEAT_UNAVAILABLE",
    )
    .await;
    let seats: Value = app
        .seats(&bob, c.id, c.schedule())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seats["seats"][3]["status"], "AVAILABLE");
    // alice already has an open hold.
    assert_problem(
        app.hold(&alice, c.schedule(), &[s[5]]).await,
        409,
        "HOLD_EXISTS",
    )
    .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_lapsed_or_released_hold_frees_the_seat_at_once(db: PgPool) {
    let app = TestApp::spawn_with(db, |s| s.hold_ttl_seconds = 1).await;
    let c = app.create_concert(&[3], 1_000).await;
    let alice = app.admit("alice", c.id).await;
    let bob = app.admit("bob", c.id).await;
    let seat = c.seats()[0];

    let rid = app.hold_ok(&alice, c.schedule(), &[seat]).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let r: Value = app.reservation(&alice, &rid).await.json().await.unwrap();
    assert_eq!(r["status"], "EXPIRED");
    let rid_b = app.hold_ok(&bob, c.schedule(), &[seat]).await;

    let res = app.release(&bob, &rid_b).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "CANCELED");
    let r: Value = app.reservation(&bob, &rid_b).await.json().await.unwrap();
    assert_eq!(r["status"], "CANCELED");
    // Released: alice can hold the seat again at once.
    app.hold_ok(&alice, c.schedule(), &[seat]).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn release_never_removes_someone_elses_hold(db: PgPool) {
    let app = TestApp::spawn_with(db, |s| s.hold_ttl_seconds = 1).await;
    let c = app.create_concert(&[3], 1_000).await;
    let alice = app.admit("alice", c.id).await;
    let bob = app.admit("bob", c.id).await;
    let seat = c.seats()[0];
    let old = app.hold_ok(&alice, c.schedule(), &[seat]).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    app.hold_ok(&bob, c.schedule(), &[seat]).await;
    // alice releases her lapsed reservation: bob's hold on the same seat stays.
    assert_eq!(app.release(&alice, &old).await.status(), 200);
    let seats: Value = app
        .seats(&bob, c.id, c.schedule())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seats["seats"][0]["status"], "HELD");
    assert_eq!(seats["seats"][0]["mine"], true);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_user_never_sees_or_changes_another_users_reservation(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 1_000).await;
    let alice = app.admit("alice", c.id).await;
    let mallory = app.admit("mallory", c.id).await;
    let rid = app.hold_ok(&alice, c.schedule(), &[c.seats()[0]]).await;

    assert_problem(
        app.reservation(&mallory, &rid).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.release(&mallory, &rid).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    app.charge_ok(&mallory, 10_000).await;
    assert_problem(
        app.pay(&mallory, &rid, Some("m1")).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    assert_eq!(app.balance(&mallory).await, 10_000);
    // Still alice's.
    let r: Value = app.reservation(&alice, &rid).await.json().await.unwrap();
    assert_eq!(r["status"], "HELD");
    // After payment, the confirmed reservation stays private too.
    app.charge_ok(&alice, 1_000).await;
    assert_eq!(app.pay(&alice, &rid, Some("a1")).await.status(), 201);
    assert_problem(
        app.reservation(&mallory, &rid).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.reservation(&alice, "00000000-0000-4000-8000-000000000000")
            .await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_user_reads_and_cancels_a_hold_with_the_token_of_another_concert(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let first = app.create_concert(&[3], 1_000).await;
    let second = app.create_concert(&[3], 1_000).await;
    let in_first = app.admit("alice", first.id).await;
    let in_second = app.admit("alice", second.id).await;
    let rid = app
        .hold_ok(&in_first, first.schedule(), &[first.seats()[0]])
        .await;
    // Account endpoints need any valid token of the user: the id says where the hold is.
    let r: Value = app
        .reservation(&in_second, &rid)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "HELD");
    assert_eq!(r["scheduleId"], first.schedule());
    let bob = app.admit("bob", second.id).await;
    assert_problem(
        app.reservation(&bob, &rid).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    let res = app.release(&in_second, &rid).await;
    assert_eq!(res.status(), 200);
    let r: Value = app.reservation(&in_first, &rid).await.json().await.unwrap();
    assert_eq!(r["status"], "CANCELED");
    // The seat is free again.
    app.hold_ok(&in_first, first.schedule(), &[first.seats()[0]])
        .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_thousand_concurrent_holds_of_one_seat_have_exactly_one_winner(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[5], 1_000).await;
    let users: Vec<String> = (0..1000).map(|i| format!("racer-{i}")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    let tokens = app.admit_many(&names, c.id).await;
    let seat = c.seats()[0];
    let seat = [seat];
    let results = join_all(tokens.iter().map(|t| app.hold(t, c.schedule(), &seat))).await;
    let mut created = 0;
    for res in results {
        match res.status().as_u16() {
            201 => created += 1,
            409 => assert_eq!(
                res.json::<Value>().await.unwrap()["code"],
                "SEAT_UNAVAILABLE"
            ),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
    let mut conn = app.redis.get().await.unwrap();
    let holders: Vec<String> = redis::cmd("ZRANGE")
        .arg(app.keys.concert(c.id).held_seats(c.schedule()))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(holders.len(), 1, "one holder: {holders:?}");
}
