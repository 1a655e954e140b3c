//! Health, readiness against a stopped dependency, metrics, OpenAPI, error shapes.

use serde_json::Value;

use crate::helpers::{assert_problem, queue_settings, TestApp};

#[tokio::test]
async fn live_and_ready_answer_200_with_redis_up() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["redis"], "up");
}

#[tokio::test]
async fn with_redis_unreachable_ready_is_503_and_join_is_a_503_problem() {
    let app = TestApp::spawn_with(|s| {
        s.redis.url = "redis://127.0.0.1:1".into();
        s.redis.cluster_urls.clear();
    })
    .await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["checks"]["redis"],
        "down"
    );
    assert_problem(app.join("alice", 1).await, 503, "SERVICE_UNAVAILABLE").await;
    // Polls that share one failed read of the line each answer the failure.
    let token = app.state.room.queue_tokens().seal(&gateway::queue::Place {
        concert_id: crate::helpers::concert(1),
        ticket_id: shared::ids::TicketId::new(7),
        user_id: shared::ids::UserId::parse("alice").unwrap(),
    });
    let polls = futures::future::join_all((0..20).map(|_| app.status(&token))).await;
    for poll in polls {
        assert_problem(poll, 503, "SERVICE_UNAVAILABLE").await;
    }
    assert_eq!(app.get("/health/live").await.status(), 200);
}

#[tokio::test]
async fn metrics_count_joins_and_openapi_is_served() {
    let app = TestApp::spawn().await;
    app.open_concert(5, queue_settings(1, 10, 60)).await;
    app.join_ok("m", 5).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("gateway_joins_total"), "{text}");
    assert!(text.contains("http_requests_total"));
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/api/v1/queue/tokens"].is_object());
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    assert_problem(app.get("/nope").await, 404, "NOT_FOUND").await;
    let res = app
        .client
        .patch(app.url("/api/v1/queue/tokens"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 405, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn pages_and_their_config_are_served() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/waiting-room/1",
        "/assets/room.js",
        "/assets/app.css",
        "/assets/account.js",
        "/assets/tickets.js",
        "/my-tickets",
        "/docs",
    ] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    assert_problem(app.get("/assets/nope.js").await, 404, "NOT_FOUND").await;
    let cfg: Value = app.get("/config.json").await.json().await.unwrap();
    assert!(cfg["apiBaseUrl"].is_string());
}

#[tokio::test]
async fn past_the_in_flight_limit_joins_are_shed_with_503_and_the_rest_complete() {
    let app = TestApp::spawn_with(|s| s.http.max_in_flight = 8).await;
    app.open_concert(1, queue_settings(1, 10, 60)).await;
    let users: Vec<String> = (0..400).map(|i| format!("crowd-{i}")).collect();
    let responses = futures::future::join_all(users.iter().map(|u| app.join(u, 1))).await;
    let (mut created, mut shed) = (Vec::new(), 0);
    for res in responses {
        match res.status().as_u16() {
            201 => created.push(
                res.json::<Value>().await.unwrap()["position"]
                    .as_u64()
                    .unwrap(),
            ),
            503 => {
                assert!(res.headers().contains_key("retry-after"));
                assert_eq!(res.json::<Value>().await.unwrap()["code"], "OVERLOADED");
                shed += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(shed > 0, "ten times the capacity must shed some joins");
    created.sort_unstable();
    assert_eq!(
        created,
        (1..=created.len() as u64).collect::<Vec<_>>(),
        "admitted joins complete with fair positions"
    );
}

#[tokio::test]
async fn the_server_drains_and_stops_on_the_stop_signal() {
    let settings = crate::helpers::test_settings();
    let app = gateway::startup::Application::build(settings)
        .await
        .unwrap();
    let url = format!("http://{}/health/live", app.local_addr());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(app.run_until(stop.clone()));
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    stop.cancel();
    server.await.unwrap().expect("a clean stop");
    assert!(reqwest::get(&url).await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn a_gateway_of_three_threads_serves_one_port_and_stops_as_one() {
    let mut settings = crate::helpers::test_settings();
    settings.threads = 3;
    let keys = shared::keys::Keys::new(settings.redis.prefix.clone());
    let redis = shared::redis_pool::create_pool(&settings.redis).unwrap();
    let mut conn = redis.get().await.unwrap();
    shared::queue_config::open_queue(
        &mut conn,
        &keys,
        1,
        "Three",
        &queue_settings(5, 100, 60),
        &Default::default(),
    )
    .await
    .unwrap();
    let dev = shared::token::dev_identity_key_pair(&settings.keys_dir).unwrap();
    // Binding reads the identity keys on a runtime of its own: not from within this one.
    let gateway = tokio::task::spawn_blocking(move || gateway::startup::Gateway::bind(settings))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gateway.threads(), 3);
    let base = format!("http://{}", gateway.local_addr());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = std::thread::spawn({
        let stop = stop.clone();
        move || gateway.run_until(stop)
    });
    // A new connection per request: the kernel spreads them over the three listeners, and
    // every server sees the same line.
    let mut positions = Vec::new();
    for i in 0..30 {
        let client = reqwest::Client::new();
        let user = shared::ids::UserId::parse(&format!("t{i}")).unwrap();
        let (identity, _) = shared::identity::dev_login_token(&dev, &user, 60).unwrap();
        let res = client
            .post(format!("{base}/api/v1/queue/tokens"))
            .bearer_auth(identity)
            .json(&serde_json::json!({"concertId": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        let token = body["queueToken"].as_str().unwrap().to_owned();
        let status: Value = reqwest::Client::new()
            .get(format!("{base}/api/v1/queue/status"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["position"], body["position"]);
        positions.push(body["position"].as_u64().unwrap());
    }
    assert_eq!(positions, (1..=30).collect::<Vec<u64>>());
    stop.cancel();
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap()
        .expect("a clean stop");
    assert!(reqwest::get(format!("{base}/health/live")).await.is_err());
}
