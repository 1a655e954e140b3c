//! `GET /api/v1/queue/events`: the status pushed as server-sent events, fed by one read of
//! the line per tick (`live.rs`), from whichever instance ran the tick.

use std::time::{Duration, Instant};

use gateway::admission::Tick;
use serde_json::Value;
use shared::queue_config::Opening;

use crate::helpers::{assert_problem, concert, queue_settings, TestApp};

/// One server-sent event: its id and its JSON data.
#[derive(Debug)]
struct SseEvent {
    id: String,
    data: Value,
}

/// A client of one event stream, reading events as they come.
struct Stream {
    res: reqwest::Response,
    buf: String,
}

impl Stream {
    /// Opens a stream with `req` (its token as a bearer or `?token=`), asserting 200.
    async fn open(req: reqwest::RequestBuilder) -> Self {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "events: {}", res.status());
        let ct = res.headers()["content-type"].to_str().unwrap();
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        Self {
            res,
            buf: String::new(),
        }
    }

    async fn bearer(app: &TestApp, token: &str) -> Self {
        Self::open(
            app.client
                .get(app.url("/api/v1/queue/events"))
                .bearer_auth(token),
        )
        .await
    }

    /// The next event within `within`; `Err(true)` when the stream ended, `Err(false)` when
    /// none came in time.
    async fn next_within(&mut self, within: Duration) -> Result<SseEvent, bool> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut data) = (None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str(v.trim()).unwrap());
                    }
                }
                if let Some(data) = data {
                    return Ok(SseEvent {
                        id: id.expect("every event has an id"),
                        data,
                    });
                }
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Err(_) => return Err(false),
                Ok(Ok(Some(chunk))) => self.buf.push_str(std::str::from_utf8(&chunk).unwrap()),
                Ok(Ok(None)) | Ok(Err(_)) => return Err(true),
            }
        }
    }

    async fn next(&mut self) -> SseEvent {
        self.next_within(Duration::from_secs(5))
            .await
            .expect("an event within 5 s")
    }

    /// Events until one with `status`, within `within`.
    async fn until(&mut self, status: &str, within: Duration) -> SseEvent {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_within(left).await {
                Ok(e) if e.data["status"] == status => return e,
                Ok(_) => {}
                Err(ended) => panic!("no {status} event (stream ended: {ended})"),
            }
        }
    }
}

/// The settings of the tests' paused lines, resumed.
fn resumed() -> Value {
    serde_json::json!({"admitPerTick": 1, "tickMillis": 100, "maxActive": 100,
        "sessionTtlSeconds": 600, "paused": false})
}

/// What an instance's scheduler does after each tick (run here, or found claimed by
/// another instance): the line read once for this instance's streams.
async fn refresh(app: &TestApp, concert_id: i64) {
    app.state
        .live
        .refresh(&app.redis, &app.keys, concert(concert_id))
        .await;
}

#[tokio::test]
async fn a_stream_says_waiting_then_active_with_the_access_token_after_the_admission_tick() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    app.join_ok("ann", 1).await;
    let (token, _) = app.join_ok("bob", 1).await;

    let mut events = Stream::bearer(&app, &token).await;
    let first = events.next().await;
    assert_eq!(first.data["status"], "WAITING");
    assert_eq!(first.data["position"], 2);
    assert_eq!(first.data, app.status_ok(&token).await, "the poll's object");

    assert!(matches!(app.tick(1).await, Tick::Ran { admitted: 1, .. }));
    refresh(&app, 1).await;
    let moved = events.next().await;
    assert_eq!(moved.data["position"], 1);
    assert_ne!(moved.id, first.id);

    assert!(matches!(app.tick(1).await, Tick::Ran { admitted: 1, .. }));
    let ticked = Instant::now();
    refresh(&app, 1).await;
    let active = events.until("ACTIVE", Duration::from_secs(2)).await;
    assert!(
        ticked.elapsed() < Duration::from_millis(250),
        "admission reached the stream {:?} after the tick",
        ticked.elapsed()
    );
    let access = active.data["accessToken"]
        .as_str()
        .expect("an access token");
    assert!(!access.is_empty());
    assert!(active.data["accessTokenExpiresAt"].is_string());
    // The stream stays open for an active session, and says nothing new while it runs.
    refresh(&app, 1).await;
    assert!(matches!(
        events.next_within(Duration::from_millis(300)).await,
        Err(false)
    ));
}

#[tokio::test]
async fn the_running_scheduler_pushes_admission_to_a_stream_opened_with_a_query_token() {
    let app = TestApp::spawn_with(|s| s.scheduler = true).await;
    let mut settings = queue_settings(1, 100, 600);
    settings.paused = true;
    app.open_concert(1, settings).await;
    for fan in ["ann", "bob"] {
        app.join_ok(fan, 1).await;
    }
    let (token, _) = app.join_ok("cy", 1).await;
    let mut events = Stream::open(
        app.client
            .get(app.url("/api/v1/queue/events"))
            .query(&[("token", &token)]),
    )
    .await;
    let first = events.next().await;
    assert_eq!(first.data["status"], "WAITING");
    assert_eq!(first.data["position"], 3);
    assert_eq!(first.data["paused"], true);

    let res = app
        .put_settings(1, &resumed(), Some(crate::helpers::ADMIN))
        .await;
    assert!(res.status().is_success(), "resume: {}", res.status());
    // 100 ms ticks of one: cy is admitted within a few ticks, no poll needed.
    let active = events.until("ACTIVE", Duration::from_secs(5)).await;
    assert!(active.data["accessToken"].is_string());
}

#[tokio::test]
async fn an_admission_by_another_instance_reaches_a_stream_held_by_this_one() {
    let here = TestApp::spawn().await;
    let prefix = here.settings.redis.prefix.clone();
    let there = TestApp::spawn_with(|s| s.redis.prefix = prefix).await;
    here.open_concert(1, queue_settings(1, 100, 600)).await;
    let (token, _) = here.join_ok("ann", 1).await;
    let mut events = Stream::bearer(&here, &token).await;
    assert_eq!(events.next().await.data["status"], "WAITING");

    // The other instance runs the tick; this one's loop finds it claimed and reads the line.
    assert!(matches!(
        there.remote_tick(1).await,
        Tick::Ran { admitted: 1, .. }
    ));
    let ticked = Instant::now();
    refresh(&here, 1).await;
    let active = events.until("ACTIVE", Duration::from_secs(2)).await;
    assert!(ticked.elapsed() < Duration::from_millis(250));
    assert!(active.data["accessToken"].is_string());
}

#[tokio::test]
async fn two_instances_running_their_schedulers_push_admission_to_either_ones_streams() {
    let here = TestApp::spawn_with(|s| s.scheduler = true).await;
    let prefix = here.settings.redis.prefix.clone();
    let _there = TestApp::spawn_with(|s| {
        s.redis.prefix = prefix;
        s.scheduler = true;
    })
    .await;
    let mut settings = queue_settings(1, 100, 600);
    settings.paused = true;
    here.open_concert(1, settings).await;
    let mut streams = Vec::new();
    for fan in ["ann", "bob", "cy", "dee"] {
        let (token, _) = here.join_ok(fan, 1).await;
        let mut events = Stream::bearer(&here, &token).await;
        assert_eq!(events.next().await.data["status"], "WAITING");
        streams.push(events);
    }
    let res = here
        .put_settings(1, &resumed(), Some(crate::helpers::ADMIN))
        .await;
    assert!(res.status().is_success());
    // One a tick, ticks claimed by one instance or the other: all four hear of it.
    for events in &mut streams {
        events.until("ACTIVE", Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn a_missing_or_bad_token_is_a_401_problem_and_a_bad_query_a_400() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    let url = app.url("/api/v1/queue/events");
    assert_problem(
        app.client.get(&url).send().await.unwrap(),
        401,
        "INVALID_QUEUE_TOKEN",
    )
    .await;
    assert_problem(
        app.client
            .get(&url)
            .bearer_auth("forged")
            .send()
            .await
            .unwrap(),
        401,
        "INVALID_QUEUE_TOKEN",
    )
    .await;
    assert_problem(
        app.client
            .get(&url)
            .query(&[("token", "forged")])
            .send()
            .await
            .unwrap(),
        401,
        "INVALID_QUEUE_TOKEN",
    )
    .await;
    let (token, _) = app.join_ok("ann", 1).await;
    assert_problem(
        app.client
            .get(format!("{url}?token={token}&token={token}"))
            .send()
            .await
            .unwrap(),
        400,
        "INVALID_QUERY",
    )
    .await;
}

#[tokio::test]
async fn sold_out_is_the_last_event_of_a_stream() {
    let app = TestApp::spawn().await;
    app.open_sale(
        1,
        queue_settings(10, 100, 600),
        &Opening {
            unsold: vec![(5, 1)],
            ..Default::default()
        },
    )
    .await;
    app.join_ok("ann", 1).await;
    let (token, _) = app.join_ok("bob", 1).await;
    assert!(matches!(app.tick(1).await, Tick::Ran { admitted: 1, .. }));
    let mut events = Stream::bearer(&app, &token).await;
    assert_eq!(events.next().await.data["position"], 1);

    // The api sells the last seat; the next tick closes the queue.
    let mut conn = app.redis.get().await.unwrap();
    let _: () = redis::cmd("HINCRBY")
        .arg(app.keys.concert(1).unsold())
        .arg(5)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(app.tick(1).await, Tick::Closed);
    refresh(&app, 1).await;
    assert_eq!(events.next().await.data["status"], "SOLD_OUT");
    assert!(matches!(
        events.next_within(Duration::from_secs(2)).await,
        Err(true)
    ));
}

#[tokio::test]
async fn a_place_given_up_ends_its_stream_with_expired() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    app.join_ok("ann", 1).await;
    let (token, _) = app.join_ok("bob", 1).await;
    let mut events = Stream::bearer(&app, &token).await;
    assert_eq!(events.next().await.data["status"], "WAITING");
    assert_eq!(app.leave(&token).await.status(), 204);
    app.tick(1).await;
    refresh(&app, 1).await;
    assert_eq!(events.next().await.data["status"], "EXPIRED");
    assert!(matches!(
        events.next_within(Duration::from_secs(2)).await,
        Err(true)
    ));
}

#[tokio::test]
async fn a_reconnect_with_the_last_event_id_gets_only_what_changed() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    app.join_ok("ann", 1).await;
    let (token, _) = app.join_ok("bob", 1).await;
    let mut events = Stream::bearer(&app, &token).await;
    let seen = events.next().await;
    drop(events);

    // Nothing changed: the reconnected stream waits for the next change.
    let reconnect = |id: &str| {
        app.client
            .get(app.url("/api/v1/queue/events"))
            .bearer_auth(&token)
            .header("Last-Event-ID", id)
    };
    let mut again = Stream::open(reconnect(&seen.id)).await;
    assert!(matches!(
        again.next_within(Duration::from_millis(300)).await,
        Err(false)
    ));
    app.tick(1).await;
    refresh(&app, 1).await;
    assert_eq!(again.next().await.data["position"], 1);

    // Something changed since the id: the current status at once.
    let mut later = Stream::open(reconnect(&seen.id)).await;
    let now = later.next_within(Duration::from_millis(300)).await.unwrap();
    assert_eq!(now.data["position"], 1);
}

#[tokio::test]
async fn a_stopping_gateway_ends_its_streams_so_its_drain_does_not_wait_on_them() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    let (token, _) = app.join_ok("ann", 1).await;
    let mut events = Stream::bearer(&app, &token).await;
    assert_eq!(events.next().await.data["status"], "WAITING");
    drop(app); // cancels its stop token
    assert!(matches!(
        events.next_within(Duration::from_secs(2)).await,
        Err(true)
    ));
}
