//! Join, status, leave and stats against real Redis.

use std::{collections::HashSet, time::Duration};

use futures::future::join_all;
use gateway::queue::{self, Joined, Standing};
use serde_json::{json, Value};
use shared::{
    config::QueueSettings,
    ids::{TicketId, UserId},
};

use crate::helpers::{assert_problem, concert, queue_settings, TestApp, ADMIN};

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

#[tokio::test]
async fn first_join_is_201_and_a_rejoin_is_200_with_the_same_place() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(10, 100, 60)).await;
    app.join_ok("someone-first", 1).await;

    let first = app.join("alice", 1).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "WAITING");
    assert_eq!(first["position"], 2);
    assert!(first["pollAfterMs"].as_u64().unwrap() >= 1000);
    assert!(first["estimatedWaitSeconds"].is_u64());

    let again = app.join("alice", 1).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["queueToken"], first["queueToken"]);
    assert_eq!(again["position"], 2);
}

#[tokio::test]
async fn join_refuses_unknown_concerts_and_bad_input_with_problems() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(10, 100, 60)).await;
    assert_problem(app.join("alice", 999).await, 404, "CONCERT_NOT_FOUND").await;
    let identity = app.identity_token("alice");
    let post = |body: &'static str, ct: &'static str| {
        app.client
            .post(app.url("/api/v1/queue/tokens"))
            .bearer_auth(&identity)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_problem(
        post("{not json", "application/json").await.unwrap(),
        400,
        "MALFORMED_JSON",
    )
    .await;
    for body in [
        r#"{"concertId":"1"}"#,
        r#"{}"#,
        r#"{"concertId":1,"x":1}"#,
        // The user is the identity token's: naming one is an unknown field.
        r#"{"userId":"bob","concertId":1}"#,
    ] {
        assert_problem(
            post(body, "application/json").await.unwrap(),
            400,
            "INVALID_BODY",
        )
        .await;
    }
    assert_problem(
        post(r#"{"concertId":1}"#, "text/plain").await.unwrap(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let huge = format!(r#"{{"concertId":1,"pad":"{}"}}"#, "a".repeat(100_000));
    let res = app
        .client
        .post(app.url("/api/v1/queue/tokens"))
        .bearer_auth(&identity)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "BODY_TOO_LARGE").await;
    assert_problem(app.join("alice", 0).await, 400, "INVALID_BODY").await;
}

#[tokio::test]
async fn five_hundred_concurrent_joins_get_positions_one_to_five_hundred() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(10, 100, 60)).await;
    let joins = (0..500).map(|i| {
        let app = &app;
        async move {
            let res = app.join(&format!("user-{i}"), 1).await;
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["position"]
                .as_u64()
                .unwrap()
        }
    });
    let mut positions: Vec<u64> = join_all(joins).await;
    positions.sort_unstable();
    assert_eq!(positions, (1..=500).collect::<Vec<u64>>());
}

#[tokio::test]
async fn the_same_user_joining_fifty_times_at_once_gets_one_place() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(10, 100, 60)).await;
    let responses = join_all((0..50).map(|_| app.join("bob", 1))).await;
    let mut created = 0;
    let mut tokens = HashSet::new();
    for res in responses {
        if res.status() == 201 {
            created += 1;
        } else {
            assert_eq!(res.status(), 200);
        }
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["position"], 1);
        tokens.insert(body["queueToken"].as_str().unwrap().to_owned());
    }
    assert_eq!(created, 1);
    assert_eq!(tokens.len(), 1);
    let stats: Value = app.stats(1).await.json().await.unwrap();
    assert_eq!(stats["waiting"], 1);
}

#[tokio::test]
async fn status_moves_from_waiting_to_active_in_join_order() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(3, 100, 60)).await;
    let mut tokens = Vec::new();
    for i in 0..7 {
        tokens.push(app.join_ok(&format!("u{i}"), 1).await.0);
    }
    app.tick(1).await;
    for (i, t) in tokens.iter().enumerate() {
        let s = app.status_ok(t).await;
        if i < 3 {
            assert_eq!(s["status"], "ACTIVE", "user {i}");
            assert_eq!(s["position"], 0);
            assert!(s["accessToken"].is_string());
            assert!(s["accessTokenExpiresAt"].is_string());
        } else {
            assert_eq!(s["status"], "WAITING", "user {i}");
            assert_eq!(s["position"], i as u64 - 2);
            assert!(s.get("accessToken").is_none());
        }
    }
    app.tick(1).await;
    let s = app.status_ok(&tokens[5]).await;
    assert_eq!(s["status"], "ACTIVE");
    let s = app.status_ok(&tokens[6]).await;
    assert_eq!(s["position"], 1);
    // Joining again while active returns the active session.
    let res = app.join("u0", 1).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ACTIVE");
    assert_eq!(body["queueToken"].as_str().unwrap(), tokens[0]);
}

#[tokio::test]
async fn leaving_frees_room_at_once_and_the_token_then_reads_expired() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(5, 1, 60)).await;
    let (a, _) = app.join_ok("a", 1).await;
    let (b, _) = app.join_ok("b", 1).await;
    let (c, _) = app.join_ok("c", 1).await;
    app.tick(1).await;
    assert_eq!(app.status_ok(&a).await["status"], "ACTIVE");
    assert_eq!(app.status_ok(&b).await["position"], 1);

    // c gives up its place: b stays first, c reads EXPIRED.
    assert_eq!(app.leave(&c).await.status(), 204);
    assert_eq!(app.status_ok(&c).await["status"], "EXPIRED");
    // a ends its session: the next tick admits b.
    assert_eq!(app.leave(&a).await.status(), 204);
    assert_eq!(app.status_ok(&a).await["status"], "EXPIRED");
    app.tick(1).await;
    assert_eq!(app.status_ok(&b).await["status"], "ACTIVE");
    // Leaving twice is harmless.
    assert_eq!(app.leave(&a).await.status(), 204);
}

#[tokio::test]
async fn sessions_expire_and_free_their_room() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 1, 1)).await;
    let (a, _) = app.join_ok("a", 1).await;
    let (b, _) = app.join_ok("b", 1).await;
    app.tick(1).await;
    assert_eq!(app.status_ok(&a).await["status"], "ACTIVE");
    app.tick(1).await;
    assert_eq!(
        app.status_ok(&b).await["status"],
        "WAITING",
        "max active 1 holds b back"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if app.status_ok(&a).await["status"] == "EXPIRED" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "session never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.tick(1).await;
    assert_eq!(app.status_ok(&b).await["status"], "ACTIVE");
    // An expired user may queue again and gets a new place.
    assert_eq!(app.join("a", 1).await.status(), 201);
}

#[tokio::test]
async fn status_and_leave_refuse_missing_forged_and_garbage_tokens() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 1, 60)).await;
    let (token, _) = app.join_ok("a", 1).await;
    let no_auth = app
        .client
        .get(app.url("/api/v1/queue/status"))
        .send()
        .await
        .unwrap();
    assert_problem(no_auth, 401, "INVALID_QUEUE_TOKEN").await;
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [forged.as_str(), "garbage", "eyJhbGciOiJFZERTQSJ9.e30.x"] {
        assert_problem(app.status(bad).await, 401, "INVALID_QUEUE_TOKEN").await;
        assert_problem(app.leave(bad).await, 401, "INVALID_QUEUE_TOKEN").await;
    }
    // A token sealed by another gateway key does not open here.
    let other = TestApp::spawn().await;
    other.open_concert(1, queue_settings(1, 1, 60)).await;
    let (foreign, _) = other.join_ok("a", 1).await;
    assert_problem(app.status(&foreign).await, 401, "INVALID_QUEUE_TOKEN").await;
}

#[tokio::test]
async fn stats_report_waiting_active_and_the_measured_rate() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(2, 100, 60)).await;
    for i in 0..10 {
        app.join_ok(&format!("u{i}"), 1).await;
    }
    app.tick(1).await;
    let stats: Value = app.stats(1).await.json().await.unwrap();
    assert_eq!(stats["waiting"], 8);
    assert_eq!(stats["active"], 2);
    assert!(
        stats["admittedPerMinute"].as_f64().unwrap() > 0.0,
        "{stats}"
    );
    assert!(stats["estimatedWaitSecondsAtBack"].as_u64().unwrap() > 0);
    assert_problem(app.stats(77).await, 404, "CONCERT_NOT_FOUND").await;
    assert_problem(
        app.get("/api/v1/queue/abc/stats").await,
        400,
        "INVALID_PATH",
    )
    .await;

    let list: Value = app
        .get("/api/v1/queue/concerts")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["concerts"][0]["concertId"], 1);
    assert_eq!(list["concerts"][0]["waiting"], 8);
}

#[tokio::test]
async fn admin_settings_are_validated_and_pausing_stops_admission() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(5, 100, 60)).await;
    let (t, _) = app.join_ok("a", 1).await;
    let paused = json!({"admitPerTick": 5, "tickMillis": 100, "maxActive": 100, "sessionTtlSeconds": 60, "paused": true});
    assert_problem(
        app.put_settings(1, &paused, None).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    assert_problem(
        app.put_settings(1, &paused, Some("wrong")).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    let bad = json!({"admitPerTick": 0, "tickMillis": 100, "maxActive": 100, "sessionTtlSeconds": 60, "paused": false});
    assert_problem(
        app.put_settings(1, &bad, Some(crate::helpers::ADMIN)).await,
        400,
        "INVALID_SETTINGS",
    )
    .await;
    let partial = json!({"admitPerTick": 5});
    assert_problem(
        app.put_settings(1, &partial, Some(crate::helpers::ADMIN))
            .await,
        400,
        "INVALID_BODY",
    )
    .await;
    assert_problem(
        app.put_settings(2, &paused, Some(crate::helpers::ADMIN))
            .await,
        404,
        "CONCERT_NOT_FOUND",
    )
    .await;

    let res = app
        .put_settings(1, &paused, Some(crate::helpers::ADMIN))
        .await;
    assert_eq!(res.status(), 200);
    app.tick(1).await;
    let s = app.status_ok(&t).await;
    assert_eq!(s["status"], "WAITING");
    assert_eq!(s["paused"], true);

    let resumed = json!({"admitPerTick": 5, "tickMillis": 100, "maxActive": 100, "sessionTtlSeconds": 60, "paused": false});
    assert_eq!(
        app.put_settings(1, &resumed, Some(crate::helpers::ADMIN))
            .await
            .status(),
        200
    );
    app.tick(1).await;
    assert_eq!(app.status_ok(&t).await["status"], "ACTIVE");
}

/// The console's view of concert `id`'s queue, asserting 200.
async fn admin_queue(app: &TestApp, id: i64) -> Value {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/admin/queues/{id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

#[tokio::test]
async fn admin_reads_the_settings_in_force_and_the_admissions_so_far() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(2, 100, 60)).await;
    app.open_concert(2, queue_settings(7, 50, 30)).await;
    for u in ["a", "b", "c"] {
        app.join_ok(u, 1).await;
    }
    let before = admin_queue(&app, 1).await;
    assert_eq!(before["concertId"], 1);
    assert_eq!(before["admitted"], 0);
    assert_eq!(
        before["settings"],
        json!({"admitPerTick": 2, "tickMillis": 100, "maxActive": 100, "sessionTtlSeconds": 60,
            "paused": false})
    );
    // The line's numbers are the stats endpoint's.
    let stats: Value = app.stats(1).await.json().await.unwrap();
    assert_eq!(before["line"], stats);
    assert_eq!(
        (stats["waiting"].as_u64(), stats["active"].as_u64()),
        (Some(3), Some(0))
    );

    app.tick(1).await;
    let after = admin_queue(&app, 1).await;
    assert_eq!(after["admitted"], 2);
    assert_eq!(after["line"]["waiting"], 1);
    assert_eq!(after["line"]["active"], 2);
    app.tick(1).await;
    assert_eq!(admin_queue(&app, 1).await["admitted"], 3);
    let other = admin_queue(&app, 2).await;
    assert_eq!(
        (
            &other["concertId"],
            &other["admitted"],
            &other["line"]["waiting"]
        ),
        (&json!(2), &json!(0), &json!(0)),
        "each concert its own"
    );
    assert_eq!(
        other["settings"],
        json!({"admitPerTick": 7, "tickMillis": 100, "maxActive": 50, "sessionTtlSeconds": 30,
            "paused": false})
    );

    // What a PUT sets, a GET reads back.
    let paused = json!({"admitPerTick": 9, "tickMillis": 200, "maxActive": 40, "sessionTtlSeconds": 90, "paused": true});
    assert_eq!(
        app.put_settings(1, &paused, Some(ADMIN)).await.status(),
        200
    );
    let now = admin_queue(&app, 1).await;
    assert_eq!(now["settings"], paused);
    assert_eq!(now["line"]["paused"], true);

    let get = |path: &'static str, token: Option<&'static str>| {
        let mut req = app.client.get(app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let path = "/api/v1/admin/queues/1";
    assert_problem(get(path, None).await.unwrap(), 401, "UNAUTHORIZED").await;
    assert_problem(get(path, Some("wrong")).await.unwrap(), 401, "UNAUTHORIZED").await;
    for unknown in ["/api/v1/admin/queues/3", "/api/v1/admin/queues/0"] {
        assert_problem(
            get(unknown, Some(ADMIN)).await.unwrap(),
            404,
            "CONCERT_NOT_FOUND",
        )
        .await;
    }
    assert_problem(
        get("/api/v1/admin/queues/abc", Some(ADMIN)).await.unwrap(),
        400,
        "INVALID_PATH",
    )
    .await;
}

#[tokio::test]
async fn joins_past_the_per_address_rate_get_429_with_retry_after() {
    let app = TestApp::spawn_with(|s| s.join_rate_per_second = 3).await;
    app.open_concert(1, queue_settings(5, 100, 60)).await;
    for i in 0..3 {
        assert_eq!(app.join(&format!("u{i}"), 1).await.status(), 201);
    }
    let res = app.join("u9", 1).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 429, "RATE_LIMITED").await;
    // The rate is checked before the identity token: a flood of forged ones is stopped too.
    let forged = app.join_with(Some("forged.identity.token"), 1).await;
    assert_problem(forged, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn one_batch_mixes_new_waiting_active_repeated_and_unknown_users() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 60)).await;
    app.join_ok("first", 1).await;
    app.tick(1).await; // first is admitted
    app.join_ok("second", 1).await; // second waits at position 1

    let users = ["new-a", "second", "first", "new-a", "new-b"].map(user);
    let joined = queue::store::join_batch(&app.redis, &app.keys, concert(1), &users)
        .await
        .unwrap();
    let (a, second, first, a_again, b) = match &joined[..] {
        [a, second, first, a_again, b] => (a, second, first, a_again, b),
        other => panic!("{other:?}"),
    };
    let ticket = |j: &Joined| match j {
        Joined::Waiting { ticket_id, .. } | Joined::Active { ticket_id, .. } => *ticket_id,
        other => panic!("neither waiting nor active: {other:?}"),
    };
    let place = |j: &Joined| match j {
        Joined::Waiting { new, position, .. } => (*new, *position),
        other => panic!("not waiting: {other:?}"),
    };
    assert_eq!(place(a), (true, 2), "new users go behind everyone waiting");
    assert_eq!(place(second), (false, 1));
    assert!(matches!(first, Joined::Active { .. }), "{first:?}");
    assert_eq!(place(a_again), (false, 2), "named twice: one place");
    assert_eq!(ticket(a_again), ticket(a));
    assert_eq!(place(b), (true, 3));
    assert_eq!(
        ticket(b).get(),
        ticket(a).get() + 1,
        "tickets follow arrival order"
    );
    let stats: Value = app.stats(1).await.json().await.unwrap();
    assert_eq!(stats["waiting"], 3);

    let tickets = [
        (user("new-b"), ticket(b)),
        (user("first"), ticket(first)),
        (user("second"), ticket(second)),
        (user("new-a"), ticket(b)), // another user's ticket
        (user("nobody"), TicketId::new(1)),
    ];
    let standing = queue::store::status_batch(&app.redis, &app.keys, concert(1), &tickets)
        .await
        .unwrap();
    assert!(
        matches!(standing[0], Standing::Waiting { position: 3, .. }),
        "{standing:?}"
    );
    assert!(
        matches!(standing[1], Standing::Active { .. }),
        "{standing:?}"
    );
    assert!(
        matches!(standing[2], Standing::Waiting { position: 1, .. }),
        "{standing:?}"
    );
    assert_eq!(standing[3..], [Standing::Expired, Standing::Expired]);

    let unknown = queue::store::join_batch(&app.redis, &app.keys, concert(9), &users)
        .await
        .unwrap();
    assert_eq!(unknown, vec![Joined::UnknownConcert; users.len()]);
    // A queue Redis does not have was lost (a closed one keeps its config): come back later.
    let unknown = queue::store::status_batch(&app.redis, &app.keys, concert(9), &tickets).await;
    assert!(
        matches!(unknown, Err(gateway::error::GatewayError::Restoring)),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn concurrent_polls_of_two_concerts_each_see_their_own_place() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(10, 100, 60)).await;
    app.open_concert(2, queue_settings(10, 100, 60)).await;
    let mut tokens = Vec::new();
    for i in 0..100 {
        let concert = 1 + i % 2;
        let (token, body) = app.join_ok(&format!("u{i}"), concert).await;
        tokens.push((token, body["position"].as_u64().unwrap()));
    }
    // Polled all at once, many times over: every answer is the poller's own position.
    let polls = tokens.iter().cycle().take(600).map(|(token, position)| {
        let app = &app;
        async move {
            let s = app.status_ok(token).await;
            assert_eq!(s["status"], "WAITING");
            assert_eq!(s["position"].as_u64(), Some(*position));
        }
    });
    join_all(polls).await;
    assert_eq!(tokens[98].1, 50);
    assert_eq!(tokens[99].1, 50);
}

/// Every waiting poller's position, checked against `ZRANK` in Redis.
async fn assert_positions_match_redis(app: &TestApp, waiting: &[(String, String)]) {
    let mut conn = app.redis.get().await.unwrap();
    let polls = join_all(waiting.iter().map(|(_, token)| app.status_ok(token))).await;
    for ((user, _), s) in waiting.iter().zip(polls) {
        let rank: Option<u64> = redis::cmd("ZRANK")
            .arg(app.keys.concert(1).queue())
            .arg(user)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(s["status"], "WAITING", "{user}");
        assert_eq!(s["position"].as_u64(), rank.map(|r| r + 1), "{user}");
    }
}

#[tokio::test]
async fn positions_stay_exact_as_people_leave_rejoin_and_are_admitted() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(4, 1000, 60)).await;
    let mut waiting = Vec::new();
    for i in 0..60 {
        let user = format!("u{i:02}");
        let (token, _) = app.join_ok(&user, 1).await;
        waiting.push((user, token));
    }
    // Leave from the middle, the front and the back, and rejoin: every gap counts.
    let mut rng_pick = [7usize, 0, 59, 23, 24, 41, 3, 58, 30];
    rng_pick.sort_unstable_by(|a, b| b.cmp(a));
    let mut left = Vec::new();
    for i in rng_pick {
        let (user, token) = waiting.remove(i);
        assert_eq!(app.leave(&token).await.status(), 204);
        left.push(user);
    }
    assert_positions_match_redis(&app, &waiting).await;
    for user in left.iter().take(4) {
        let (token, body) = app.join_ok(user, 1).await;
        assert_eq!(body["position"].as_u64(), Some(waiting.len() as u64 + 1));
        waiting.push((user.clone(), token));
    }
    assert_positions_match_redis(&app, &waiting).await;
    // Ticks admit from the head (over the gaps), and drop the gaps behind it.
    for _ in 0..3 {
        app.tick(1).await;
        waiting.drain(..4);
        assert_positions_match_redis(&app, &waiting).await;
    }
    let (_, token) = waiting.remove(10);
    app.leave(&token).await;
    app.tick(1).await;
    waiting.drain(..4);
    assert_positions_match_redis(&app, &waiting).await;
}

#[tokio::test]
async fn a_lost_sequence_counter_resumes_behind_the_line() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(4, 1000, 60)).await;
    let mut waiting = Vec::new();
    for i in 0..6 {
        let user = format!("u{i}");
        waiting.push((user.clone(), app.join_ok(&user, 1).await.0));
    }
    // The last in line leaves: its sequence is a gap past the back of the line.
    let (_, last) = waiting.pop().unwrap();
    assert_eq!(app.leave(&last).await.status(), 204);
    // The counter is lost (say, restored from an older copy): new places still go to the
    // back with sequences of their own, and every position stays exact.
    let mut conn = app.redis.get().await.unwrap();
    let _: i64 = redis::cmd("HDEL")
        .arg(app.keys.concert(1).config())
        .arg("seq")
        .query_async(&mut conn)
        .await
        .unwrap();
    for (user, position) in [("late", 6), ("later", 7)] {
        let (token, body) = app.join_ok(user, 1).await;
        assert_eq!(body["position"], position, "{user}");
        waiting.push((user.into(), token));
    }
    assert_positions_match_redis(&app, &waiting).await;
}

/// Ten-second ticks of 2: a view's front is 4 places (the tick under way and the next).
fn slow_ticks() -> QueueSettings {
    QueueSettings {
        tick_millis: 10_000,
        ..queue_settings(2, 100, 60)
    }
}

/// A gateway whose line views live `status_view`, and a concert of [`slow_ticks`] with twenty
/// people waiting (their queue tokens, in line order).
async fn line_of_twenty(status_view: Duration) -> (TestApp, Vec<String>) {
    let app = TestApp::spawn_with(|s| s.status_view = status_view).await;
    app.open_concert(1, slow_ticks()).await;
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(app.join_ok(&format!("u{i}"), 1).await.0);
    }
    (app, tokens)
}

#[tokio::test]
async fn a_line_view_answers_polls_until_this_gateway_changes_the_line() {
    let (app, tokens) = line_of_twenty(Duration::from_secs(10)).await;
    assert_eq!(app.status_ok(&tokens[9]).await["position"], 10);
    // Another instance admits two: the front asks Redis and sees it at once; further back,
    // the view (ten seconds here) still has the old head.
    app.remote_tick(1).await;
    assert_eq!(app.status_ok(&tokens[0]).await["status"], "ACTIVE");
    assert_eq!(app.status_ok(&tokens[2]).await["position"], 1);
    assert_eq!(
        app.status_ok(&tokens[9]).await["position"],
        10,
        "from the view"
    );
    // Leaving here drops the view: the leaver reads EXPIRED and everyone moves up.
    assert_eq!(app.leave(&tokens[5]).await.status(), 204);
    assert_eq!(app.status_ok(&tokens[5]).await["status"], "EXPIRED");
    assert_eq!(app.status_ok(&tokens[9]).await["position"], 7);
    // So do new settings.
    let paused = json!({"admitPerTick": 2, "tickMillis": 10_000, "maxActive": 100, "sessionTtlSeconds": 60, "paused": true});
    assert_eq!(
        app.put_settings(1, &paused, Some(ADMIN)).await.status(),
        200
    );
    assert_eq!(app.status_ok(&tokens[9]).await["paused"], true);
    // And this gateway's own ticks.
    let running = json!({"admitPerTick": 2, "tickMillis": 10_000, "maxActive": 100, "sessionTtlSeconds": 60, "paused": false});
    assert_eq!(
        app.put_settings(1, &running, Some(ADMIN)).await.status(),
        200
    );
    assert_eq!(app.status_ok(&tokens[9]).await["position"], 7);
    app.tick(1).await;
    assert_eq!(app.status_ok(&tokens[9]).await["position"], 5);
    assert_eq!(app.status_ok(&tokens[3]).await["status"], "ACTIVE");
}

#[tokio::test]
async fn another_instances_changes_show_once_the_view_is_older_than_status_view_ms() {
    let (app, tokens) = line_of_twenty(Duration::from_millis(150)).await;
    assert_eq!(app.status_ok(&tokens[9]).await["position"], 10);
    app.remote_tick(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.status_ok(&tokens[9]).await["position"], 8);
}

#[tokio::test]
async fn with_status_view_ms_zero_every_poll_reads_redis() {
    let (app, tokens) = line_of_twenty(Duration::ZERO).await;
    assert_eq!(app.status_ok(&tokens[9]).await["position"], 10);
    app.remote_tick(1).await;
    assert_eq!(app.status_ok(&tokens[9]).await["position"], 8);
}

/// Writes a hold as the api's hold.lua does: seat holds, the held-seats index, the user's
/// open hold and the reservation hash.
async fn put_hold(app: &TestApp, user: &str, reservation: &str, status: &str, seats: &[i64]) {
    let k = app.keys.concert(1);
    let mut conn = app.redis.get().await.unwrap();
    let schedule = 3;
    let mut pipe = redis::pipe();
    for seat in seats {
        pipe.cmd("SET")
            .arg(k.seat_hold(schedule, *seat))
            .arg(reservation)
            .arg("PX")
            .arg(60_000)
            .ignore();
        pipe.cmd("ZADD")
            .arg(k.held_seats(schedule))
            .arg(i64::MAX / 2)
            .arg(format!("{seat}:{reservation}"))
            .ignore();
    }
    let seats_json: Vec<(i64, i64, i64)> = seats.iter().map(|s| (*s, *s, 50_000)).collect();
    pipe.cmd("SET")
        .arg(k.user_hold(user))
        .arg(reservation)
        .ignore();
    pipe.cmd("HSET")
        .arg(k.reservation(reservation))
        .arg("user")
        .arg(user)
        .arg("scheduleId")
        .arg(schedule)
        .arg("seats")
        .arg(serde_json::to_string(&seats_json).unwrap())
        .arg("status")
        .arg(status)
        .ignore();
    let () = pipe.query_async(&mut conn).await.unwrap();
}

/// The seat holds still held, the held-seats index, the user's open hold and the status.
async fn hold_state(
    app: &TestApp,
    user: &str,
    reservation: &str,
    seats: &[i64],
) -> (usize, usize, Option<String>, Option<String>) {
    let k = app.keys.concert(1);
    let mut conn = app.redis.get().await.unwrap();
    let mut held = 0;
    for seat in seats {
        let v: Option<String> = redis::cmd("GET")
            .arg(k.seat_hold(3, *seat))
            .query_async(&mut conn)
            .await
            .unwrap();
        held += usize::from(v.is_some());
    }
    let indexed: usize = redis::cmd("ZCARD")
        .arg(k.held_seats(3))
        .query_async(&mut conn)
        .await
        .unwrap();
    let open: Option<String> = redis::cmd("GET")
        .arg(k.user_hold(user))
        .query_async(&mut conn)
        .await
        .unwrap();
    let status: Option<String> = redis::cmd("HGET")
        .arg(k.reservation(reservation))
        .arg("status")
        .query_async(&mut conn)
        .await
        .unwrap();
    (held, indexed, open, status)
}

#[tokio::test]
async fn ending_a_session_releases_its_open_hold() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(2, 10, 60)).await;
    let (ann, _) = app.join_ok("ann", 1).await;
    let (ben, _) = app.join_ok("ben", 1).await;
    app.tick(1).await;
    assert_eq!(app.status_ok(&ann).await["status"], "ACTIVE");
    assert_eq!(app.status_ok(&ben).await["status"], "ACTIVE");
    put_hold(&app, "ann", "r-ann", "HELD", &[11, 12]).await;
    put_hold(&app, "ben", "r-ben", "PAYING", &[21]).await;
    // Seat 12 lapsed and was held again by someone else since: not ann's to release.
    let k = app.keys.concert(1);
    let mut conn = app.redis.get().await.unwrap();
    let () = redis::cmd("SET")
        .arg(k.seat_hold(3, 12))
        .arg("r-other")
        .query_async(&mut conn)
        .await
        .unwrap();

    assert_eq!(app.leave(&ann).await.status(), 204);
    let (held, indexed, open, status) = hold_state(&app, "ann", "r-ann", &[11, 12]).await;
    assert_eq!(held, 1, "seat 12 is still r-other's");
    assert_eq!(indexed, 1, "only ben's seat stays in the index");
    assert_eq!(open, None);
    assert_eq!(status.as_deref(), Some("CANCELED"));

    // A payment under way is left to finish or hand the hold back.
    assert_eq!(app.leave(&ben).await.status(), 204);
    let (held, _, open, status) = hold_state(&app, "ben", "r-ben", &[21]).await;
    assert_eq!((held, open.as_deref()), (1, Some("r-ben")));
    assert_eq!(status.as_deref(), Some("PAYING"));
}

/// Concerts 1 to 4 hash to slots on different nodes of a three-master cluster (`scripts/test`
/// runs this file on one too): the list reads each concert in its own slot.
#[tokio::test]
async fn the_open_concerts_are_listed_whichever_slot_each_is_in() {
    let app = TestApp::spawn().await;
    for id in 1..=4 {
        app.open_concert(id, queue_settings(5, 100, 60)).await;
        for n in 0..id {
            app.join_ok(&format!("fan-{id}-{n}"), id).await;
        }
    }
    let list: Value = app
        .get("/api/v1/queue/concerts")
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<(i64, u64)> = list["concerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["concertId"].as_i64().unwrap(),
                c["waiting"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [(1, 1), (2, 2), (3, 3), (4, 4)]);
}
