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

/// A raw HTTP/1.1 connection of its own, to control what the gateway reads and when: its own
/// loop reads only a connection's first request (a pooled client's connection has had one).
struct Raw {
    tcp: tokio::net::TcpStream,
    got: Vec<u8>,
}

impl Raw {
    async fn connect(app: &TestApp) -> Self {
        let tcp = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
            .await
            .unwrap();
        tcp.set_nodelay(true).unwrap();
        Self {
            tcp,
            got: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// Reads until `needle` (within 5 s); what came up to its end, taken off what was read.
    async fn until(&mut self, needle: &str) -> String {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(at) = find(&self.got, needle.as_bytes()) {
                let taken: Vec<u8> = self.got.drain(..at + needle.len()).collect();
                return String::from_utf8(taken).unwrap();
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.tcp.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {needle:?} within 5 s; got {:?}", self.text()))
                .unwrap_or(0);
            assert!(n > 0, "closed before {needle:?}; got {:?}", self.text());
            self.got.extend_from_slice(&buf[..n]);
        }
    }

    /// The next response with a length (its head, its body).
    async fn response(&mut self) -> (String, String) {
        let head = self.until("\r\n\r\n").await;
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        while self.got.len() < len {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 4096];
            let n = self.tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed in a body");
            self.got.extend_from_slice(&buf[..n]);
        }
        let body: Vec<u8> = self.got.drain(..len).collect();
        (head, String::from_utf8(body).unwrap())
    }

    /// Whether the gateway closes the connection within `within` (what it sent meanwhile is
    /// kept).
    async fn closes_within(&mut self, within: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let mut buf = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.tcp.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.got.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.got).into_owned()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=haystack.len().saturating_sub(needle.len()))
        .find(|&i| haystack[i..].starts_with(needle))
        .filter(|_| haystack.len() >= needle.len())
}

fn stream_request(token: &str) -> String {
    format!(
        "GET /api/v1/queue/events?token={token} HTTP/1.1\r\nHost: gateway\r\n\
         Accept: text/event-stream\r\n\r\n"
    )
}

/// A response head without its `date` line (the one line two answers may differ by).
fn without_date(head: &str) -> String {
    head.lines()
        .filter(|l| !l.starts_with("date: "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until the gateway's own loop serves `n` streams (it counts a stream until its task
/// ends, a moment after its connection does).
async fn direct_streams_become(app: &TestApp, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while app.state.live.direct_streams() != n {
        assert!(
            Instant::now() < deadline,
            "{} direct streams, not {n}",
            app.state.live.direct_streams()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_stream_on_a_fresh_connection_is_served_by_the_own_loop_byte_for_byte_as_by_axum() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    app.join_ok("ann", 1).await;
    let (token, _) = app.join_ok("bob", 1).await;

    let mut own = Raw::connect(&app).await;
    own.send(stream_request(&token).as_bytes()).await;
    let own_head = own.until("\r\n\r\n").await;
    let own_first = own.until("\n\n\r\n").await;
    assert_eq!(app.state.live.direct_streams(), 1, "served by the own loop");

    // The same request on a connection that served a request before: axum's (hyper's).
    let mut axum = Raw::connect(&app).await;
    axum.send(b"GET /health/live HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await;
    assert!(axum.response().await.0.starts_with("HTTP/1.1 200 OK\r\n"));
    axum.send(stream_request(&token).as_bytes()).await;
    let axum_head = axum.until("\r\n\r\n").await;
    let axum_first = axum.until("\n\n\r\n").await;
    assert_eq!(app.state.live.direct_streams(), 1, "served through hyper");

    assert_eq!(without_date(&own_head), without_date(&axum_head));
    assert!(
        own_head.contains("content-type: text/event-stream\r\n"),
        "{own_head}"
    );
    assert!(
        own_head.contains("cache-control: no-cache\r\n"),
        "{own_head}"
    );
    assert!(own_head.contains("x-accel-buffering: no\r\n"), "{own_head}");
    assert!(
        own_head.contains("transfer-encoding: chunked\r\n"),
        "{own_head}"
    );
    assert!(own_head.contains("\r\ndate: "), "{own_head}");
    assert_eq!(own_first, axum_first, "the first event, chunk and all");
    assert!(own_first.contains("retry: 2000\n"), "{own_first}");
    assert!(own_first.contains("\"position\":2"), "{own_first}");

    // Events follow the ticks on both.
    assert!(matches!(app.tick(1).await, Tick::Ran { admitted: 1, .. }));
    refresh(&app, 1).await;
    assert!(own.until("\n\n\r\n").await.contains("\"position\":1"));
    assert!(axum.until("\n\n\r\n").await.contains("\"position\":1"));
    assert!(matches!(app.tick(1).await, Tick::Ran { admitted: 1, .. }));
    refresh(&app, 1).await;
    let active = own.until("\n\n\r\n").await;
    assert!(active.contains("\"status\":\"ACTIVE\""), "{active}");
    assert!(active.contains("\"accessToken\":\""), "{active}");

    // A client that goes away ends its stream.
    drop(own);
    direct_streams_become(&app, 0).await;
}

#[tokio::test]
async fn a_stream_head_split_across_several_writes_is_read_whole_by_the_own_loop() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    let (token, _) = app.join_ok("ann", 1).await;
    let request = stream_request(&token);
    let mut raw = Raw::connect(&app).await;
    for piece in [
        &request[..3],
        &request[3..30],
        &request[30..request.len() - 1],
    ] {
        raw.send(piece.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.state.live.direct_streams(),
        0,
        "the head is not whole yet"
    );
    raw.send(b"\n").await;
    assert!(raw
        .until("\r\n\r\n")
        .await
        .starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(raw
        .until("\n\n\r\n")
        .await
        .contains("\"status\":\"WAITING\""));
    assert_eq!(app.state.live.direct_streams(), 1);
}

#[tokio::test]
async fn other_requests_and_refused_streams_on_fresh_connections_are_answered_by_axum() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    let (token, _) = app.join_ok("ann", 1).await;

    // Another request, then another on the same connection.
    let mut raw = Raw::connect(&app).await;
    raw.send(b"GET /health/live HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await;
    let (head, body) = raw.response().await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, r#"{"status":"ok"}"#);
    let status =
        format!("GET /api/v1/queue/status HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n");
    raw.send(status.as_bytes()).await;
    let (head, body) = raw.response().await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(body.contains("\"status\":\"WAITING\""), "{body}");

    // The answer through a pooled connection, for comparison.
    let forged = app
        .client
        .get(app.url("/api/v1/queue/events?token=forged"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Stream requests the own loop does not take: each answered as before.
    let path = "/api/v1/queue/events";
    let refused = [
        (
            "GET",
            format!("{path}?token=forged"),
            "",
            401,
            "INVALID_QUEUE_TOKEN",
        ),
        ("GET", path.to_owned(), "", 401, "INVALID_QUEUE_TOKEN"),
        // The bearer wins over the query, as in the route.
        (
            "GET",
            format!("{path}?token={token}"),
            "Authorization: Bearer forged\r\n",
            401,
            "INVALID_QUEUE_TOKEN",
        ),
        (
            "GET",
            format!("{path}?token={token}&token={token}"),
            "",
            400,
            "INVALID_QUERY",
        ),
        (
            "POST",
            format!("{path}?token={token}"),
            "Content-Length: 0\r\n",
            405,
            "METHOD_NOT_ALLOWED",
        ),
    ];
    for (method, target, headers, status, code) in refused {
        let mut raw = Raw::connect(&app).await;
        let request = format!("{method} {target} HTTP/1.1\r\nHost: g\r\n{headers}\r\n");
        raw.send(request.as_bytes()).await;
        let (head, body) = raw.response().await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?}: {head}"
        );
        assert!(
            head.contains("content-type: application/problem+json\r\n"),
            "{head}"
        );
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["code"], code, "{request:?}");
        if code == "INVALID_QUEUE_TOKEN" {
            assert_eq!(body, forged);
        }
    }
    assert_eq!(app.state.live.direct_streams(), 0);
}

#[tokio::test]
async fn malformed_or_oversized_heads_are_refused_with_a_4xx_and_the_gateway_serves_on() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    let (token, _) = app.join_ok("ann", 1).await;

    let malformed: [&[u8]; 4] = [
        b"GARBAGE\r\n\r\n",
        b"GET /api/v1/queue/events HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET /api/v1/queue/events?token=a b HTTP/1.1\r\n\r\n",
        b"GET /api/v1/queue/events HTTP/9.9\r\n\r\n",
    ];
    for request in malformed {
        let mut raw = Raw::connect(&app).await;
        raw.send(request).await;
        let head = raw.until("\r\n").await;
        assert!(head.starts_with("HTTP/1.1 4"), "{request:?}: {head}");
    }

    // A head far past any limit: hyper refuses it once its buffer is full.
    let mut raw = Raw::connect(&app).await;
    let huge = format!(
        "GET /api/v1/queue/events?token={token} HTTP/1.1\r\nX-Pad: {}\r\n",
        "a".repeat(1 << 20)
    );
    {
        use tokio::io::AsyncWriteExt;
        let _ = raw.tcp.write_all(huge.as_bytes()).await; // hyper may close before the end
    }
    assert!(raw.closes_within(Duration::from_secs(5)).await);
    assert!(raw.text().starts_with("HTTP/1.1 431 "), "{}", raw.text());

    // Too many headers for the own loop, or a head too long for its buffer, within hyper's
    // limits: still a stream, through hyper.
    let many: String = (0..40).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    let long = format!("Cookie: {}\r\n", "c".repeat(12 * 1024));
    for extra in [many, long] {
        let mut raw = Raw::connect(&app).await;
        let request = stream_request(&token).replace("\r\n\r\n", &format!("\r\n{extra}\r\n"));
        raw.send(request.as_bytes()).await;
        assert!(raw
            .until("\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(raw
            .until("\n\n\r\n")
            .await
            .contains("\"status\":\"WAITING\""));
    }
    // Past hyper's count of headers.
    let mut raw = Raw::connect(&app).await;
    let too_many: String = (0..120).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    raw.send(
        stream_request(&token)
            .replace("\r\n\r\n", &format!("\r\n{too_many}\r\n"))
            .as_bytes(),
    )
    .await;
    assert!(raw.until("\r\n").await.starts_with("HTTP/1.1 431 "));
    assert_eq!(app.state.live.direct_streams(), 0);

    let res = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_stream_the_own_loop_ended_leaves_its_connection_to_axum_for_the_next_request() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    app.join_ok("ann", 1).await;
    let (token, _) = app.join_ok("bob", 1).await;
    let mut raw = Raw::connect(&app).await;
    raw.send(stream_request(&token).as_bytes()).await;
    raw.until("\r\n\r\n").await;
    assert!(raw
        .until("\n\n\r\n")
        .await
        .contains("\"status\":\"WAITING\""));
    assert_eq!(app.state.live.direct_streams(), 1);

    assert_eq!(app.leave(&token).await.status(), 204);
    app.tick(1).await;
    refresh(&app, 1).await;
    assert!(raw
        .until("\n\n\r\n")
        .await
        .contains("\"status\":\"EXPIRED\""));
    assert_eq!(raw.until("\r\n\r\n").await, "0\r\n\r\n", "the last chunk");
    direct_streams_become(&app, 0).await;

    raw.send(b"GET /health/live HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await;
    let (head, body) = raw.response().await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn a_stopping_gateway_ends_the_streams_of_its_own_loop() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 100, 600)).await;
    let (token, _) = app.join_ok("ann", 1).await;
    let mut raw = Raw::connect(&app).await;
    raw.send(stream_request(&token).as_bytes()).await;
    raw.until("\n\n\r\n").await;
    let live = app.state.live.clone();
    assert_eq!(live.direct_streams(), 1);
    drop(app); // cancels its stop token
    assert!(raw.closes_within(Duration::from_secs(2)).await);
    assert!(raw.text().ends_with("0\r\n\r\n"), "{:?}", raw.text());
    assert_eq!(live.direct_streams(), 0);
}
