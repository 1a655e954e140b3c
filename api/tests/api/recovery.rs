//! The durable copy of each queue (`queue_states`): the reconciler copies the settings, pause
//! state and admitted sequence Redis runs on into Postgres, extends the arrival counter's
//! lease (Postgres first), and opens a queue Redis lost again with its last settings and pause
//! state, its counter resuming above every sequence ever handed out.

use std::collections::HashMap;

use api::store::catalog::SEQ_LEASE;
use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;

use shared::{ids::TicketId, session};

use crate::helpers::{assert_problem, user_id, TestApp, ADMIN};

fn num(cfg: &HashMap<String, String>, field: &str) -> u64 {
    cfg.get(field)
        .unwrap_or_else(|| panic!("{field} missing from {cfg:?}"))
        .parse()
        .unwrap()
}

/// Changes fields of the queue's config as the gateway does (its admin PUT, its ticks).
async fn hset(app: &TestApp, concert_id: i64, fields: &[(&str, &str)]) {
    let mut conn = app.redis.get().await.unwrap();
    let mut cmd = redis::cmd("HSET");
    cmd.arg(app.keys.concert(concert_id).config());
    for (f, v) in fields {
        cmd.arg(f).arg(v);
    }
    let _: i64 = cmd.query_async(&mut conn).await.unwrap();
}

/// Hands out `n` arrival sequences as joins do; the last one.
async fn hand_out(app: &TestApp, concert_id: i64, n: u64) -> u64 {
    let mut conn = app.redis.get().await.unwrap();
    redis::cmd("HINCRBY")
        .arg(app.keys.concert(concert_id).config())
        .arg("seq")
        .arg(n)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Redis loses one concert's queue.
async fn lose(app: &TestApp, concert_id: i64) {
    let k = app.keys.concert(concert_id);
    let mut conn = app.redis.get().await.unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(k.config())
        .arg(k.unsold())
        .arg(k.queue())
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[derive(Debug, PartialEq, Eq, sqlx::FromRow)]
struct Row {
    admit_per_tick: i32,
    tick_millis: i32,
    max_active: i32,
    session_ttl_seconds: i32,
    paused: bool,
    seq_lease: i64,
    admitted_through: i64,
}

async fn row(app: &TestApp, concert_id: i64) -> Option<Row> {
    sqlx::query_as(
        "SELECT admit_per_tick, tick_millis, max_active, session_ttl_seconds, paused,
                seq_lease, admitted_through
         FROM queue_states WHERE concert_id = $1",
    )
    .bind(concert_id)
    .fetch_optional(&app.db)
    .await
    .unwrap()
}

const LEASE: i64 = SEQ_LEASE as i64;

#[sqlx::test(migrations = "./migrations")]
async fn a_new_concert_has_a_durable_copy_and_a_leased_counter(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 1_000).await;
    assert_eq!(
        row(&app, c.id).await,
        Some(Row {
            admit_per_tick: 10,
            tick_millis: 100,
            max_active: 100,
            session_ttl_seconds: 600,
            paused: false,
            seq_lease: LEASE,
            admitted_through: 0,
        })
    );
    assert_eq!(num(&app.queue_config(c.id).await, "seqLimit"), SEQ_LEASE);
}

#[sqlx::test(migrations = "./migrations")]
async fn settings_changed_in_redis_are_copied_and_a_lost_queue_comes_back_with_them(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let running = app.create_concert(&[3], 1_000).await;
    let paused = app.create_concert(&[3], 1_000).await;
    // An admin changes the settings through the gateway; the line moves.
    let settings = [
        ("admitPerTick", "7"),
        ("tickMillis", "250"),
        ("maxActive", "33"),
        ("sessionTtl", "120"),
    ];
    hset(&app, running.id, &settings).await;
    hset(
        &app,
        running.id,
        &[("paused", "0"), ("admittedThrough", "5")],
    )
    .await;
    hset(&app, paused.id, &settings).await;
    hset(
        &app,
        paused.id,
        &[("paused", "1"), ("admittedThrough", "2")],
    )
    .await;
    hand_out(&app, running.id, 12).await;
    hand_out(&app, paused.id, 4).await;
    app.reconcile().await;
    let copied = |paused: bool, admitted_through: i64| Row {
        admit_per_tick: 7,
        tick_millis: 250,
        max_active: 33,
        session_ttl_seconds: 120,
        paused,
        seq_lease: LEASE,
        admitted_through,
    };
    assert_eq!(row(&app, running.id).await, Some(copied(false, 5)));
    assert_eq!(row(&app, paused.id).await, Some(copied(true, 2)));
    // A copy already there is not written again.
    let at: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT updated_at FROM queue_states WHERE concert_id = $1")
            .bind(running.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    app.reconcile().await;
    let again: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT updated_at FROM queue_states WHERE concert_id = $1")
            .bind(running.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(at, again);

    // Redis loses both queues: they come back by themselves, as they were.
    app.flush_redis().await;
    app.reconcile().await;
    for (c, paused, admitted) in [(&running, "0", "5"), (&paused, "1", "2")] {
        let cfg = app.queue_config(c.id).await;
        for (field, value) in settings {
            assert_eq!(cfg[field], value, "{field}");
        }
        assert_eq!(cfg["paused"], paused);
        assert_eq!(num(&cfg, "lostBelow"), SEQ_LEASE, "the old lease");
        assert_eq!(
            num(&cfg, "seq"),
            SEQ_LEASE - 1,
            "the counter goes on from it"
        );
        assert_eq!(cfg["admittedBefore"], admitted);
        assert_eq!(num(&cfg, "seqLimit"), 2 * SEQ_LEASE, "under a new lease");
        let r = row(&app, c.id).await.unwrap();
        assert_eq!(r.seq_lease, 2 * LEASE, "Postgres knows the new lease");
        assert_eq!(r.paused, paused == "1");
    }
    let members: Vec<i64> = {
        let mut conn = app.redis.get().await.unwrap();
        redis::cmd("SMEMBERS")
            .arg(app.keys.open_concerts())
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(members.len(), 2);
}

#[sqlx::test(migrations = "./migrations")]
async fn the_arrival_counter_never_goes_back(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 1_000).await;
    // Below half the lease, nothing moves.
    hand_out(&app, c.id, SEQ_LEASE / 2 - 1).await;
    app.reconcile().await;
    assert_eq!(row(&app, c.id).await.unwrap().seq_lease, LEASE);
    assert_eq!(num(&app.queue_config(c.id).await, "seqLimit"), SEQ_LEASE);

    // Past half the lease: the lease is extended, in Postgres as far as in Redis at least.
    let handed_out = hand_out(&app, c.id, 10).await;
    assert!(handed_out >= SEQ_LEASE / 2);
    app.reconcile().await;
    let lease = row(&app, c.id).await.unwrap().seq_lease as u64;
    assert!(lease > handed_out + SEQ_LEASE / 2, "{lease}");
    let limit = num(&app.queue_config(c.id).await, "seqLimit");
    assert!(limit > SEQ_LEASE, "Redis's limit rose: {limit}");
    assert!(
        limit <= lease,
        "Redis hands out only below a lease Postgres knows"
    );

    // Sequences handed out up to the new limit, then Redis loses the queue.
    let last = hand_out(&app, c.id, limit - 1 - handed_out).await;
    assert_eq!(last, limit - 1);
    lose(&app, c.id).await;
    app.reconcile().await;
    let cfg = app.queue_config(c.id).await;
    assert_eq!(num(&cfg, "lostBelow"), lease);
    assert!(
        num(&cfg, "seq") >= last,
        "the counter resumes above every sequence"
    );
    let next = hand_out(&app, c.id, 1).await;
    assert!(next > last, "{next} > {last}");
    let new_lease = row(&app, c.id).await.unwrap().seq_lease as u64;
    assert_eq!(new_lease, lease + SEQ_LEASE);
    assert_eq!(num(&cfg, "seqLimit"), new_lease);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_queue_redis_kept_but_cut_short_resumes_as_a_lost_one(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 1_000).await;
    let handed_out = hand_out(&app, c.id, 40).await;
    hset(&app, c.id, &[("admittedThrough", "12")]).await;
    app.reconcile().await;
    assert!(
        !app.queue_config(c.id).await.contains_key("lostBelow"),
        "nothing lost yet"
    );

    // A failover drops the last writes: the counter and the admission mark go back, the
    // queue itself stays.
    hset(&app, c.id, &[("seq", "25"), ("admittedThrough", "10")]).await;
    app.reconcile().await;
    let cfg = app.queue_config(c.id).await;
    assert_eq!(
        num(&cfg, "lostBelow"),
        SEQ_LEASE,
        "every sequence handed out is below it"
    );
    assert_eq!(
        num(&cfg, "admittedBefore"),
        12,
        "the admissions Postgres saw"
    );
    assert!(
        num(&cfg, "seq") >= handed_out,
        "the counter never hands a sequence out twice"
    );
    let lease = row(&app, c.id).await.unwrap().seq_lease as u64;
    assert_eq!(lease, 2 * SEQ_LEASE);
    assert_eq!(num(&cfg, "seqLimit"), lease);
    // Resumed once: the next round sees nothing cut short.
    app.reconcile().await;
    assert_eq!(row(&app, c.id).await.unwrap().seq_lease as u64, lease);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_concert_without_a_copy_gets_one_or_comes_back_paused(db: PgPool) {
    let app = TestApp::spawn(db).await;
    // Two concerts created before the copy existed: no row, no lease.
    let running = app.create_concert(&[3], 1_000).await;
    let lost = app.create_concert(&[3], 1_000).await;
    sqlx::query("DELETE FROM queue_states")
        .execute(&app.db)
        .await
        .unwrap();
    let mut conn = app.redis.get().await.unwrap();
    let _: i64 = redis::cmd("HDEL")
        .arg(app.keys.concert(running.id).config())
        .arg("seqLimit")
        .query_async(&mut conn)
        .await
        .unwrap();
    hset(&app, running.id, &[("admitPerTick", "3")]).await;
    let handed_out = hand_out(&app, running.id, 40).await;
    lose(&app, lost.id).await;
    app.reconcile().await;
    // The running queue gets a copy of what it runs on, and a lease above its counter.
    let r = row(&app, running.id).await.unwrap();
    assert_eq!(r.admit_per_tick, 3);
    assert!(!r.paused);
    assert!(r.seq_lease as u64 > handed_out);
    assert_eq!(
        num(&app.queue_config(running.id).await, "seqLimit"),
        r.seq_lease as u64
    );
    // The lost one comes back as before: the defaults, paused; then it gets its copy.
    let cfg = app.queue_config(lost.id).await;
    assert_eq!(cfg["paused"], "1");
    assert!(!cfg.contains_key("lostBelow"));
    app.reconcile().await;
    let r = row(&app, lost.id).await.unwrap();
    assert!(r.paused);
    assert_eq!(
        num(&app.queue_config(lost.id).await, "seqLimit"),
        r.seq_lease as u64
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn an_opening_moved_before_the_sale_is_copied(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let opens_at = Utc::now() + Duration::hours(1);
    let body = json!({
        "name": "Moved",
        "schedules": [{"startsAt": "2027-01-01T19:00:00Z", "seatCount": 2, "price": 1_000}],
        "opensAt": opens_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    let res = app.create_concert_raw(&body, Some(ADMIN)).await;
    assert_eq!(res.status(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["concertId"]
        .as_i64()
        .unwrap();
    let moved = (opens_at + Duration::hours(2)).timestamp_millis();
    hset(&app, id, &[("opensAt", &moved.to_string())]).await;
    app.reconcile().await;
    let at: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT opens_at FROM concerts WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(at.timestamp_millis(), moved);
    // A lost queue comes back with the moved opening.
    app.flush_redis().await;
    app.reconcile().await;
    assert_eq!(num(&app.queue_config(id).await, "opensAt"), moved as u64);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_draw_is_kept_once_and_a_lost_queue_comes_back_drawn(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let body = json!({
        "name": "Drawn",
        "schedules": [{"startsAt": "2027-01-01T19:00:00Z", "seatCount": 2, "price": 1_000}],
        "opensAt": (Utc::now() + Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    let res = app.create_concert_raw(&body, Some(ADMIN)).await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["concertId"]
        .as_i64()
        .unwrap();
    // The gateway draws two entrants into places 41 and 42 (draw.lua).
    let order: Vec<u8> = (0..64u8).collect();
    let drawn_at = Utc::now().timestamp_millis();
    hset(
        &app,
        id,
        &[
            ("drawn", "1"),
            ("drawFirst", "41"),
            ("drawCount", "2"),
            ("drawnAt", &drawn_at.to_string()),
        ],
    )
    .await;
    let mut conn = app.redis.get().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(app.keys.concert(id).draw())
        .arg(order.as_slice())
        .query_async(&mut conn)
        .await
        .unwrap();
    let first = app.reconcile().await;
    let kept: (i64, Vec<u8>, chrono::DateTime<Utc>) = sqlx::query_as(
        "SELECT first_seq, entrants, drawn_at FROM concert_draws WHERE concert_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((kept.0, &kept.1), (41, &order));
    assert_eq!(kept.2.timestamp_millis(), drawn_at);
    assert!(first.draws_kept <= 1);
    assert_eq!(app.reconcile().await.draws_kept, 0, "kept once");

    // Redis loses the queue: it comes back drawn, with the same order, and is not drawn again.
    app.flush_redis().await;
    app.reconcile().await;
    let cfg = app.queue_config(id).await;
    assert_eq!(cfg.get("drawn").map(String::as_str), Some("1"));
    assert_eq!(num(&cfg, "drawFirst"), 41);
    assert_eq!(num(&cfg, "drawCount"), 2);
    assert_eq!(num(&cfg, "drawnAt"), drawn_at as u64);
    let back: Vec<u8> = redis::cmd("GET")
        .arg(app.keys.concert(id).draw())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(back, order);
}

// Sessions Redis lost come back from the access tokens fans present.

/// An admitted fan as the gateway leaves one: a session of `ticket` until the token's `exp`.
async fn admitted(app: &TestApp, user: &str, concert_id: i64, ticket: u64) -> (String, i64) {
    let exp = Utc::now().timestamp() + 600;
    let mut pipe = redis::pipe();
    session::start(
        &mut pipe,
        &app.keys.concert(concert_id),
        &user_id(user),
        TicketId::new(ticket),
        exp * 1000,
    );
    let mut conn = app.redis.get().await.unwrap();
    let () = pipe.query_async(&mut conn).await.unwrap();
    (app.token(user, concert_id, TicketId::new(ticket), exp), exp)
}

/// The session of `user` as Redis has it: expiry (ms) and ticket.
async fn session_of(app: &TestApp, user: &str, concert_id: i64) -> (Option<i64>, Option<String>) {
    let k = app.keys.concert(concert_id);
    let mut conn = app.redis.get().await.unwrap();
    redis::pipe()
        .cmd("ZSCORE")
        .arg(k.active())
        .arg(user)
        .cmd("HGET")
        .arg(k.sessions())
        .arg(user)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Redis loses everything; the reconciler brings the queues back (`lostBelow` = the lease).
async fn lose_everything(app: &TestApp) {
    app.flush_redis().await;
    app.reconcile().await;
    assert_eq!(
        num(&app.queue_config(app_concert(app).await).await, "lostBelow"),
        SEQ_LEASE
    );
}

async fn app_concert(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT max(id) FROM concerts")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn refused(res: reqwest::Response) {
    assert_problem(res, 403, "SESSION_NOT_ACTIVE").await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_lost_session_comes_back_until_the_tokens_expiry_and_the_booking_goes_on(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    let (alice, exp) = admitted(&app, "alice", c.id, 5).await;
    let (bob, _) = admitted(&app, "bob", c.id, 6).await;
    let (carol, _) = admitted(&app, "carol", c.id, 7).await;
    app.charge_ok(&alice, 10_000).await;
    lose_everything(&app).await;

    // Each booking request brings its session back and goes on: schedules, a seat map, a hold.
    assert_eq!(app.schedules(&alice, c.id).await.status(), 200);
    assert_eq!(
        session_of(&app, "alice", c.id).await,
        (Some(exp * 1000), Some("5".into())),
        "until the token's expiry, for its ticket"
    );
    assert_eq!(app.seats(&bob, c.id, c.schedule()).await.status(), 200);
    let held = app.hold_ok(&carol, c.schedule(), &c.seats()[..1]).await;
    assert!(!held.is_empty());
    // The restored session books and pays as any other; the payment ends it.
    let rid = app.hold_ok(&alice, c.schedule(), &c.seats()[1..2]).await;
    assert_eq!(app.pay(&alice, &rid, Some("p1")).await.status(), 201);
    assert_eq!(session_of(&app, "alice", c.id).await, (None, None));
}

#[sqlx::test(migrations = "./migrations")]
async fn a_payment_through_a_restored_session_can_come_first(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    let (alice, _) = admitted(&app, "alice", c.id, 5).await;
    app.charge_ok(&alice, 10_000).await;
    let rid = app.hold_ok(&alice, c.schedule(), &c.seats()[..1]).await;
    lose_everything(&app).await;
    // The session comes back on the payment; the hold was lost with Redis.
    assert_problem(
        app.pay(&alice, &rid, Some("p1")).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    assert_eq!(session_of(&app, "alice", c.id).await.1, Some("5".into()));
    // The seat is free again: the fan holds it again.
    let again = app.hold_ok(&alice, c.schedule(), &c.seats()[..1]).await;
    assert_eq!(app.pay(&alice, &again, Some("p2")).await.status(), 201);
}

#[sqlx::test(migrations = "./migrations")]
async fn only_a_session_from_before_the_loss_comes_back(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    // A token of a ticket at or above lostBelow was never handed out before the loss.
    let exp = Utc::now().timestamp() + 600;
    let late = app.token("late", c.id, TicketId::new(SEQ_LEASE), exp);
    // A queue that was not lost brings no session back.
    let (never, _) = admitted(&app, "never", c.id, 3).await;
    app.end_session("never", c.id).await;
    refused(app.schedules(&never, c.id).await).await;
    lose_everything(&app).await;
    refused(app.schedules(&late, c.id).await).await;
    assert_eq!(session_of(&app, "late", c.id).await, (None, None));
}

#[sqlx::test(migrations = "./migrations")]
async fn a_session_comes_back_once(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    let (alice, _) = admitted(&app, "alice", c.id, 5).await;
    lose_everything(&app).await;
    assert_eq!(app.schedules(&alice, c.id).await.status(), 200);
    // She leaves (or the session ends otherwise): the token does not bring it back again.
    app.end_session("alice", c.id).await;
    refused(app.schedules(&alice, c.id).await).await;
    refused(app.hold(&alice, c.schedule(), &c.seats()[..1]).await).await;
    assert_eq!(session_of(&app, "alice", c.id).await, (None, None));
}

#[sqlx::test(migrations = "./migrations")]
async fn a_session_now_is_not_replaced_by_an_old_token(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    let (old, _) = admitted(&app, "alice", c.id, 5).await;
    lose_everything(&app).await;
    // Admitted again after the loss, with a new ticket.
    let (new, _) = admitted(&app, "alice", c.id, SEQ_LEASE + 1).await;
    refused(app.schedules(&old, c.id).await).await;
    assert_eq!(app.schedules(&new, c.id).await.status(), 200);
    assert_eq!(
        session_of(&app, "alice", c.id).await.1,
        Some((SEQ_LEASE + 1).to_string())
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn a_session_used_for_a_payment_does_not_come_back(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    let (alice, _) = admitted(&app, "alice", c.id, 5).await;
    app.charge_ok(&alice, 10_000).await;
    let rid = app.hold_ok(&alice, c.schedule(), &c.seats()[..1]).await;
    assert_eq!(app.pay(&alice, &rid, Some("p1")).await.status(), 201);
    lose_everything(&app).await;
    refused(app.schedules(&alice, c.id).await).await;
    refused(app.hold(&alice, c.schedule(), &c.seats()[1..2]).await).await;
    assert_eq!(session_of(&app, "alice", c.id).await, (None, None));
}

#[sqlx::test(migrations = "./migrations")]
async fn a_session_comes_back_only_within_the_room(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[10], 1_000).await;
    let (alice, _) = admitted(&app, "alice", c.id, 5).await;
    let (bob, _) = admitted(&app, "bob", c.id, 6).await;
    lose_everything(&app).await;
    hset(&app, c.id, &[("maxActive", "2")]).await;
    // A fan admitted after the loss, and one whose session has expired (not counted).
    admitted(&app, "carol", c.id, SEQ_LEASE).await;
    let mut conn = app.redis.get().await.unwrap();
    let _: i64 = redis::cmd("ZADD")
        .arg(app.keys.concert(c.id).active())
        .arg(Utc::now().timestamp_millis() - 1_000)
        .arg("gone")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(app.schedules(&alice, c.id).await.status(), 200);
    // The room is full: Bob stays out, and can come back once there is space.
    refused(app.seats(&bob, c.id, c.schedule()).await).await;
    assert_eq!(session_of(&app, "bob", c.id).await, (None, None));
    app.end_session("carol", c.id).await;
    assert_eq!(app.schedules(&bob, c.id).await.status(), 200);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_token_brings_back_only_its_own_concerts_session(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let a = app.create_concert(&[10], 1_000).await;
    let b = app.create_concert(&[10], 1_000).await;
    let (alice, _) = admitted(&app, "alice", a.id, 5).await;
    lose_everything(&app).await;
    assert_problem(app.schedules(&alice, b.id).await, 403, "WRONG_CONCERT").await;
    assert_eq!(session_of(&app, "alice", b.id).await, (None, None));
    assert_eq!(session_of(&app, "alice", a.id).await, (None, None));
    let body: Value = app.schedules(&alice, a.id).await.json().await.unwrap();
    assert_eq!(body["schedules"].as_array().unwrap().len(), 1);
}
