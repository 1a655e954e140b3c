//! The admission scheduler: exact N per tick with several instances, the active cap, order.

use std::time::Duration;

use futures::future::join_all;
use gateway::admission::{self, Tick};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::helpers::{concert, queue_settings, TestApp};

async fn fill(app: &TestApp, concert_id: i64, n: usize) -> Vec<String> {
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        tokens.push(app.join_ok(&format!("user-{i:04}"), concert_id).await.0);
    }
    tokens
}

async fn redis_count(app: &TestApp, cmd: &str, key: String) -> u64 {
    let mut conn = app.redis.get().await.unwrap();
    redis::cmd(cmd)
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn three_schedulers_racing_for_each_tick_admit_exactly_n_per_tick() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(7, 1_000, 60)).await;
    fill(&app, 1, 100).await;
    for tick in 1..=10u64 {
        let results = join_all((0..3).map(|_| {
            admission::admit_tick(
                &app.redis,
                &app.keys,
                concert(1),
                Some(tick),
                app.settings.activation,
            )
        }))
        .await;
        let ran: Vec<u64> = results
            .into_iter()
            .filter_map(|r| match r.unwrap() {
                Tick::Ran { admitted, .. } => Some(admitted),
                Tick::AlreadyClaimed { .. } => None,
                other => panic!("queue closed: {other:?}"),
            })
            .collect();
        assert_eq!(
            ran,
            vec![7],
            "tick {tick}: exactly one instance runs it and admits 7"
        );
        // A late instance re-running an old tick does nothing.
        assert!(matches!(
            admission::admit_tick(
                &app.redis,
                &app.keys,
                concert(1),
                Some(tick),
                app.settings.activation
            )
            .await
            .unwrap(),
            Tick::AlreadyClaimed { .. }
        ));
    }
    assert_eq!(
        redis_count(&app, "ZCARD", app.keys.concert(1).active()).await,
        70
    );
    assert_eq!(
        redis_count(&app, "ZCARD", app.keys.concert(1).queue()).await,
        30
    );
}

#[tokio::test]
async fn three_running_scheduler_loops_admit_n_per_wall_clock_tick() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(5, 10_000, 60)).await;
    fill(&app, 1, 400).await;
    let stop = CancellationToken::new();
    let started = std::time::Instant::now();
    let loops: Vec<_> = (0..3)
        .map(|_| {
            tokio::spawn(admission::run_concert(
                app.redis.clone(),
                app.keys.clone(),
                concert(1),
                app.state.room.line_views().clone(),
                app.state.live.clone(),
                app.settings.activation,
                stop.child_token(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    stop.cancel();
    for l in loops {
        l.await.unwrap();
    }
    let elapsed_ticks = started.elapsed().as_millis() as u64 / 100 + 1;
    let active = redis_count(&app, "ZCARD", app.keys.concert(1).active()).await;
    assert_eq!(active % 5, 0, "whole ticks of 5: {active}");
    assert!(active >= 5 * 5, "admitted {active} in ~10 ticks");
    assert!(active <= 5 * elapsed_ticks, "three loops must not admit more than one tick's worth per tick: {active} > 5 x {elapsed_ticks}");
}

#[tokio::test]
async fn active_sessions_never_exceed_max_active() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(7, 10, 60)).await;
    fill(&app, 1, 30).await;
    let mut admitted = Vec::new();
    for _ in 0..4 {
        match app.tick(1).await {
            Tick::Ran {
                admitted: n,
                active,
                ..
            } => {
                assert!(active <= 10);
                admitted.push(n);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(admitted, vec![7, 3, 0, 0]);
}

#[tokio::test]
async fn admission_order_is_join_order() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(4, 1_000, 60)).await;
    let tokens = fill(&app, 1, 12).await;
    for round in 0..3 {
        app.tick(1).await;
        for (i, t) in tokens.iter().enumerate() {
            let status: Value = app.status_ok(t).await;
            let expect_active = i < (round + 1) * 4;
            assert_eq!(
                status["status"] == "ACTIVE",
                expect_active,
                "round {round} user {i}: {status}"
            );
        }
    }
}

#[tokio::test]
async fn an_admission_tick_of_a_concert_without_a_queue_reports_it_missing() {
    let app = TestApp::spawn().await;
    assert_eq!(app.tick(42).await, Tick::Missing);
}

#[tokio::test]
async fn a_claim_from_a_clock_ahead_of_redis_does_not_stall_the_scheduler() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(3, 1_000, 60)).await;
    fill(&app, 1, 10).await;
    // An instance whose clock ran five minutes ahead claimed a tick, as the old scheduler let
    // it: the tick of Redis's clock is still run, once.
    let future = chrono::Utc::now().timestamp_millis() + 300_000;
    let mut conn = app.redis.get().await.unwrap();
    let () = redis::cmd("HSET")
        .arg(app.keys.concert(1).config())
        .arg("lastTick")
        .arg(future)
        .query_async(&mut conn)
        .await
        .unwrap();
    let first = admission::admit_tick(
        &app.redis,
        &app.keys,
        concert(1),
        None,
        app.settings.activation,
    )
    .await
    .unwrap();
    let Tick::Ran {
        admitted,
        next_tick_in_ms,
        ..
    } = first
    else {
        panic!("the tick of Redis's clock ran: {first:?}");
    };
    assert_eq!(admitted, 3);
    assert!(next_tick_in_ms <= 1_000, "{next_tick_in_ms}");
    // A second call in the same tick finds it claimed (unless the tick just ended).
    match admission::admit_tick(
        &app.redis,
        &app.keys,
        concert(1),
        None,
        app.settings.activation,
    )
    .await
    .unwrap()
    {
        Tick::AlreadyClaimed { .. } => {}
        Tick::Ran { admitted, .. } => assert_eq!(admitted, 3, "only a new tick runs again"),
        other => panic!("queue closed: {other:?}"),
    }
}
