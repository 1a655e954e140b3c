//! Identity tokens on the account endpoints: the user's own data with either token, nobody
//! else's with any, and the booking endpoints still only with an access token.

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{assert_problem, user_id, TestApp};

#[sqlx::test(migrations = "./migrations")]
async fn a_user_charges_reads_and_cancels_with_the_identity_token(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 1_000).await;
    let id = app.identity_token("alice");
    // Before the sale: no session, the wallet is charged with the identity token.
    app.charge_ok(&id, 5_000).await;
    assert_eq!(app.balance(&id).await, 5_000);
    let access = app.admit("alice", c.id).await;
    assert_eq!(app.balance(&access).await, 5_000, "the same wallet");
    let rid = app.hold_ok(&access, c.schedule(), &[c.seats()[0]]).await;
    // After the session ended, the hold is still hers to read and cancel.
    app.end_session("alice", c.id).await;
    let res = app.reservation(&id, &rid).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "HELD");
    let res = app.release(&id, &rid).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "CANCELED");
    let body: Value = app.reservation(&id, &rid).await.json().await.unwrap();
    assert_eq!(body["status"], "CANCELED");
}

#[sqlx::test(migrations = "./migrations")]
async fn another_users_reservation_is_not_found_whatever_the_token(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 1_000).await;
    let alice = app.admit("alice", c.id).await;
    let rid = app.hold_ok(&alice, c.schedule(), &[c.seats()[0]]).await;
    let mallory_id = app.identity_token("mallory");
    let mallory_access = app.admit("mallory", c.id).await;
    for token in [&mallory_id, &mallory_access] {
        let body = assert_problem(
            app.reservation(token, &rid).await,
            404,
            "RESERVATION_NOT_FOUND",
        )
        .await;
        let text = body.to_string();
        assert!(!text.contains("alice") && !text.contains(&rid), "{text}");
        let body =
            assert_problem(app.release(token, &rid).await, 404, "RESERVATION_NOT_FOUND").await;
        let text = body.to_string();
        assert!(!text.contains("alice") && !text.contains(&rid), "{text}");
    }
    // Paid, it stays private too.
    app.charge_ok(&alice, 1_000).await;
    assert_eq!(app.pay(&alice, &rid, Some("a1")).await.status(), 201);
    assert_problem(
        app.reservation(&mallory_id, &rid).await,
        404,
        "RESERVATION_NOT_FOUND",
    )
    .await;
    let body: Value = app
        .reservation(&app.identity_token("alice"), &rid)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "CONFIRMED");
    assert_eq!(app.balance(&mallory_id).await, 0);
}

#[sqlx::test(migrations = "./migrations")]
async fn booking_endpoints_refuse_an_identity_token(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let c = app.create_concert(&[3], 1_000).await;
    let access = app.admit("alice", c.id).await;
    let rid = app.hold_ok(&access, c.schedule(), &[c.seats()[0]]).await;
    let id = app.identity_token("alice");
    app.charge_ok(&id, 5_000).await;
    assert_problem(app.schedules(&id, c.id).await, 401, "INVALID_ACCESS_TOKEN").await;
    assert_problem(
        app.seats(&id, c.id, c.schedule()).await,
        401,
        "INVALID_ACCESS_TOKEN",
    )
    .await;
    assert_problem(
        app.hold(&id, c.schedule(), &[c.seats()[1]]).await,
        401,
        "INVALID_ACCESS_TOKEN",
    )
    .await;
    assert_problem(
        app.pay(&id, &rid, Some("k1")).await,
        401,
        "INVALID_ACCESS_TOKEN",
    )
    .await;
    assert_eq!(app.balance(&id).await, 5_000, "nothing paid");
}

#[sqlx::test(migrations = "./migrations")]
async fn identity_tokens_of_no_trusted_key_or_expired_are_refused(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let stranger = shared::token::SigningKey::generate();
    let (forged, _) =
        shared::identity::dev_login_token(&stranger, &user_id("alice"), 3600).unwrap();
    let key = app.identity_key.as_ref().unwrap();
    let (expired, _) = shared::identity::dev_login_token(key, &user_id("alice"), -60).unwrap();
    for token in [forged.as_str(), expired.as_str(), "not-a-jwt"] {
        let res = app.get("/api/v1/balance", Some(token)).await;
        assert_problem(res, 401, "INVALID_ACCESS_TOKEN").await;
        let res = app.charge(token, json!(1_000), None).await;
        assert_problem(res, 401, "INVALID_ACCESS_TOKEN").await;
    }
}

/// A token of the test provider (`shared/tests/keys`), RS256 with the key `rsa-1`.
fn provider_token(sub: &str, issuer: &str, audience: &str) -> String {
    provider_token_with(Key::Rsa, sub, issuer, audience)
}

/// The test provider's keys (`shared/tests/keys`).
#[derive(Clone, Copy)]
enum Key {
    /// `rsa-1`, RS256.
    Rsa,
    /// `ec-1`, ES256.
    Ec,
}

fn provider_token_with(key: Key, sub: &str, issuer: &str, audience: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let (key, alg, kid) = match key {
        Key::Rsa => (
            jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
                "../../../shared/tests/keys/rsa.pem"
            ))
            .unwrap(),
            jsonwebtoken::Algorithm::RS256,
            "rsa-1",
        ),
        Key::Ec => (
            jsonwebtoken::EncodingKey::from_ec_pem(include_bytes!(
                "../../../shared/tests/keys/ec.pem"
            ))
            .unwrap(),
            jsonwebtoken::Algorithm::ES256,
            "ec-1",
        ),
    };
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        &json!({"iss": issuer, "aud": audience, "sub": sub, "iat": now, "exp": now + 600}),
        &key,
    )
    .unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn a_provider_from_a_jwks_file_signs_in_without_the_development_login(db: PgPool) {
    let dir = std::env::temp_dir().join(format!("api-test-jwks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, include_str!("../../../shared/tests/keys/jwks.json")).unwrap();
    let app = TestApp::spawn_with(db, |s| {
        s.identity = shared::config::IdentitySettings {
            jwks_file: Some(jwks.clone()),
            issuer: Some("https://login.example/realms/fans".into()),
            audience: Some("ticketing".into()),
            ..Default::default()
        };
    })
    .await;
    let token = provider_token("alice", "https://login.example/realms/fans", "ticketing");
    app.charge_ok(&token, 2_000).await;
    assert_eq!(app.balance(&token).await, 2_000);
    // The same claims unsigned (`alg: none`), or HS256 keyed with the RSA key's public
    // modulus (a verifier that let the token pick its algorithm would accept it).
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": "https://login.example/realms/fans", "aud": "ticketing",
                        "sub": "alice", "iat": now, "exp": now + 600});
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"})),
        b64(claims.clone())
    );
    let jwks: Value =
        serde_json::from_str(include_str!("../../../shared/tests/keys/jwks.json")).unwrap();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let hs256 = jsonwebtoken::encode(
        &hs,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(jwks["keys"][0]["n"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    // Another issuer or audience, or the development login's tokens: refused.
    for bad in [
        unsigned,
        hs256,
        provider_token("alice", "https://evil.example", "ticketing"),
        provider_token("alice", "https://login.example/realms/fans", "other"),
        shared::identity::dev_login_token(
            &shared::token::SigningKey::generate(),
            &user_id("alice"),
            600,
        )
        .unwrap()
        .0,
    ] {
        let res = app.get("/api/v1/balance", Some(&bad)).await;
        assert_problem(res, 401, "INVALID_ACCESS_TOKEN").await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[sqlx::test(migrations = "./migrations")]
async fn the_api_refuses_to_start_without_an_identity_source(db: PgPool) {
    let mut settings = crate::helpers::test_settings(&shared::token::SigningKey::generate());
    settings.identity = shared::config::IdentitySettings::default();
    let err = api::startup::Application::build_with_pool(settings, db)
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("DEV_LOGIN"), "{err:#}");
}

#[sqlx::test(migrations = "./migrations")]
async fn the_development_admin_token_is_refused_off_loopback(db: PgPool) {
    let mut settings = crate::helpers::test_settings(&shared::token::SigningKey::generate());
    settings.admin_token = shared::config::Secret::new(api::config::DEV_ADMIN_TOKEN);
    settings.addr = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let err = api::startup::Application::build_with_pool(settings.clone(), db.clone())
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("ADMIN_TOKEN"), "{err:#}");
    // On loopback it starts (with a warning).
    settings.addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    assert!(api::startup::Application::build_with_pool(settings, db)
        .await
        .is_ok());
}

/// The test provider's JWKS with only the keys named in `kids`.
fn jwks_with(kids: &[&str]) -> String {
    let mut jwks: Value =
        serde_json::from_str(include_str!("../../../shared/tests/keys/jwks.json")).unwrap();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| kids.contains(&k["kid"].as_str().unwrap_or_default()));
    jwks.to_string()
}

#[sqlx::test(migrations = "./migrations")]
async fn a_key_added_to_the_providers_jwks_is_trusted_without_a_restart(db: PgPool) {
    // The provider's JWKS, served over HTTP by the test; it starts with the RSA key only.
    let served = std::sync::Arc::new(std::sync::Mutex::new(jwks_with(&["rsa-1"])));
    let jwks = served.clone();
    let provider = axum::Router::new().route(
        "/certs",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { jwks.lock().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/certs", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, provider).await });
    let (iss, aud) = ("https://login.example/realms/fans", "ticketing");
    let app = TestApp::spawn_with(db, |s| {
        s.identity = shared::config::IdentitySettings {
            jwks_url: Some(url),
            issuer: Some(iss.into()),
            audience: Some(aud.into()),
            ..Default::default()
        };
    })
    .await;
    let rsa = provider_token_with(Key::Rsa, "alice", iss, aud);
    assert_eq!(app.balance(&rsa).await, 0);
    let ec = provider_token_with(Key::Ec, "bob", iss, aud);
    let res = app.get("/api/v1/balance", Some(&ec)).await;
    assert_problem(res, 401, "INVALID_ACCESS_TOKEN").await;
    // The provider rotates in its EC key: a token naming it makes the api fetch the set
    // again (at most every few seconds), with no restart.
    *served.lock().unwrap() = jwks_with(&["rsa-1", "ec-1"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let res = app.get("/api/v1/balance", Some(&ec)).await;
        if res.status() == 200 {
            break;
        }
        assert_problem(res, 401, "INVALID_ACCESS_TOKEN").await;
        assert!(
            std::time::Instant::now() < deadline,
            "the new key was never fetched"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(app.balance(&rsa).await, 0, "the old key still works");
}
