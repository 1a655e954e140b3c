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
    assert_eq!(
        statuses(&app, &bob, c.id, c.schedule()).await[3],
        "AVAILABLE"
    );
    // The taken seat comes after a free one, which is taken back.
    assert_problem(
        app.hold(&bob, c.schedule(), &[s[0], s[2]]).await,
        409,
        "SEAT_UNAVAILABLE",
    )
    .await;
    assert_eq!(
        statuses(&app, &bob, c.id, c.schedule()).await[0],
        "AVAILABLE"
    );
    let carol = app.admit("carol", c.id).await;
    assert_eq!(app.hold(&carol, c.schedule(), &[s[0]]).await.status(), 201);
    // alice already has an open hold.
    assert_problem(
        app.hold(&alice, c.schedule(), &[s[5]]).await,
        409,
        "HOLD_EXISTS",
    )
    .await;
    // bob's refused holds left him no open hold either.
    app.hold_ok(&bob, c.schedule(), &[s[3]]).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn holds_drop_lapsed_entries_of_the_held_index_and_keep_their_count(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[5], 1_000).await;
    let k = app.keys.concert(c.id);
    let mut conn = app.redis.get().await.unwrap();
    let _: () = redis::cmd("ZADD")
        .arg(k.held_seats(c.schedule()))
        .arg(1)
        .arg("1:lapsed-long-ago")
        .query_async(&mut conn)
        .await
        .unwrap();

    // The concert's first hold does the upkeep (later ones, about one in 16).
    let alice = app.admit("alice", c.id).await;
    let rid = app.hold_ok(&alice, c.schedule(), &c.seats()[..1]).await;
    let held: Vec<String> = redis::cmd("ZRANGE")
        .arg(k.held_seats(c.schedule()))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(held, [format!("{}:{rid}", c.seats()[0])]);
    let (created, ttl): (i64, i64) = redis::pipe()
        .get(k.holds_created())
        .ttl(k.holds_created())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(created, 1);
    assert!(ttl > 89 * 86_400, "kept 90 days: {ttl}");
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

/// The available seats of the first schedule of a concert.
async fn available(app: &TestApp, token: &str, concert_id: i64) -> i64 {
    let body: Value = app.schedules(token, concert_id).await.json().await.unwrap();
    body["schedules"][0]["availableSeats"].as_i64().unwrap()
}

/// The seat statuses of a schedule's map, in seat order.
async fn statuses(app: &TestApp, token: &str, concert_id: i64, schedule_id: i64) -> Vec<String> {
    let res = app.seats(token, concert_id, schedule_id).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrations = "./migrations")]
async fn a_sale_through_one_instance_shows_as_sold_on_another(db: PgPool) {
    let one = TestApp::spawn(db).await;
    let two = one.spawn_beside().await;
    let c = one.create_concert(&[5], 10_000).await;
    let alice = one.admit("alice", c.id).await;
    let bob = one.admit("bob", c.id).await;
    // Both instances have read (and keep) the sold seats: none.
    assert_eq!(available(&two, &alice, c.id).await, 5);
    for _ in 0..2 {
        assert_eq!(
            statuses(&one, &alice, c.id, c.schedule()).await[1],
            "AVAILABLE"
        );
        assert_eq!(
            statuses(&two, &alice, c.id, c.schedule()).await[1],
            "AVAILABLE"
        );
    }

    one.charge_ok(&bob, 100_000).await;
    let r = one.hold_ok(&bob, c.schedule(), &c.seats()[1..2]).await;
    assert_eq!(one.pay(&bob, &r, Some("k1")).await.status(), 201);

    assert_eq!(statuses(&two, &alice, c.id, c.schedule()).await[1], "SOLD");
    assert_eq!(statuses(&one, &alice, c.id, c.schedule()).await[1], "SOLD");
    assert_eq!(available(&two, &alice, c.id).await, 4);
    let res = two.hold(&alice, c.schedule(), &c.seats()[1..2]).await;
    assert_eq!(res.status(), 409);
}

/// A hold is checked against the instance's copy of the sold seats, made only while the sale
/// version it was read under stands: an instance that has not seen a sale yet refuses the
/// sold seat all the same, and still holds a free one; so does an instance with no copy.
#[sqlx::test(migrations = "./migrations")]
async fn a_hold_through_an_instance_that_has_not_seen_a_sale_is_refused(db: PgPool) {
    let one = TestApp::spawn(db).await;
    let two = one.spawn_beside().await;
    let c = one.create_concert(&[5], 10_000).await;
    let alice = one.admit("alice", c.id).await;
    let bob = one.admit("bob", c.id).await;
    // Two keeps the sold seats (none; the first map starts the sale version, the second is
    // kept under it), then the sale happens through one.
    for _ in 0..2 {
        assert_eq!(
            statuses(&two, &alice, c.id, c.schedule()).await[1],
            "AVAILABLE"
        );
    }
    one.charge_ok(&bob, 100_000).await;
    let r = one.hold_ok(&bob, c.schedule(), &c.seats()[1..2]).await;
    assert_eq!(one.pay(&bob, &r, Some("k1")).await.status(), 201);

    assert_problem(
        two.hold(&alice, c.schedule(), &c.seats()[1..2]).await,
        409,
        "SEAT_UNAVAILABLE",
    )
    .await;
    two.hold_ok(&alice, c.schedule(), &c.seats()[2..3]).await;

    // An instance with no copy at all holds first and then asks Postgres: the sold seat is
    // refused and its hold taken back whole (the user has no open hold left), and a free
    // seat holds.
    let three = one.spawn_beside().await;
    let carol = one.admit("carol", c.id).await;
    assert_problem(
        three.hold(&carol, c.schedule(), &c.seats()[1..2]).await,
        409,
        "SEAT_UNAVAILABLE",
    )
    .await;
    three.hold_ok(&carol, c.schedule(), &c.seats()[3..4]).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn the_seat_map_is_right_after_redis_lost_the_sale_version(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[5], 10_000).await;
    let alice = app.admit("alice", c.id).await;
    let bob = app.admit("bob", c.id).await;
    let version = {
        let k = app.keys.concert(c.id);
        let mut key = k.held_seats(c.schedule());
        key.push_str(":sales");
        key
    };
    let delete_version = || async {
        let mut conn = app.redis.get().await.unwrap();
        let _: i64 = redis::cmd("DEL")
            .arg(&version)
            .query_async(&mut conn)
            .await
            .unwrap();
    };
    for _ in 0..2 {
        assert_eq!(
            statuses(&app, &alice, c.id, c.schedule()).await[0],
            "AVAILABLE"
        );
    }

    // Lost before a sale: the sale starts a new version that no cached copy can match.
    delete_version().await;
    app.charge_ok(&bob, 100_000).await;
    let r = app.hold_ok(&bob, c.schedule(), &c.seats()[..1]).await;
    assert_eq!(app.pay(&bob, &r, Some("k1")).await.status(), 201);
    assert_eq!(statuses(&app, &alice, c.id, c.schedule()).await[0], "SOLD");

    // Lost after it: the map comes from Postgres until a version starts again.
    delete_version().await;
    for _ in 0..3 {
        assert_eq!(
            statuses(&app, &alice, c.id, c.schedule()).await,
            ["SOLD", "AVAILABLE", "AVAILABLE", "AVAILABLE", "AVAILABLE"]
        );
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn an_unchanged_seat_map_is_a_304_and_every_change_or_viewer_changes_its_etag(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[5], 10_000).await;
    let alice = app.admit("alice", c.id).await;
    let bob = app.admit("bob", c.id).await;
    let path = format!("/api/v1/concerts/{}/schedules/{}/seats", c.id, c.schedule());
    let get = |token: &str, tag: Option<&str>, query: &str| {
        let mut req = app
            .client
            .get(app.url(&format!("{path}{query}")))
            .bearer_auth(token);
        if let Some(t) = tag {
            req = req.header("If-None-Match", t);
        }
        req.send()
    };
    let etag = |res: &reqwest::Response| res.headers()["etag"].to_str().unwrap().to_owned();

    let first = get(&alice, None, "").await.unwrap();
    assert_eq!(first.status(), 200);
    let tag = etag(&first);
    let res = get(&alice, Some(&tag), "").await.unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(etag(&res), tag);
    assert!(res.bytes().await.unwrap().is_empty());

    // Bob's hold: Alice's map changed; Bob sees his own hold, so his tag is not hers.
    let r = app.hold_ok(&bob, c.schedule(), &c.seats()[..1]).await;
    let res = get(&alice, Some(&tag), "").await.unwrap();
    assert_eq!(res.status(), 200);
    let held = etag(&res);
    assert_ne!(held, tag);
    let bobs = etag(&get(&bob, None, "").await.unwrap());
    assert_ne!(bobs, held);
    // Released: the map is as before, and so is its tag.
    assert_eq!(app.release(&bob, &r).await.status(), 200);
    assert_eq!(get(&alice, Some(&tag), "").await.unwrap().status(), 304);

    let res = get(&bob, None, "?format=compact").await.unwrap();
    assert_eq!(res.status(), 200);
    let compact_tag = etag(&res);
    assert_ne!(compact_tag, tag);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "AAAAA");
    assert_eq!(body["seatCount"], 5);
    assert_eq!(body["seatIds"][0][1], 5);
    assert_eq!(body["prices"], serde_json::json!([[10_000, 5]]));
    assert_eq!(body["version"], compact_tag.trim_matches('"'));
    app.hold_ok(&bob, c.schedule(), &c.seats()[1..3]).await;
    let body: Value = get(&bob, None, "?format=compact")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "AMMAA");
    let body: Value = get(&alice, None, "?format=compact")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "AHHAA");

    let res = get(&alice, None, "?format=tiny").await.unwrap();
    assert_problem(res, 400, "INVALID_QUERY").await;
}
