//! Identity tokens at the join: a provider's JWKS served over HTTP by the test (RS256, ES256 and
//! EdDSA keys, a rotation picked up without a restart), every refused token a 401 with its
//! code, and the development login.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{extract::State, routing::get, Json, Router};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use shared::{config::IdentitySettings, token::SigningKey};

use crate::helpers::{assert_problem, queue_settings, test_settings, TestApp};

const RSA_PRIVATE: &str = include_str!("../../../shared/tests/keys/rsa.pem");
const EC_PRIVATE: &str = include_str!("../../../shared/tests/keys/ec.pem");
const JWKS: &str = include_str!("../../../shared/tests/keys/jwks.json");
const ISS: &str = "https://login.example.test/realms/fans";
const AUD: &str = "ticketing";

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

fn claims(sub: &str) -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": sub, "iat": now(), "exp": now() + 300})
}

fn rs256(kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn es256(kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// A login provider's key set, served at `/certs` on a port of its own; `publish` changes it.
struct Provider {
    url: String,
    keys: Arc<Mutex<Value>>,
}

impl Provider {
    async fn start(keys: Value) -> Self {
        let keys = Arc::new(Mutex::new(keys));
        let app = Router::new()
            .route(
                "/certs",
                get(|State(keys): State<Arc<Mutex<Value>>>| async move {
                    Json(keys.lock().unwrap().clone())
                }),
            )
            .with_state(keys.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/certs", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, keys }
    }

    fn publish(&self, jwk: Value) {
        self.keys.lock().unwrap()["keys"]
            .as_array_mut()
            .unwrap()
            .push(jwk);
    }

    fn settings(&self) -> IdentitySettings {
        IdentitySettings {
            jwks_url: Some(self.url.clone()),
            issuer: Some(ISS.into()),
            audience: Some(AUD.into()),
            ..IdentitySettings::default()
        }
    }
}

/// The provider's RSA key (kid `rsa-1`) and an Ed25519 key of its own.
async fn provider_with_rsa_and_ed25519() -> (Provider, SigningKey) {
    let mut jwks: Value = serde_json::from_str(JWKS).unwrap();
    let ed = SigningKey::generate();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .push(ed.public_key().to_jwk());
    (Provider::start(jwks).await, ed)
}

async fn gateway_of(provider: &Provider) -> TestApp {
    let identity = provider.settings();
    let app = TestApp::spawn_with(|s| s.identity = identity).await;
    app.open_concert(1, queue_settings(1, 10, 60)).await;
    app
}

#[tokio::test]
async fn tokens_of_a_provider_served_over_http_join_as_their_sub() {
    let (provider, ed) = provider_with_rsa_and_ed25519().await;
    let app = gateway_of(&provider).await;

    let rs = rs256("rsa-1", &claims("alice"));
    let first = app.join_with(Some(&rs), 1).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    // The same user with another token of theirs gets the same place.
    let again = app
        .join_with(Some(&rs256("rsa-1", &claims("alice"))), 1)
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.json::<Value>().await.unwrap()["queueToken"],
        first["queueToken"]
    );

    let eddsa = ed.sign_claims(&claims("bob")).unwrap();
    let bob = app.join_with(Some(&eddsa), 1).await;
    assert_eq!(bob.status(), 201);
    assert_eq!(bob.json::<Value>().await.unwrap()["position"], 2);

    let cleo = app
        .join_with(Some(&es256("ec-1", &claims("cleo"))), 1)
        .await;
    assert_eq!(cleo.status(), 201);
}

#[tokio::test]
async fn a_key_published_later_under_a_new_kid_is_accepted_without_a_restart() {
    let (provider, _) = provider_with_rsa_and_ed25519().await;
    let app = gateway_of(&provider).await;
    let next = SigningKey::generate();
    let token = next.sign_claims(&claims("carol")).unwrap();
    assert_problem(
        app.join_with(Some(&token), 1).await,
        401,
        "INVALID_IDENTITY_TOKEN",
    )
    .await;

    provider.publish(next.public_key().to_jwk());
    // An unknown kid fetches the key set again, at most every few seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = app.join_with(Some(&token), 1).await;
        if res.status() == 201 {
            break;
        }
        assert_problem(res, 401, "INVALID_IDENTITY_TOKEN").await;
        assert!(Instant::now() < deadline, "the new key was never picked up");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn every_refused_identity_token_is_a_401_with_its_code() {
    let (provider, ed) = provider_with_rsa_and_ed25519().await;
    let app = gateway_of(&provider).await;
    let invalid = |token: Option<String>| {
        let app = &app;
        async move {
            let res = app.join_with(token.as_deref(), 1).await;
            assert_problem(res, 401, "INVALID_IDENTITY_TOKEN").await
        }
    };

    invalid(None).await;
    invalid(Some("garbage".into())).await;
    invalid(Some("a.b.c".into())).await;
    let body = URL_SAFE_NO_PAD.encode(claims("mallory").to_string());
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"rsa-1"}"#);
    invalid(Some(format!("{none}.{body}."))).await;
    // HS256 keyed with the RSA key's public modulus.
    let jwks: Value = serde_json::from_str(JWKS).unwrap();
    let n = jwks["keys"][0]["n"].as_str().unwrap();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let secret = EncodingKey::from_secret(n.as_bytes());
    invalid(Some(
        jsonwebtoken::encode(&hs, &claims("mallory"), &secret).unwrap(),
    ))
    .await;
    for (field, value) in [("aud", "someone-else"), ("iss", "https://evil.test")] {
        let mut c = claims("mallory");
        c[field] = value.into();
        invalid(Some(rs256("rsa-1", &c))).await;
    }
    // A key of another type than the one the kid names.
    invalid(Some(es256("rsa-1", &claims("mallory")))).await;
    let mut not_yet = claims("mallory");
    not_yet["nbf"] = (now() + 120).into();
    invalid(Some(rs256("rsa-1", &not_yet))).await;
    let mut missing_sub = claims("mallory");
    missing_sub.as_object_mut().unwrap().remove("sub");
    invalid(Some(ed.sign_claims(&missing_sub).unwrap())).await;
    invalid(Some(rs256("no-such-key", &claims("mallory")))).await;
    // A development-login token is not trusted when the development login is off.
    let dev = SigningKey::generate();
    let user = shared::ids::UserId::parse("mallory").unwrap();
    invalid(Some(
        shared::identity::dev_login_token(&dev, &user, 60)
            .unwrap()
            .0,
    ))
    .await;

    let mut expired = claims("alice");
    expired["exp"] = (now() - 60).into();
    let res = app.join_with(Some(&rs256("rsa-1", &expired)), 1).await;
    let body = assert_problem(res, 401, "IDENTITY_TOKEN_EXPIRED").await;
    assert!(!body.to_string().contains("alice"), "{body}");

    // Neither of the gateway's own tokens is an identity.
    let (queue_token, _) = {
        let res = app
            .join_with(Some(&rs256("rsa-1", &claims("dora"))), 1)
            .await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        (body["queueToken"].as_str().unwrap().to_owned(), body)
    };
    invalid(Some(queue_token.clone())).await;
    app.tick(1).await;
    let status = app.status_ok(&queue_token).await;
    let access = status["accessToken"].as_str().expect("admitted").to_owned();
    invalid(Some(access)).await;
}

#[tokio::test]
async fn the_development_login_signs_in_any_valid_user_id_for_an_hour() {
    let app = TestApp::spawn().await;
    app.open_concert(1, queue_settings(1, 10, 60)).await;
    let res = app.dev_login(&json!({"userId": "erin"})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let token = body["identityToken"].as_str().unwrap();
    let expires_at = chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert!((expires_at - now() - 3600).abs() <= 2, "{body}");
    assert_eq!(app.join_with(Some(token), 1).await.status(), 201);
    assert_eq!(app.join("erin", 1).await.status(), 200, "the same user");

    for bad in ["", "has space", "ü", &"x".repeat(65), "a:b"] {
        let res = app.dev_login(&json!({"userId": bad})).await;
        assert_problem(res, 400, "INVALID_USER_ID").await;
    }
    let res = app.dev_login(&json!({"userId": "a", "x": 1})).await;
    assert_problem(res, 400, "INVALID_BODY").await;
}

#[tokio::test]
async fn without_the_development_login_it_is_not_found() {
    let (provider, _) = provider_with_rsa_and_ed25519().await;
    let app = gateway_of(&provider).await;
    let res = app.dev_login(&json!({"userId": "erin"})).await;
    assert_problem(res, 404, "NOT_FOUND").await;
    let res = app.dev_login(&json!({"nonsense": true})).await;
    assert_problem(res, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn the_gateway_does_not_start_without_an_identity_source() {
    let mut settings = test_settings();
    settings.identity = IdentitySettings::default();
    let err = gateway::startup::Application::build(settings)
        .await
        .err()
        .expect("no identity source, no gateway");
    let err = format!("{err:#}");
    assert!(
        err.contains("IDENTITY_JWKS_URL") && err.contains("DEV_LOGIN"),
        "{err}"
    );

    // A provider whose keys cannot be fetched: no start either.
    let mut settings = test_settings();
    settings.identity = IdentitySettings {
        jwks_url: Some("http://127.0.0.1:1/certs".into()),
        issuer: Some(ISS.into()),
        audience: Some(AUD.into()),
        ..IdentitySettings::default()
    };
    assert!(gateway::startup::Application::build(settings)
        .await
        .is_err());
}
