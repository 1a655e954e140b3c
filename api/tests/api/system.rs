//! Health, readiness against stopped dependencies, error shapes, body limits, tokens.

use serde_json::{json, Value};
use shared::ids::{ConcertId, TicketId, UserId};
use shared::token::SigningKey;
use sqlx::PgPool;

use crate::helpers::{assert_problem, TestApp};

#[sqlx::test(migrations = "./migrations")]
async fn ready_is_200_with_both_dependencies_up(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"], "up");
    assert_eq!(body["checks"]["redis"], "up");
    assert_eq!(app.get("/health/live", None).await.status(), 200);
    assert!(app
        .get("/metrics", None)
        .await
        .text()
        .await
        .unwrap()
        .contains("http_requests_total"));
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert!(doc["paths"]["/api/v1/payments"].is_object());
}

#[sqlx::test(migrations = "./migrations")]
async fn with_redis_unreachable_ready_is_503_and_booking_is_a_503_problem(db: PgPool) {
    let app = TestApp::spawn_with(db, |s| {
        s.redis.url = "redis://127.0.0.1:1".into();
        s.redis.cluster_urls.clear();
    })
    .await;
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap()["checks"]["redis"],
        "down"
    );
    let token = app.token(
        "u",
        1,
        TicketId::new(1),
        chrono::Utc::now().timestamp() + 60,
    );
    assert_problem(app.schedules(&token, 1).await, 503, "SERVICE_UNAVAILABLE").await;
}

#[sqlx::test(migrations = "./migrations")]
async fn with_postgres_gone_ready_is_503_and_balance_is_a_503_problem(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let token = app.token(
        "u",
        1,
        TicketId::new(1),
        chrono::Utc::now().timestamp() + 60,
    );
    db.close().await;
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.json::<Value>().await.unwrap()["checks"]["postgres"],
        "down"
    );
    assert_problem(
        app.get("/api/v1/balance", Some(&token)).await,
        503,
        "SERVICE_UNAVAILABLE",
    )
    .await;
}

#[sqlx::test(migrations = "./migrations")]
async fn malformed_oversized_and_unknown_requests_are_problems(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let token = app.admit("u", 1).await;
    let post = |body: String, ct: &'static str| {
        app.client
            .post(app.url("/api/v1/balance/charge"))
            .bearer_auth(&token)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_problem(
        post("{".into(), "application/json").await.unwrap(),
        400,
        "MALFORMED_JSON",
    )
    .await;
    assert_problem(
        post(r#"{"amount":1,"x":2}"#.into(), "application/json")
            .await
            .unwrap(),
        400,
        "INVALID_BODY",
    )
    .await;
    assert_problem(
        post(r#"{"amount":1}"#.into(), "text/plain").await.unwrap(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    assert_problem(
        post(
            format!(r#"{{"amount":1,"pad":"{}"}}"#, "x".repeat(50_000)),
            "application/json",
        )
        .await
        .unwrap(),
        413,
        "BODY_TOO_LARGE",
    )
    .await;
    assert_problem(app.get("/api/v1/nothing", None).await, 404, "NOT_FOUND").await;
    assert_problem(
        app.get("/api/v1/reservations/not-a-uuid", Some(&token))
            .await,
        400,
        "INVALID_PATH",
    )
    .await;
    assert_problem(
        app.get("/api/v1/concerts/abc/schedules", Some(&token))
            .await,
        400,
        "INVALID_PATH",
    )
    .await;
    let res = app
        .client
        .put(app.url("/api/v1/balance"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 405, "METHOD_NOT_ALLOWED").await;
}

#[sqlx::test(migrations = "./migrations")]
async fn forged_expired_and_malformed_tokens_are_401(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let now = chrono::Utc::now().timestamp();
    let other = SigningKey::generate();
    let forged = other
        .sign(&shared::token::AccessClaims::new(
            &UserId::parse("u").unwrap(),
            ConcertId::new(1).unwrap(),
            TicketId::new(1),
            now,
            now + 60,
        ))
        .unwrap();
    let expired = app.token("u", 1, TicketId::new(1), now - 120);
    for bad in [forged.as_str(), expired.as_str(), "garbage", ""] {
        let res = app
            .client
            .get(app.url("/api/v1/balance"))
            .header("authorization", format!("Bearer {bad}"))
            .send()
            .await
            .unwrap();
        assert_problem(res, 401, "INVALID_ACCESS_TOKEN").await;
    }
    assert_problem(
        app.get("/api/v1/balance", None).await,
        401,
        "INVALID_ACCESS_TOKEN",
    )
    .await;
    let res = app
        .client
        .get(app.url("/api/v1/balance"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "INVALID_ACCESS_TOKEN").await;
}

#[sqlx::test(migrations = "./migrations")]
async fn the_running_api_rejects_every_hostile_token(db: PgPool) {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let app = TestApp::spawn(db).await;
    let now = chrono::Utc::now().timestamp();
    let kid = app.signing_key.public_key().kid.clone();
    let claims = |f: &dyn Fn(&mut Value)| {
        let mut c = serde_json::to_value(shared::token::AccessClaims::new(
            &UserId::parse("eve").unwrap(),
            ConcertId::new(1).unwrap(),
            TicketId::new(1),
            now,
            now + 60,
        ))
        .unwrap();
        f(&mut c);
        c
    };
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let sign = |c: &Value| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        h.kid = Some(kid.clone());
        let pem = app.signing_key.private_pem();
        jsonwebtoken::encode(
            &h,
            c,
            &jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let mut hostile = vec![
        // alg none, no signature
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
            b64(&claims(&|_| {}))
        ),
        // algorithm swap: HS256 keyed with the public key
        {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            h.kid = Some(kid.clone());
            let x = app.signing_key.public_key().x.clone();
            jsonwebtoken::encode(
                &h,
                &claims(&|_| {}),
                &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
            )
            .unwrap()
        },
        sign(&claims(&|c| c["aud"] = json!("another-api"))),
        sign(&claims(&|c| c["iss"] = json!("someone"))),
        sign(&claims(&|c| c["typ"] = json!("queue"))),
        sign(&claims(&|c| c["sub"] = json!("bad user id"))),
        sign(&claims(&|c| c["exp"] = json!(now - 30))),
        sign(&claims(&|c| c["nbf"] = json!(now + 300))),
    ];
    for missing in ["cid", "jti", "typ", "exp", "sub", "iat"] {
        hostile.push(sign(&claims(&|c| {
            c.as_object_mut().unwrap().remove(missing);
        })));
    }
    // Sanity: the same signer with untouched claims passes.
    assert_eq!(
        app.get("/api/v1/balance", Some(&sign(&claims(&|_| {}))))
            .await
            .status(),
        200
    );
    for token in hostile {
        assert_problem(
            app.get("/api/v1/balance", Some(&token)).await,
            401,
            "INVALID_ACCESS_TOKEN",
        )
        .await;
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn every_api_statement_ends_at_the_request_timeout(db: PgPool) {
    // The api's own pool (not the test's): the same database, through `connect_and_migrate`.
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let database = db.connect_options().get_database().unwrap().to_owned();
    let url = format!("{}/{database}", base.rsplit_once('/').unwrap().0);
    let mut settings = crate::helpers::test_settings(&SigningKey::generate());
    settings.database_url = shared::config::Secret::new(url);
    settings.http.request_timeout_ms = 1_500;
    let pool = api::startup::connect_and_migrate(&settings).await.unwrap();
    let timeout: String = sqlx::query_scalar("SELECT current_setting('statement_timeout')")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(timeout, "1500ms");
    let slow = sqlx::query("SELECT pg_sleep(3)").execute(&pool).await;
    assert!(
        matches!(&slow, Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("57014")),
        "{slow:?}"
    );
    pool.close().await;
}

/// The binary's shape: three servers on one port, each with its own Redis connection and
/// Postgres pool. Charges land on whichever server the kernel hands the connection to, and
/// every server reads the same balance; one stop ends them all.
#[sqlx::test(migrations = "./migrations")]
async fn an_api_of_three_threads_serves_one_port_and_stops_as_one(db: PgPool) {
    let signing_key = SigningKey::generate();
    let mut settings = crate::helpers::test_settings(&signing_key);
    settings.threads = 3;
    settings.database_pool_size = 3;
    let dev = shared::token::dev_identity_key_pair(&settings.keys_dir).unwrap();
    // Binding builds the verifiers on a runtime of its own: not from within this one.
    let api = tokio::task::spawn_blocking(move || api::startup::Api::bind_with_pool(settings, db))
        .await
        .unwrap()
        .expect("the api binds");
    assert_eq!(api.threads(), 3);
    let base = format!("http://{}", api.local_addr());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = std::thread::spawn({
        let stop = stop.clone();
        move || api.run_until(stop)
    });
    let user = UserId::parse("ann").unwrap();
    let (identity, _) = shared::identity::dev_login_token(&dev, &user, 600).unwrap();
    for i in 1..=12 {
        // A new client (so a new connection) per request: the kernel spreads them over the
        // three listeners.
        let charged: Value = reqwest::Client::new()
            .post(format!("{base}/api/v1/balance/charge"))
            .bearer_auth(&identity)
            .json(&json!({"amount": 100}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(charged["balance"], 100 * i, "{charged}");
        let read: Value = reqwest::Client::new()
            .get(format!("{base}/api/v1/balance"))
            .bearer_auth(&identity)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(read["balance"], 100 * i, "{read}");
    }
    stop.cancel();
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap()
        .expect("a clean stop");
    assert!(reqwest::get(format!("{base}/health/live")).await.is_err());
}
