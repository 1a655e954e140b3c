//! Access tokens from the running gateway, checked against its published JWKS.

use serde_json::Value;
use shared::token::{PublicKey, Verifier, ACCESS_TYPE, AUDIENCE, ISSUER};

use crate::helpers::{queue_settings, TestApp};

async fn verifier_from_jwks(app: &TestApp) -> Verifier {
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let keys: Vec<PublicKey> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(k["kty"], "OKP");
            assert_eq!(k["crv"], "Ed25519");
            assert_eq!(k["alg"], "EdDSA");
            PublicKey {
                kid: k["kid"].as_str().unwrap().to_owned(),
                x: k["x"].as_str().unwrap().to_owned(),
            }
        })
        .collect();
    Verifier::new(&keys).unwrap()
}

#[tokio::test]
async fn an_admitted_user_gets_an_access_token_whose_claims_match_the_session() {
    let app = TestApp::spawn().await;
    app.open_concert(3, queue_settings(1, 10, 120)).await;
    let (queue_token, _) = app.join_ok("carol", 3).await;
    app.tick(3).await;
    let status = app.status_ok(&queue_token).await;
    let access = status["accessToken"].as_str().unwrap();

    let header = jsonwebtoken::decode_header(access).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(
        header.kid.as_deref(),
        Some(app.settings.signing_key.public_key().kid.as_str())
    );

    let claims = verifier_from_jwks(&app).await.verify(access).unwrap();
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, AUDIENCE);
    assert_eq!(claims.typ, ACCESS_TYPE);
    assert_eq!(claims.sub.as_str(), "carol");
    assert_eq!(claims.cid.get(), 3);
    assert_eq!(claims.jti.get(), 1, "the ticket id is the arrival sequence");
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(status["accessTokenExpiresAt"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        claims.exp,
        expires_at.timestamp(),
        "exp is the session expiry"
    );
    let now = chrono::Utc::now().timestamp();
    assert!((claims.exp - now - 120).abs() <= 2);
    assert!(claims.nbf <= now && claims.iat <= now);
}

#[tokio::test]
async fn the_queue_token_is_not_an_access_token() {
    let app = TestApp::spawn().await;
    app.open_concert(3, queue_settings(1, 10, 120)).await;
    let (queue_token, _) = app.join_ok("dave", 3).await;
    assert!(verifier_from_jwks(&app).await.verify(&queue_token).is_err());
}

#[tokio::test]
async fn jwks_publishes_extra_keys_for_rotation() {
    let next = shared::token::SigningKey::generate();
    let extra = next.public_key().clone();
    let app = TestApp::spawn_with(|s| s.extra_public_keys = vec![extra.clone()]).await;
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&extra.kid.as_str()));
}

#[tokio::test]
async fn queue_tokens_outlive_a_signing_key_rotation_under_one_queue_token_secret() {
    let before = TestApp::spawn().await;
    before.open_concert(1, queue_settings(1, 10, 60)).await;
    let (token, _) = before.join_ok("alice", 1).await;
    // The same line and queue-token secret, a new signing key: the token still reads.
    let (prefix, key) = (
        before.settings.redis.prefix.clone(),
        before.settings.queue_token_key,
    );
    let after = TestApp::spawn_with(|s| {
        s.redis.prefix = prefix.clone();
        s.queue_token_key = key;
    })
    .await;
    assert_ne!(
        before.settings.signing_key.public_key().kid,
        after.settings.signing_key.public_key().kid
    );
    assert_eq!(after.status_ok(&token).await["status"], "WAITING");
    // Another secret does not open it.
    let other = TestApp::spawn_with(|s| s.redis.prefix = prefix).await;
    assert_eq!(other.status(&token).await.status(), 401);
}
