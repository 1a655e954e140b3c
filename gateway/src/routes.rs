//! The HTTP adapter: the router.
//!
//! - `routes/queue.rs`: join, status, leave, stats, open concerts.
//! - `routes/admin.rs`: run-time queue settings.
//! - `routes/system.rs`: health, metrics, OpenAPI, JWKS, page config.

mod admin;
mod queue;
mod system;

use axum::{
    routing::{get, post, put},
    Router,
};

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/v1/queue/tokens",
            post(queue::join_queue).delete(queue::leave_queue),
        )
        .route("/api/v1/queue/status", get(queue::get_queue_status))
        .route("/api/v1/queue/concerts", get(queue::list_open_concerts))
        .route(
            "/api/v1/queue/{concert_id}/stats",
            get(queue::get_queue_stats),
        )
        .route(
            "/api/v1/admin/queues/{concert_id}",
            put(admin::update_queue_settings),
        )
        .route("/.well-known/jwks.json", get(system::jwks))
        .route("/config.json", get(system::page_config))
        .route("/health/live", get(shared::http::live))
        .route("/health/ready", get(system::ready))
        .route("/metrics", get(shared::http::metrics))
        .route("/openapi.json", get(system::openapi))
        .merge(crate::web::routes())
        .with_state(state)
}
