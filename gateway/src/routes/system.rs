//! Health, OpenAPI, JWKS and the pages' configuration.

use axum::{extract::State, response::Response, Json};

use crate::state::AppState;

/// `GET /health/ready`: 503 while Redis is unreachable.
pub async fn ready(State(state): State<AppState>) -> Response {
    shared::http::ready_response(&[("redis", shared::redis_pool::is_ready(&state.redis).await)])
}

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    shared::http::openapi_response(include_str!("../../openapi.json"))
}

/// `GET /.well-known/jwks.json`: the signing key and any further published keys (rotation).
pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    let s = &state.settings;
    let mut keys = vec![s.signing_key.public_key().to_jwk()];
    keys.extend(
        s.extra_public_keys
            .iter()
            .filter(|k| *k != s.signing_key.public_key())
            .map(|k| k.to_jwk()),
    );
    Json(serde_json::json!({ "keys": keys }))
}

/// `GET /config.json`: where the pages find the api.
pub async fn page_config(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "apiBaseUrl": state.settings.api_public_url }))
}
