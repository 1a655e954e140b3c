//! When Redis loses a concert's line: places come back from the queue tokens fans present
//! (issue 25), against real Redis. The api's part (the durable copy, the re-open) is tested in
//! the api; here the queue is re-opened as the api re-opens it.

use serde_json::Value;
use shared::queue_config::{Opening, Resume};

use crate::helpers::{assert_problem, queue_settings, TestApp};

/// Loses every key of concert `id` (a flush, a restart without persistence), then re-opens
/// it as the api's reconciler does from its durable copy.
async fn lose_and_reopen(app: &TestApp, id: i64, lost_below: u64, admitted_before: u64) {
    lose(app, id).await;
    reopen(app, id, lost_below, admitted_before).await;
}

async fn lose(app: &TestApp, id: i64) {
    let mut conn = app.redis.get().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", app.keys.concert(id).prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(keys)
        .query_async(&mut conn)
        .await
        .unwrap();
    app.state
        .room
        .line_views()
        .forget(crate::helpers::concert(id));
}

async fn reopen(app: &TestApp, id: i64, lost_below: u64, admitted_before: u64) {
    let resume = Opening {
        seq_limit: Some(lost_below + 1_000),
        resume: Some(Resume {
            lost_below,
            admitted_before,
        }),
        ..Default::default()
    };
    app.open_sale(id, queue_settings(2, 100, 600), &resume)
        .await;
    app.state
        .room
        .line_views()
        .forget(crate::helpers::concert(id));
}

#[tokio::test]
async fn waiting_fans_get_their_places_back_in_their_order_and_only_once() {
    let app = TestApp::spawn().await;
    app.open_sale(
        1,
        queue_settings(2, 100, 600),
        &Opening {
            seq_limit: Some(1_000),
            ..Default::default()
        },
    )
    .await;
    let mut tokens = Vec::new();
    for i in 1..=8 {
        tokens.push(app.join_ok(&format!("fan-{i}"), 1).await.0);
    }
    // Fans 1 and 2 are admitted before the loss (the api copied admittedThrough = 2).
    app.tick(1).await;
    assert_eq!(app.status_ok(&tokens[0]).await["status"], "ACTIVE");
    lose(&app, 1).await;
    // Until the api opens the queue again, a poll is told to come back, not that it lost.
    let restoring = assert_problem(app.status(&tokens[5]).await, 503, "QUEUE_RESTORING").await;
    assert!(restoring["detail"].is_string());
    // A join meanwhile too: this gateway has seen the concert's queue, so it was lost.
    assert_problem(app.join("early-bird", 1).await, 503, "QUEUE_RESTORING").await;
    assert_problem(app.join("early-bird", 77).await, 404, "CONCERT_NOT_FOUND").await;
    reopen(&app, 1, 1_000, 2).await;

    // A newcomer after the loss queues behind everyone who comes back.
    let (newcomer, body) = app.join_ok("newcomer", 1).await;
    assert_eq!(body["position"], 1, "nobody has come back yet");

    // Fans 6, 4 and 7 come back, in that order: their places keep the original order.
    for (fan, position) in [(6, 1), (4, 1), (7, 3)] {
        let body = app.status_ok(&tokens[fan - 1]).await;
        assert_eq!(body["status"], "WAITING", "fan {fan}: {body}");
        assert_eq!(body["position"], position, "fan {fan}");
    }
    assert_eq!(
        app.status_ok(&tokens[5]).await["position"],
        2,
        "fan 6 behind fan 4"
    );
    assert_eq!(
        app.status_ok(&newcomer).await["position"],
        4,
        "the newcomer behind the three who came back, not behind the places nobody claimed"
    );

    // Admitted before the loss and never picked up: the session it had was lost with the data
    // and could still run, so the place comes back, at the front.
    let admitted = app.status_ok(&tokens[1]).await;
    assert_eq!(
        (admitted["status"].as_str(), admitted["position"].as_u64()),
        (Some("WAITING"), Some(1))
    );

    // Back once: a place given up after coming back stays given up.
    assert_eq!(app.leave(&tokens[6]).await.status(), 204);
    assert_eq!(app.status_ok(&tokens[6]).await["status"], "EXPIRED");

    // Admission follows the restored order, then the newcomer.
    let mut order = Vec::new();
    for _ in 0..3 {
        app.tick(1).await;
        for (name, token) in [
            ("fan-2", &tokens[1]),
            ("fan-4", &tokens[3]),
            ("fan-6", &tokens[5]),
            ("newcomer", &newcomer),
        ] {
            let s: Value = app.status_ok(token).await;
            if s["status"] == "ACTIVE" && !order.contains(&name) {
                order.push(name);
            }
        }
    }
    assert_eq!(order, ["fan-2", "fan-4", "fan-6", "newcomer"]);
}

#[tokio::test]
async fn a_place_admitted_before_the_loss_stays_out_once_its_session_would_have_ended() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(2, 100, 600)).await;
    let (admitted, _) = app.join_ok("admitted", 1).await;
    let (waiting, _) = app.join_ok("waiting", 1).await;
    app.tick(1).await; // both admitted (2 a tick); the api copied admittedThrough = 2
    lose_and_reopen(&app, 1, 1_000, 2).await;
    // The loss was longer ago than a session lasts (600 s).
    let mut conn = app.redis.get().await.unwrap();
    let long_ago = chrono::Utc::now().timestamp_millis() - 601_000;
    let _: () = redis::cmd("HSET")
        .arg(app.keys.concert(1).config())
        .arg("lostAt")
        .arg(long_ago)
        .query_async(&mut conn)
        .await
        .unwrap();
    app.state
        .room
        .line_views()
        .forget(crate::helpers::concert(1));
    assert_eq!(app.status_ok(&admitted).await["status"], "EXPIRED");
    assert_eq!(app.status_ok(&waiting).await["status"], "EXPIRED");
}

#[tokio::test]
async fn a_token_brings_back_only_its_own_concerts_place() {
    let app = TestApp::spawn().await;
    for id in [1, 2] {
        app.open_concert(id, queue_settings(2, 100, 600)).await;
    }
    let (one, _) = app.join_ok("fan", 1).await;
    let (two, _) = app.join_ok("fan", 2).await;
    lose_and_reopen(&app, 1, 1_000, 0).await;
    assert_eq!(app.status_ok(&one).await["status"], "WAITING");
    // Concert 2 lost nothing: its place is simply there, and concert 1's token changed nothing in it.
    assert_eq!(app.status_ok(&two).await["position"], 1);
    let stats: Value = app.stats(2).await.json().await.unwrap();
    assert_eq!(stats["waiting"], 1);
}

#[tokio::test]
async fn the_counter_stops_at_its_lease_until_the_api_extends_it() {
    let app = TestApp::spawn().await;
    app.open_sale(
        1,
        queue_settings(2, 100, 600),
        &Opening {
            seq_limit: Some(3),
            ..Default::default()
        },
    )
    .await;
    app.join_ok("a", 1).await;
    app.join_ok("b", 1).await;
    let res = app.join("c", 1).await;
    assert_eq!(res.status(), 503, "sequence 3 is not below the lease");
    let mut conn = app.redis.get().await.unwrap();
    shared::queue_config::extend_lease(&mut conn, &app.keys, 1, 100)
        .await
        .unwrap();
    assert_eq!(app.join("c", 1).await.status(), 201);
}

#[tokio::test]
async fn a_pre_queue_entry_comes_back_while_the_sale_has_not_opened() {
    let app = TestApp::spawn().await;
    let opens_at = chrono::Utc::now().timestamp_millis() + 60_000;
    let sale = |resume: Option<Resume>| Opening {
        opens_at_ms: Some(opens_at),
        seed: Some([3; 32]),
        seq_limit: Some(1_000),
        resume,
        ..Default::default()
    };
    app.open_sale(1, queue_settings(2, 100, 600), &sale(None))
        .await;
    let (early, body) = app.join_ok("early", 1).await;
    assert_eq!(body["status"], "PRE_QUEUE");
    lose(&app, 1).await;
    app.open_sale(
        1,
        queue_settings(2, 100, 600),
        &sale(Some(Resume {
            lost_below: 1_000,
            admitted_before: 0,
        })),
    )
    .await;
    assert_eq!(app.status_ok(&early).await["status"], "PRE_QUEUE");
    let stats: Value = app.stats(1).await.json().await.unwrap();
    assert_eq!(stats["waiting"], 1, "back in the pre-queue, to be drawn");
    // Once: given up after it came back, it stays given up.
    assert_eq!(app.leave(&early).await.status(), 204);
    assert_eq!(app.status_ok(&early).await["status"], "EXPIRED");
}

#[tokio::test]
async fn a_pre_queue_entry_lost_after_the_draw_comes_back_at_its_drawn_place() {
    use gateway::{admission::Tick, queue::draw};
    use shared::{
        draw::{entrant_id, to_hex},
        queue_config::DrawnOrder,
    };

    let app = TestApp::spawn().await;
    let opens_at = chrono::Utc::now().timestamp_millis() + 800;
    let sale = |resume: Option<Resume>, drawn: Option<DrawnOrder>| Opening {
        opens_at_ms: Some(opens_at),
        seed: Some([5; 32]),
        seq_limit: Some(1_000),
        resume,
        drawn,
        ..Default::default()
    };
    app.open_sale(1, queue_settings(1, 100, 600), &sale(None, None))
        .await;
    let users: Vec<String> = (0..6).map(|i| format!("early-{i}")).collect();
    let mut tokens = Vec::new();
    for user in &users {
        let (token, body) = app.join_ok(user, 1).await;
        assert_eq!(body["status"], "PRE_QUEUE");
        tokens.push(token);
    }
    let left = opens_at - chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(std::time::Duration::from_millis(left.max(0) as u64 + 20)).await;
    assert!(matches!(
        app.tick(1).await,
        Tick::Ran { draw_due: true, .. }
    ));
    draw::draw(&app.redis, &app.keys, crate::helpers::concert(1))
        .await
        .unwrap();
    let before: Value = app.get("/api/v1/queue/1/draw").await.json().await.unwrap();
    // What the api's reconciler copies into Postgres once the draw is made.
    let mut conn = app.redis.get().await.unwrap();
    let k = app.keys.concert(1);
    let (first, at): (u64, i64) = redis::cmd("HMGET")
        .arg(k.config())
        .arg(&["drawFirst", "drawnAt"])
        .query_async(&mut conn)
        .await
        .unwrap();
    let entrants: Vec<u8> = redis::cmd("GET")
        .arg(k.draw())
        .query_async(&mut conn)
        .await
        .unwrap();
    let kept = DrawnOrder {
        first,
        entrants,
        drawn_at_ms: at,
    };
    // One fan polled between the draw and the loss: she holds her drawn place's token.
    let polled = app.status_ok(&tokens[0]).await;
    let drawn_token = polled["queueToken"].as_str().unwrap().to_owned();

    lose(&app, 1).await;
    app.open_sale(
        1,
        queue_settings(1, 100, 600),
        &sale(
            Some(Resume {
                lost_below: 1_000,
                admitted_before: 0,
            }),
            Some(kept),
        ),
    )
    .await;
    app.state
        .room
        .line_views()
        .forget(crate::helpers::concert(1));

    // The draw comes back as it was made, and is not made again.
    let after: Value = app.get("/api/v1/queue/1/draw").await.json().await.unwrap();
    assert_eq!(after, before, "the published draw survives the loss");
    assert!(matches!(
        app.tick(1).await,
        Tick::Ran {
            draw_due: false,
            ..
        }
    ));

    // Each fan who never polled since the draw comes back at the drawn place, with its token;
    // the fan who had polled comes back with hers.
    let drawn_place = |user: &str| {
        let id = to_hex(&entrant_id(1, user));
        before["entrants"]
            .as_array()
            .unwrap()
            .iter()
            .position(|e| e.as_str() == Some(id.as_str()))
            .unwrap() as u64
            + 1
    };
    let mut now_tokens = vec![drawn_token.clone()];
    for token in &tokens[1..] {
        let body = app.status_ok(token).await;
        assert_eq!(body["status"], "WAITING", "{body}");
        now_tokens.push(
            body["queueToken"]
                .as_str()
                .expect("a drawn place's token")
                .to_owned(),
        );
    }
    assert_eq!(app.status_ok(&drawn_token).await["status"], "WAITING");
    for (user, token) in users.iter().zip(&now_tokens) {
        assert_eq!(
            app.status_ok(token).await["position"].as_u64(),
            Some(drawn_place(user)),
            "{user} is back at the place the draw gave"
        );
    }
    // Once: the pre-queue token again names the same place, and brings nothing more back.
    let again = app.status_ok(&tokens[3]).await;
    assert_eq!(again["position"].as_u64(), Some(drawn_place(&users[3])));
    let stats: Value = app.stats(1).await.json().await.unwrap();
    assert_eq!(stats["waiting"], 6);
}
