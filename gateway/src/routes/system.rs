//! Health, metrics, this OpenAPI document, the JWKS and the pages' configuration.

use std::collections::BTreeMap;

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

use utoipa::openapi::{self, ContentBuilder, Ref, RefOr};

use super::openapi::{problem_responses, problems};
use crate::state::AppState;

problems!(SystemProblems:);

/// The process is up
#[utoipa::path(get, path = "/health/live", tag = "system",
    responses((status = 200, description = "Up", body = LiveReport), SystemProblems))]
pub async fn get_live() -> impl IntoResponse {
    shared::http::live().await
}

// A schema only: `shared::http::live` writes the body.
/// The process is up.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LiveReport {
    #[schema(inline)]
    status: LiveStatus,
}

#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum LiveStatus {
    Ok,
}

/// Redis is reachable
///
/// 503 while it is not, with the report (not a problem) and `Retry-After`.
#[utoipa::path(get, path = "/health/ready", tag = "system",
    responses((status = 200, description = "Redis is reachable", body = ReadyReport), ReadyProblems))]
pub async fn get_ready(State(state): State<AppState>) -> Response {
    shared::http::ready_response(&[("redis", shared::redis_pool::is_ready(&state.redis).await)])
}

/// The problems of `/health/ready`, whose 503 is also the report of a Redis it cannot reach.
pub struct ReadyProblems;

impl utoipa::IntoResponses for ReadyProblems {
    fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
        let mut responses = problem_responses(&[]);
        if let Some(RefOr::T(unavailable)) = responses.get_mut("503") {
            unavailable.description = format!(
                "Redis is unreachable: the report, as `application/json`. Or {}",
                unavailable.description
            );
            unavailable.content.insert(
                "application/json".into(),
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(ReadyReport::name())))
                    .build()
                    .into(),
            );
        }
        responses
    }
}

// A schema only: `shared::http::ready_response` writes the body.
/// Whether each dependency answers.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReadyReport {
    #[schema(inline)]
    status: ReadyStatus,
    /// Each dependency (here `redis`) and whether it answers.
    #[schema(inline)]
    checks: BTreeMap<String, Check>,
}

#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum ReadyStatus {
    Ready,
    Unavailable,
}

#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Check {
    Up,
    Down,
}

/// Prometheus metrics
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"), SystemProblems))]
pub async fn get_metrics() -> impl IntoResponse {
    shared::http::metrics().await
}

/// This document
///
/// The OpenAPI document of this gateway, its limits as configured.
#[utoipa::path(get, path = "/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI 3.1", body = Object), SystemProblems))]
pub async fn get_openapi(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.clone(),
    )
        .into_response()
}

/// The keys that verify access tokens
///
/// The signing key first, then any further published keys (during a rotation).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens",
    responses((status = 200, description = "A JSON Web Key Set", body = JwksResponse), SystemProblems))]
pub async fn get_jwks(State(state): State<AppState>) -> Json<JwksResponse> {
    let s = &state.settings;
    let mut keys = vec![s.signing_key.public_key().to_jwk()];
    keys.extend(
        s.extra_public_keys
            .iter()
            .filter(|k| *k != s.signing_key.public_key())
            .map(|k| k.to_jwk()),
    );
    Json(JwksResponse { keys })
}

/// The public keys of access tokens.
#[derive(Serialize, ToSchema)]
#[schema(as = Jwks)]
pub struct JwksResponse {
    #[schema(value_type = Vec<Jwk>, min_items = 1)]
    keys: Vec<serde_json::Value>,
}

// A schema only: `shared::token::PublicKey::to_jwk` writes the key.
/// An Ed25519 public key.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Jwk {
    #[schema(pattern = "^OKP$")]
    kty: String,
    #[schema(pattern = "^Ed25519$")]
    crv: String,
    /// The public key, base64url.
    x: String,
    /// The key id: access tokens name it in their header.
    kid: String,
    #[schema(pattern = "^EdDSA$")]
    alg: String,
    #[serde(rename = "use")]
    #[schema(pattern = "^sig$")]
    use_: String,
}

/// Where the pages find the api
#[utoipa::path(get, path = "/config.json", tag = "system",
    responses((status = 200, description = "The pages' configuration", body = PageConfigResponse), SystemProblems))]
pub async fn get_page_config(State(state): State<AppState>) -> Json<PageConfigResponse> {
    Json(PageConfigResponse {
        api_base_url: state.settings.api_public_url.clone(),
    })
}

/// What the pages need to know.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = PageConfig)]
pub struct PageConfigResponse {
    /// `API_PUBLIC_URL`: where browsers find the api.
    api_base_url: String,
}
