//! The sale from the api's side: opening (opensAt and the draw's commitment), the unsold
//! counts the gateway reads, closes (sold out, ended, by the gateway, by an admin), the ticket
//! limit, the caller's tickets and the dates still on sale.

use std::collections::HashMap;

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{assert_invariants, assert_problem, concert_of, TestApp, ADMIN};

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Creates a concert of `schedules` (`[(startsAt, seats)]`, 1,000 won a seat), asserting 201.
async fn create(app: &TestApp, schedules: &[(&str, u32)], opens_at: Option<&str>) -> Value {
    let schedules: Vec<Value> = schedules
        .iter()
        .map(|(at, n)| json!({"startsAt": at, "seatCount": n, "price": 1_000}))
        .collect();
    let mut body = json!({"name": "Sale", "schedules": schedules});
    if let Some(at) = opens_at {
        body["opensAt"] = json!(at);
    }
    let res = app.create_concert_raw(&body, Some(ADMIN)).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn unsold(app: &TestApp, concert_id: i64) -> HashMap<i64, i64> {
    let mut conn = app.redis.get().await.unwrap();
    redis::cmd("HGETALL")
        .arg(app.keys.concert(concert_id).unsold())
        .query_async(&mut conn)
        .await
        .unwrap()
}

async fn closed(app: &TestApp, concert_id: i64) -> Option<String> {
    sqlx::query_scalar("SELECT close_reason FROM concerts WHERE id = $1")
        .bind(concert_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Holds `seats` as `user` in a new session and pays, asserting 201.
async fn buy(app: &TestApp, user: &str, concert_id: i64, schedule_id: i64, seats: &[i64]) {
    let t = app.admit(user, concert_id).await;
    app.charge_ok(&t, 1_000 * seats.len() as i64).await;
    let rid = app.hold_ok(&t, schedule_id, seats).await;
    let res = app.pay(&t, &rid, Some(&format!("buy-{rid}"))).await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_concert_with_opens_at_commits_to_a_secret_seed(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let opens_at = Utc::now() + Duration::hours(1);
    let created = create(
        &app,
        &[("2027-01-01T19:00:00Z", 5), ("2027-01-02T19:00:00Z", 3)],
        Some(&rfc3339(opens_at)),
    )
    .await;
    let c = concert_of(&created);
    assert_eq!(created["opensAt"], rfc3339(opens_at));
    let commitment = created["drawCommitment"].as_str().unwrap().to_owned();
    assert_eq!(commitment.len(), 64);

    let seed: Vec<u8> = sqlx::query_scalar("SELECT draw_seed FROM concerts WHERE id = $1")
        .bind(c.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let seed: [u8; 32] = seed.try_into().unwrap();
    let seed_hex = shared::draw::to_hex(&seed);
    assert_eq!(
        shared::draw::to_hex(&shared::draw::commitment(&seed)),
        commitment
    );
    assert!(
        !created.to_string().contains(&seed_hex),
        "the seed is never in an answer"
    );

    let cfg = app.queue_config(c.id).await;
    assert_eq!(cfg["opensAt"], opens_at.timestamp_millis().to_string());
    assert_eq!(cfg["commit"], commitment);
    assert_eq!(cfg["seed"], seed_hex, "the gateway draws with it");
    assert_eq!(
        unsold(&app, c.id).await,
        HashMap::from([(c.schedules[0].0, 5), (c.schedules[1].0, 3)])
    );

    // Without opensAt: open at once, no draw.
    let created = create(&app, &[("2027-01-01T19:00:00Z", 2)], None).await;
    let c = concert_of(&created);
    assert!(created["opensAt"].is_null() && created["drawCommitment"].is_null());
    let cfg = app.queue_config(c.id).await;
    assert_eq!(cfg["opensAt"], "0");
    assert!(!cfg.contains_key("commit") && !cfg.contains_key("seed"));
    assert_eq!(unsold(&app, c.id).await, HashMap::from([(c.schedule(), 2)]));
}

#[sqlx::test(migrations = "./migrations")]
async fn an_opening_in_the_past_or_after_the_first_schedule_is_422(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let schedules = json!([{"startsAt": "2027-01-05T19:00:00Z", "seatCount": 1, "price": 1}]);
    for opens_at in [
        rfc3339(Utc::now() - Duration::minutes(1)),
        "2027-01-05T19:00:00Z".to_owned(),
        "2027-02-01T00:00:00Z".to_owned(),
    ] {
        let body = json!({"name": "X", "schedules": schedules, "opensAt": opens_at});
        assert_problem(
            app.create_concert_raw(&body, Some(ADMIN)).await,
            422,
            "INVALID_OPENS_AT",
        )
        .await;
    }
    let body = json!({"name": "X", "schedules": schedules, "opensAt": "soon"});
    assert_problem(
        app.create_concert_raw(&body, Some(ADMIN)).await,
        400,
        "INVALID_BODY",
    )
    .await;
    let concerts: i64 = sqlx::query_scalar("SELECT count(*) FROM concerts")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(concerts, 0);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_sale_lowers_the_unsold_count_once(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[5, 4], 1_000).await;
    let t = app.admit("alice", c.id).await;
    app.charge_ok(&t, 2_000).await;
    let rid = app.hold_ok(&t, c.schedule(), &c.seats()[..2]).await;
    assert_eq!(app.pay(&t, &rid, Some("k")).await.status(), 201);
    let expected = HashMap::from([(c.schedules[0].0, 3), (c.schedules[1].0, 4)]);
    assert_eq!(unsold(&app, c.id).await, expected);
    // A replay of the payment confirms again; the count does not move.
    assert_eq!(app.pay(&t, &rid, Some("k")).await.status(), 201);
    assert_eq!(unsold(&app, c.id).await, expected);

    // A count Redis lost is not created by a sale (the reconciler re-seeds it from Postgres).
    let mut conn = app.redis.get().await.unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(app.keys.concert(c.id).unsold())
        .query_async(&mut conn)
        .await
        .unwrap();
    buy(&app, "bob", c.id, c.schedule(), &c.seats()[2..3]).await;
    assert!(unsold(&app, c.id).await.is_empty());
    app.reconcile().await;
    assert_eq!(
        unsold(&app, c.id).await,
        HashMap::from([(c.schedules[0].0, 2), (c.schedules[1].0, 4)]),
        "re-seeded from Postgres's tickets"
    );
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn the_reconciler_closes_sold_out_and_ended_concerts_and_never_reopens_them(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let sold_out = app.create_concert(&[2], 1_000).await;
    let ended = concert_of(&create(&app, &[("2020-01-01T19:00:00Z", 2)], None).await);
    let open = app.create_concert(&[3], 1_000).await;
    buy(
        &app,
        "alice",
        sold_out.id,
        sold_out.schedule(),
        sold_out.seats(),
    )
    .await;
    // Redis's count drifted (a lost confirmation): Postgres's tickets decide.
    let mut conn = app.redis.get().await.unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg(app.keys.concert(sold_out.id).unsold())
        .arg(sold_out.schedule())
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();

    app.reconcile().await;
    assert_eq!(closed(&app, sold_out.id).await.as_deref(), Some("SOLD_OUT"));
    assert_eq!(app.queue_config(sold_out.id).await["closed"], "SOLD_OUT");
    assert_eq!(closed(&app, ended.id).await.as_deref(), Some("CLOSED"));
    assert_eq!(app.queue_config(ended.id).await["closed"], "CLOSED");
    assert_eq!(closed(&app, open.id).await, None);
    assert!(!app.queue_config(open.id).await.contains_key("closed"));

    // Redis loses everything: only the open concert comes back.
    app.flush_redis().await;
    app.reconcile().await;
    assert!(app.queue_config(sold_out.id).await.is_empty());
    assert!(app.queue_config(ended.id).await.is_empty());
    // It was running: it comes back running (its durable copy).
    assert_eq!(app.queue_config(open.id).await["paused"], "0");
    let members: Vec<i64> = redis::cmd("SMEMBERS")
        .arg(app.keys.open_concerts())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(members, [open.id]);
}

#[sqlx::test(migrations = "./migrations")]
async fn the_reconciler_drops_the_counts_of_started_schedules(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[2, 3], 1_000).await;
    sqlx::query("UPDATE schedules SET starts_at = now() - interval '1 minute' WHERE id = $1")
        .bind(c.schedules[0].0)
        .execute(&app.db)
        .await
        .unwrap();
    app.reconcile().await;
    assert_eq!(
        unsold(&app, c.id).await,
        HashMap::from([(c.schedules[1].0, 3)])
    );
    assert_eq!(closed(&app, c.id).await, None);
}

#[sqlx::test(migrations = "./migrations")]
async fn the_reconciler_copies_a_close_the_gateway_made(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[2], 1_000).await;
    let mut conn = app.redis.get().await.unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg(app.keys.concert(c.id).config())
        .arg("closed")
        .arg("SOLD_OUT")
        .query_async(&mut conn)
        .await
        .unwrap();
    app.reconcile().await;
    assert_eq!(closed(&app, c.id).await.as_deref(), Some("SOLD_OUT"));
    // The gateway lets the closed queue's keys expire; nothing opens it again.
    app.flush_redis().await;
    app.reconcile().await;
    assert!(app.queue_config(c.id).await.is_empty());
}

#[sqlx::test(migrations = "./migrations")]
async fn a_queue_lost_by_redis_comes_back_with_its_commitment_and_counts(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let opens_at = Utc::now() + Duration::hours(1);
    let created = create(
        &app,
        &[("2027-01-01T19:00:00Z", 4)],
        Some(&rfc3339(opens_at)),
    )
    .await;
    let c = concert_of(&created);
    let before = app.queue_config(c.id).await;
    app.flush_redis().await;
    app.reconcile().await;
    let after = app.queue_config(c.id).await;
    for field in ["opensAt", "seed", "commit"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_eq!(after["commit"], created["drawCommitment"].as_str().unwrap());
    assert_eq!(
        after["paused"], "0",
        "its pause state from its durable copy"
    );
    assert_eq!(unsold(&app, c.id).await, HashMap::from([(c.schedule(), 4)]));
}

#[sqlx::test(migrations = "./migrations")]
async fn an_admin_closes_a_sale_once_and_for_good(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[2], 1_000).await;
    let close = |id: i64, token: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url(&format!("/api/v1/admin/concerts/{id}/close")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_problem(close(c.id, None).await.unwrap(), 401, "UNAUTHORIZED").await;
    assert_problem(
        close(c.id + 1000, Some(ADMIN)).await.unwrap(),
        404,
        "CONCERT_NOT_FOUND",
    )
    .await;
    let res = close(c.id, Some(ADMIN)).await.unwrap();
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["concertId"], c.id);
    assert_eq!(first["closeReason"], "CLOSED");
    assert_eq!(app.queue_config(c.id).await["closed"], "CLOSED");
    assert_eq!(closed(&app, c.id).await.as_deref(), Some("CLOSED"));

    let again: Value = close(c.id, Some(ADMIN))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, first, "idempotent: the first close stands");
    app.flush_redis().await;
    app.reconcile().await;
    assert!(
        app.queue_config(c.id).await.is_empty(),
        "never opened again"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn the_ticket_limit_holds_across_sessions(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    let s = c.seats();
    buy(&app, "alice", c.id, c.schedule(), &s[..3]).await;

    // A new session: holding two more would make five.
    let t = app.admit("alice", c.id).await;
    let refused = assert_problem(
        app.hold(&t, c.schedule(), &s[3..5]).await,
        409,
        "TICKET_LIMIT",
    )
    .await;
    assert_eq!(refused["remaining"], 1);
    app.charge_ok(&t, 1_000).await;
    let rid = app.hold_ok(&t, c.schedule(), &s[3..4]).await;
    // An open hold is named first, as for anyone under the limit.
    assert_problem(
        app.hold(&t, c.schedule(), &s[4..6]).await,
        409,
        "HOLD_EXISTS",
    )
    .await;
    assert_eq!(app.pay(&t, &rid, Some("fourth")).await.status(), 201);

    let t = app.admit("alice", c.id).await;
    let refused = assert_problem(
        app.hold(&t, c.schedule(), &s[4..5]).await,
        409,
        "TICKET_LIMIT",
    )
    .await;
    assert_eq!(refused["remaining"], 0);
    // Another user is not affected, nor is alice at another concert.
    buy(&app, "bob", c.id, c.schedule(), &s[4..8]).await;
    let other = app.create_concert(&[2], 1_000).await;
    buy(&app, "alice", other.id, other.schedule(), other.seats()).await;
    assert_invariants(&app.db).await;
}

/// Writes tickets of `user` for `seats` straight into Postgres, as a purchase through another
/// api instance would have (with its payment, ledger entry and wallet, so the books balance).
async fn bought_elsewhere(
    db: &PgPool,
    user: &str,
    concert_id: i64,
    schedule_id: i64,
    seats: &[i64],
) {
    let reservation = uuid::Uuid::new_v4();
    let payment = uuid::Uuid::new_v4();
    let total = 1_000 * seats.len() as i64;
    sqlx::query(
        "WITH charge AS (
             INSERT INTO ledger (user_id, kind, amount, charge_id) VALUES ($1, 'CHARGE', $5, gen_random_uuid())
         ), wallet AS (
             INSERT INTO wallets (user_id, balance) VALUES ($1, 0)
             ON CONFLICT (user_id) DO NOTHING
         ), r AS (
             INSERT INTO reservations (id, user_id, concert_id, schedule_id, total_price, status, expires_at)
             VALUES ($2, $1, $3, $4, $5, 'CONFIRMED', now()) RETURNING id
         ), t AS (
             INSERT INTO tickets (schedule_id, seat_id, reservation_id, user_id, price)
             SELECT $4, seat, (SELECT id FROM r), $1, 1000 FROM unnest($6::bigint[]) AS seat
         ), p AS (
             INSERT INTO payments (id, reservation_id, user_id, amount)
             SELECT $7, id, $1, $5 FROM r RETURNING id
         )
         INSERT INTO ledger (user_id, kind, amount, payment_id) SELECT $1, 'PAYMENT', -$5, id FROM p",
    )
    .bind(user)
    .bind(reservation)
    .bind(concert_id)
    .bind(schedule_id)
    .bind(total)
    .bind(seats)
    .bind(payment)
    .execute(db)
    .await
    .unwrap();
}

#[sqlx::test(migrations = "./migrations")]
async fn the_payment_enforces_the_limit_the_hold_checked_too_early(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    let s = c.seats();
    let t = app.admit("alice", c.id).await;
    app.charge_ok(&t, 2_000).await;
    let rid = app.hold_ok(&t, c.schedule(), &s[..2]).await;
    // Meanwhile alice bought three through another api instance.
    bought_elsewhere(&app.db, "alice", c.id, c.schedule(), &s[5..8]).await;

    let refused = assert_problem(app.pay(&t, &rid, Some("k")).await, 409, "TICKET_LIMIT").await;
    assert_eq!(refused["remaining"], 1);
    assert_eq!(app.balance(&t).await, 2_000, "no money moved");
    let r: Value = app.reservation(&t, &rid).await.json().await.unwrap();
    assert_eq!(r["status"], "HELD", "the claim was handed back");
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets WHERE user_id = 'alice'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(tickets, 3);
    assert_invariants(&app.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn two_api_instances_paying_at_once_keep_to_the_limit(db: PgPool) {
    // Two instances on one database, each with its own Redis keys: a session and a hold in
    // each, paid at the same moment. Only the payment transaction sees both.
    let one = TestApp::spawn(db.clone()).await;
    let two = TestApp::spawn(db).await;
    for round in 0..5 {
        let c = one.create_concert(&[10], 1_000).await;
        let s = c.seats();
        let user = format!("fan{round}");
        let t1 = one.admit(&user, c.id).await;
        let t2 = two.admit(&user, c.id).await;
        one.charge_ok(&t1, 6_000).await;
        let r1 = one.hold_ok(&t1, c.schedule(), &s[..3]).await;
        let r2 = two.hold_ok(&t2, c.schedule(), &s[3..6]).await;
        let (a, b) = tokio::join!(one.pay(&t1, &r1, Some("a")), two.pay(&t2, &r2, Some("b")));
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
        let loser = if a.status() == 409 { a } else { b };
        let body = assert_problem(loser, 409, "TICKET_LIMIT").await;
        assert_eq!(body["remaining"], 1);
        assert_eq!(one.balance(&t1).await, 3_000);
    }
    assert_invariants(&one.db).await;
}

#[sqlx::test(migrations = "./migrations")]
async fn my_tickets_are_mine_only_newest_first(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    let s = c.seats();
    buy(&app, "alice", c.id, c.schedule(), &s[..2]).await;
    buy(&app, "bob", c.id, c.schedule(), &s[2..3]).await;
    buy(&app, "alice", c.id, c.schedule(), &s[5..6]).await;

    let mine: Value = app
        .get("/api/v1/tickets", Some(&app.identity_token("alice")))
        .await
        .json()
        .await
        .unwrap();
    let tickets = mine["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 3);
    let seats: Vec<i64> = tickets
        .iter()
        .map(|t| t["seatId"].as_i64().unwrap())
        .collect();
    assert_eq!(seats, [s[5], s[0], s[1]], "newest purchase first");
    let t = &tickets[0];
    assert_eq!(t["concertId"], c.id);
    assert_eq!(t["concertName"], "Test Concert");
    assert_eq!(t["scheduleId"], c.schedule());
    assert_eq!(t["startsAt"], "2027-01-01T19:00:00Z");
    assert_eq!(t["seatNumber"], 6);
    assert_eq!(t["price"], 1_000);
    for field in ["ticketId", "paymentId", "reservationId", "purchasedAt"] {
        assert!(!t[field].is_null(), "{field}");
    }

    // An access token of bob's (of any concert) shows bob's one ticket.
    let t = app.admit("bob", c.id).await;
    let bobs: Value = app
        .get("/api/v1/tickets", Some(&t))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(bobs["tickets"][0]["seatId"], s[2]);
    let none: Value = app
        .get("/api/v1/tickets", Some(&app.identity_token("carol")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["tickets"], json!([]));
    assert_problem(
        app.get("/api/v1/tickets", None).await,
        401,
        "INVALID_ACCESS_TOKEN",
    )
    .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn only_dates_still_on_sale_are_listed_as_available(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = concert_of(
        &create(
            &app,
            &[
                ("2020-01-01T19:00:00Z", 2),
                ("2027-01-02T19:00:00Z", 2),
                ("2027-01-03T19:00:00Z", 1),
                ("2027-01-04T19:00:00Z", 3),
            ],
            None,
        )
        .await,
    );
    let [started, sold_out, held, open] = [0, 1, 2, 3].map(|i| c.schedules[i].0);
    buy(&app, "alice", c.id, sold_out, &c.schedules[1].1).await;
    let bob = app.admit("bob", c.id).await;
    let hold = app.hold_ok(&bob, held, &c.schedules[2].1).await;

    let t = app.admit("viewer", c.id).await;
    let all: Value = app.schedules(&t, c.id).await.json().await.unwrap();
    let available: Vec<(i64, i64)> = all["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["scheduleId"].as_i64().unwrap(),
                s["availableSeats"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        available,
        [(started, 0), (sold_out, 0), (held, 0), (open, 3)]
    );

    let path = format!("/api/v1/concerts/{}/schedules?available=true", c.id);
    let res = app.get(&path, Some(&t)).await;
    assert_eq!(res.status(), 200);
    let tag = res.headers()["etag"].to_str().unwrap().to_owned();
    let only: Value = res.json().await.unwrap();
    assert_eq!(only["schedules"].as_array().unwrap().len(), 1);
    assert_eq!(only["schedules"][0]["scheduleId"], open);
    assert_eq!(only["schedules"][0]["availableSeats"], 3);
    let full_tag = app.schedules(&t, c.id).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(tag, full_tag, "the filtered list has tags of its own");

    let revalidate = |tag: String| {
        app.client
            .get(app.url(&path))
            .bearer_auth(&t)
            .header("If-None-Match", tag)
            .send()
    };
    assert_eq!(revalidate(tag.clone()).await.unwrap().status(), 304);
    // The hold is released: its date is on sale again, and the tag changes.
    assert_eq!(app.release(&bob, &hold).await.status(), 200);
    let res = revalidate(tag.clone()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_ne!(res.headers()["etag"].to_str().unwrap(), tag);
    let again: Value = res.json().await.unwrap();
    let ids: Vec<i64> = again["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scheduleId"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [held, open]);

    assert_problem(
        app.get(
            &format!("/api/v1/concerts/{}/schedules?available=maybe", c.id),
            Some(&t),
        )
        .await,
        400,
        "INVALID_QUERY",
    )
    .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_started_schedule_is_not_on_sale(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = concert_of(
        &create(
            &app,
            &[("2020-01-01T19:00:00Z", 2), ("2027-01-02T19:00:00Z", 2)],
            None,
        )
        .await,
    );
    let t = app.admit("alice", c.id).await;
    assert_problem(
        app.hold(&t, c.schedules[0].0, &c.schedules[0].1[..1]).await,
        409,
        "SCHEDULE_STARTED",
    )
    .await;
    let rid = app
        .hold_ok(&t, c.schedules[1].0, &c.schedules[1].1[..1])
        .await;
    assert!(!rid.is_empty());
}

#[sqlx::test(migrations = "./migrations")]
#[should_panic(expected = "nobody owns more tickets of a concert than the ticket limit")]
async fn the_invariant_checks_catch_a_user_over_the_ticket_limit(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    bought_elsewhere(&app.db, "mallory", c.id, c.schedule(), &c.seats()[..5]).await;
    assert_invariants(&app.db).await;
}
