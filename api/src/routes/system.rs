//! Health and OpenAPI.

use std::time::Duration;

use axum::{extract::State, response::Response};

use crate::state::AppState;

/// `GET /health/ready`: 503 while Redis or Postgres is unreachable.
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

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    shared::http::openapi_response(include_str!("../../openapi.json"))
}
