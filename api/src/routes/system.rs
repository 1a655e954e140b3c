//! Health, metrics and the OpenAPI document (no token).

use std::{collections::BTreeMap, time::Duration};

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    Extension,
};
use serde::Serialize;
use utoipa::{
    openapi::{response::Response as ResponseDoc, ContentBuilder, Ref, RefOr},
    IntoResponses,
};

use crate::{
    error::ErrorCode,
    openapi::{problem_responses, problems, ServedDocument},
    state::AppState,
};

problems!(SystemProblems:);

/// The process is up.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Live {
    status: LiveStatus,
}

// Documents a body that `shared::http` writes, so no variant is built here.
#[allow(dead_code)]
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LiveStatus {
    Ok,
}

/// The process is up
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "system",
    responses((status = 200, description = "Up", body = Live), SystemProblems),
)]
pub async fn live() -> impl IntoResponse {
    shared::http::live().await
}

/// Whether each dependency answers.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"status": "ready", "checks": {"redis": "up", "postgres": "up"}}))]
pub struct Ready {
    status: ReadyStatus,
    /// `redis` and `postgres`.
    checks: BTreeMap<String, CheckStatus>,
}

// Documents a body that `shared::http` writes, so no variant is built here.
#[allow(dead_code)]
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadyStatus {
    Ready,
    Unavailable,
}

// Documents a body that `shared::http` writes, so no variant is built here.
#[allow(dead_code)]
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Up,
    Down,
}

/// The answers of `/health/ready` besides 200: a 503 is the [`Ready`] report while a
/// dependency is down, or a problem when the request was shed.
pub struct ReadyProblems;

impl IntoResponses for ReadyProblems {
    fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
        let mut responses = problem_responses(&[]);
        if let Some(RefOr::T(unavailable)) = responses.get_mut("503") {
            unavailable.description = format!(
                "Redis or Postgres unreachable: the report, as `application/json`. Or shed, \
                 as a problem:\n- `{}`: {}\n- `{}`: {}",
                ErrorCode::Overloaded,
                ErrorCode::Overloaded.meaning(),
                ErrorCode::Timeout,
                ErrorCode::Timeout.meaning()
            );
            unavailable.content.insert(
                "application/json".into(),
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Ready")))
                    .build()
                    .into(),
            );
        }
        responses
    }
}

/// Redis and Postgres reachable
///
/// 503 while Redis or Postgres is unreachable, so a load balancer sends no traffic here.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "system",
    responses((status = 200, description = "Ready", body = Ready), ReadyProblems),
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    let postgres = async {
        let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.db);
        matches!(
            tokio::time::timeout(Duration::from_secs(1), ping).await,
            Ok(Ok(1))
        )
    };
    let (redis, postgres) = tokio::join!(shared::redis_pool::is_ready(&state.redis), postgres);
    shared::http::ready_response(&[("redis", redis), ("postgres", postgres)])
}

/// Prometheus metrics
///
/// Requests by route, method and status, their durations, and the api's own counters.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    responses(
        (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"),
        SystemProblems,
    ),
)]
pub async fn metrics() -> impl IntoResponse {
    shared::http::metrics().await
}

/// This document
///
/// The OpenAPI 3.1 description of every endpoint, with the limits this instance runs with.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "system",
    responses(
        (status = 200, description = "The document", body = Object, content_type = "application/json"),
        SystemProblems,
    ),
)]
pub async fn openapi(Extension(doc): Extension<ServedDocument>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc.0).into_response()
}
