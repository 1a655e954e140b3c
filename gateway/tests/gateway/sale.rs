//! The whole sale at the gateway: the pre-queue and its draw, sold out, waiting for held
//! seats, no-shows, closed queues and moving the opening, against real Redis.

use std::time::Duration;

use futures::future::join_all;
use gateway::{admission::Tick, queue::draw};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shared::{
    draw::{entrant_id, from_hex, to_hex},
    queue_config::Opening,
};

use crate::helpers::{assert_problem, concert, queue_settings, TestApp, ADMIN};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A sale opening `in_ms` from now with a known seed, and seat counts.
fn opening(in_ms: i64, seed: [u8; 32], unsold: Vec<(i64, i64)>) -> Opening {
    Opening {
        opens_at_ms: Some(now_ms() + in_ms),
        seed: Some(seed),
        unsold,
        ..Default::default()
    }
}

async fn wait_until(ms: i64) {
    let left = ms - now_ms();
    if left > 0 {
        tokio::time::sleep(Duration::from_millis(left as u64 + 20)).await;
    }
}

async fn hset(app: &TestApp, key: String, field: &str, value: &str) {
    let mut conn = app.redis.get().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg(key)
        .arg(field)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_pre_queue_is_drawn_in_the_published_order_and_admitted_in_it() {
    let app = TestApp::spawn().await;
    let seed = [7u8; 32];
    let sale = opening(1_500, seed, vec![]);
    app.open_sale(1, queue_settings(4, 100, 600), &sale).await;

    // Before the opening: a commitment, nothing to recompute the draw with.
    let before: Value = app.get("/api/v1/queue/1/draw").await.json().await.unwrap();
    assert_eq!(before["drawn"], false);
    assert_eq!(before["commitment"], to_hex(&Sha256::digest(seed)));
    assert!(before.get("seed").is_none() && before.get("entrants").is_none());

    let users: Vec<String> = (0..12).map(|i| format!("early-{i:02}")).collect();
    let mut tokens = Vec::new();
    for user in &users {
        let (token, body) = app.join_ok(user, 1).await;
        assert_eq!(body["status"], "PRE_QUEUE", "{body}");
        assert_eq!(body["position"], 0, "no place before the draw");
        assert!(body["opensAt"].is_string());
        tokens.push(token);
    }
    let again: Value = app.join("early-03", 1).await.json().await.unwrap();
    assert_eq!(
        again["queueToken"], tokens[3],
        "a second join keeps the entry"
    );
    assert_eq!(app.status_ok(&tokens[0]).await["status"], "PRE_QUEUE");
    let stats: Value = app.stats(1).await.json().await.unwrap();
    assert_eq!(
        (stats["state"].as_str(), stats["waiting"].as_u64()),
        (Some("PRE_QUEUE"), Some(12))
    );

    // One entrant gives up before the opening.
    assert_eq!(app.leave(&tokens[11]).await.status(), 204);
    assert_eq!(app.status_ok(&tokens[11]).await["status"], "EXPIRED");

    wait_until(sale.opens_at_ms.unwrap()).await;
    // Arrives after the opening, before the draw: behind every entrant.
    let (late, late_body) = app.join_ok("late-arrival", 1).await;
    assert_eq!(late_body["status"], "WAITING");
    assert!(matches!(
        app.tick(1).await,
        Tick::Ran {
            draw_due: true,
            admitted: 0,
            ..
        }
    ));
    assert_eq!(
        app.status_ok(&tokens[0]).await["status"],
        "PRE_QUEUE",
        "being drawn"
    );

    // Two gateways draw at once: the draw is applied once.
    let applied = join_all((0..2).map(|_| draw::draw(&app.redis, &app.keys, concert(1)))).await;
    let applied: Vec<_> = applied.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        applied.iter().filter(|a| a.is_some()).count(),
        1,
        "{applied:?}"
    );
    assert!(applied.contains(&Some(11)));

    // The published draw checks out against the commitment, and names the entrants only
    // by their ids.
    let after: Value = app.get("/api/v1/queue/1/draw").await.json().await.unwrap();
    let revealed = from_hex(after["seed"].as_str().unwrap()).unwrap();
    assert_eq!(to_hex(&Sha256::digest(revealed)), before["commitment"]);
    let published: Vec<String> = after["entrants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<(String, [u8; 32])> = users[..11]
        .iter()
        .map(|u| (u.clone(), entrant_id(1, u)))
        .collect();
    shared::draw::order(&revealed, &mut expected);
    let expected_ids: Vec<String> = expected.iter().map(|(_, id)| to_hex(id)).collect();
    assert_eq!(published, expected_ids);
    assert!(
        !after.to_string().contains("early-"),
        "no user id is published"
    );

    // Each entrant's next poll hands out the drawn place, at its drawn position.
    let mut drawn_tokens = vec![String::new(); 11];
    for (i, user) in users[..11].iter().enumerate() {
        let body = app.status_ok(&tokens[i]).await;
        assert_eq!(body["status"], "WAITING", "{body}");
        let place = expected.iter().position(|(u, _)| u == user).unwrap() + 1;
        assert_eq!(body["position"], place as u64, "{user}");
        drawn_tokens[i] = body["queueToken"].as_str().unwrap().to_owned();
        let with_new = app.status_ok(&drawn_tokens[i]).await;
        assert_eq!(with_new["position"], place as u64);
        assert!(with_new.get("queueToken").is_none());
    }
    assert_eq!(app.status_ok(&late).await["position"], 12);

    // Admission follows the drawn order, then the late arrival.
    let mut admitted_order = Vec::new();
    for _ in 0..4 {
        app.tick(1).await;
        let mut now_active = Vec::new();
        for (i, user) in users[..11].iter().enumerate() {
            if admitted_order.contains(user) {
                continue;
            }
            if app.status_ok(&drawn_tokens[i]).await["status"] == "ACTIVE" {
                now_active.push(user.clone());
            }
        }
        now_active.sort_by_key(|u| expected.iter().position(|(e, _)| e == u));
        admitted_order.extend(now_active);
    }
    let expected_users: Vec<String> = expected.iter().map(|(u, _)| u.clone()).collect();
    assert_eq!(admitted_order, expected_users);
    assert_eq!(app.status_ok(&late).await["status"], "ACTIVE");
}

#[tokio::test]
async fn the_order_cannot_be_computed_without_the_seed() {
    // Another seed (anyone guessing before the reveal) gives another order.
    let ids: Vec<(usize, [u8; 32])> = (0..200)
        .map(|i| (i, entrant_id(1, &format!("u{i}"))))
        .collect();
    let mut real = ids.clone();
    shared::draw::order(&[1; 32], &mut real);
    let mut guessed = ids;
    shared::draw::order(&[2; 32], &mut guessed);
    let same = real
        .iter()
        .zip(&guessed)
        .filter(|(a, b)| a.0 == b.0)
        .count();
    assert!(same < 10, "{same} of 200 places agree");
}

#[tokio::test]
async fn the_last_sale_closes_the_queue_and_tells_the_line_sold_out() {
    let app = TestApp::spawn().await;
    app.open_sale(
        1,
        queue_settings(10, 100, 600),
        &Opening {
            unsold: vec![(5, 3)],
            ..Default::default()
        },
    )
    .await;
    let mut tokens = Vec::new();
    for i in 0..6 {
        tokens.push(app.join_ok(&format!("fan-{i}"), 1).await.0);
    }
    // Three seats: three admitted, however many the tick could take.
    assert!(matches!(
        app.tick(1).await,
        Tick::Ran {
            admitted: 3,
            sellable: Some(3),
            ..
        }
    ));
    assert!(
        matches!(app.tick(1).await, Tick::Ran { admitted: 0, .. }),
        "the room may take all three"
    );

    // The api sells the three seats.
    let k = app.keys.concert(1);
    let mut conn = app.redis.get().await.unwrap();
    let _: () = redis::cmd("HINCRBY")
        .arg(k.unsold())
        .arg(5)
        .arg(-3)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(app.tick(1).await, Tick::Closed);
    for token in &tokens[3..] {
        assert_eq!(app.status_ok(token).await["status"], "SOLD_OUT");
    }
    assert_problem(app.join("newcomer", 1).await, 409, "SOLD_OUT").await;
    let stats: Value = app.stats(1).await.json().await.unwrap();
    assert_eq!(stats["state"], "SOLD_OUT");
    assert_problem(app.join("fan-5", 1).await, 409, "SOLD_OUT").await;
    let exists: bool = redis::cmd("EXISTS")
        .arg(k.queue())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists, "the line is gone");
    let ttl: i64 = redis::cmd("TTL")
        .arg(k.active())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0, "the sessions expire");
    let kept: i64 = redis::cmd("TTL")
        .arg(k.config())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept, -1, "the config stays: late polls still read SOLD_OUT");
}

#[tokio::test]
async fn the_line_waits_while_every_seat_left_is_held_and_moves_when_holds_lapse() {
    let app = TestApp::spawn().await;
    app.open_sale(
        1,
        queue_settings(10, 100, 600),
        &Opening {
            unsold: vec![(5, 2)],
            ..Default::default()
        },
    )
    .await;
    let (token, _) = app.join_ok("hopeful", 1).await;
    let k = app.keys.concert(1);
    let mut conn = app.redis.get().await.unwrap();
    let lapse = now_ms() + 1_000;
    let _: () = redis::cmd("ZADD")
        .arg(k.held_seats(5))
        .arg(lapse)
        .arg("1:r1")
        .arg(lapse)
        .arg("2:r1")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        app.tick(1).await,
        Tick::Ran {
            admitted: 0,
            sellable: Some(0),
            ..
        }
    ));
    let body = app.status_ok(&token).await;
    assert_eq!(body["status"], "WAITING");
    assert_eq!(body["waitingForSeats"], true);

    wait_until(lapse).await;
    assert!(matches!(app.tick(1).await, Tick::Ran { admitted: 1, .. }));
    assert_eq!(app.status_ok(&token).await["status"], "ACTIVE");
}

#[tokio::test]
async fn a_session_nobody_picks_up_goes_to_the_next_in_line() {
    let app = TestApp::spawn_with(|s| s.activation = Duration::from_secs(1)).await;
    // A room of two: `next` gets in only when `absent`'s session ends.
    app.open_concert(1, queue_settings(1, 2, 600)).await;
    let (present, _) = app.join_ok("present", 1).await;
    let (absent, _) = app.join_ok("absent", 1).await;
    let (next, _) = app.join_ok("next", 1).await;
    app.tick(1).await;
    app.tick(1).await;
    // `present` picks up the access token; `absent` never polls.
    assert_eq!(app.status_ok(&present).await["status"], "ACTIVE");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    app.tick(1).await;
    assert_eq!(app.status_ok(&absent).await["status"], "EXPIRED");
    assert_eq!(
        app.status_ok(&present).await["status"],
        "ACTIVE",
        "picked up: kept"
    );
    assert_eq!(
        app.status_ok(&next).await["status"],
        "ACTIVE",
        "the room went on"
    );
}

#[tokio::test]
async fn a_closed_queue_refuses_joins_and_tells_the_line() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    let (waiting, _) = app.join_ok("waiting", 1).await;
    hset(&app, app.keys.concert(1).config(), "closed", "CLOSED").await;
    app.state.room.line_views().forget(concert(1));
    assert_eq!(app.status_ok(&waiting).await["status"], "CLOSED");
    assert_problem(app.join("late", 1).await, 409, "QUEUE_CLOSED").await;
    assert_eq!(app.tick(1).await, Tick::Closed);
}

#[tokio::test]
async fn the_opening_moves_only_before_it_passes() {
    let app = TestApp::spawn().await;
    let sale = opening(600, [1; 32], vec![]);
    app.open_sale(1, queue_settings(1, 100, 600), &sale).await;
    let put = |at: i64| {
        let at = chrono::DateTime::from_timestamp_millis(at)
            .unwrap()
            .to_rfc3339();
        app.client
            .put(app.url("/api/v1/admin/queues/1/opening"))
            .bearer_auth(ADMIN)
            .json(&json!({ "opensAt": at }))
            .send()
    };
    assert_eq!(put(now_ms() + 300).await.unwrap().status(), 204);
    assert_problem(put(now_ms() - 1_000).await.unwrap(), 409, "OPENING_PASSED").await;
    wait_until(now_ms() + 400).await;
    assert_problem(put(now_ms() + 60_000).await.unwrap(), 409, "OPENING_PASSED").await;
    assert_problem(app.get("/api/v1/queue/2/draw").await, 404, "DRAW_NOT_FOUND").await;
}
