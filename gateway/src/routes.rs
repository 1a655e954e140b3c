//! The HTTP adapter: the router, every API route registered with its OpenAPI description.
//!
//! The router and the served `/openapi.json` come from one list (`routes!`); the pages for
//! people are the only routes outside it (`web.rs`).
//!
//! - `routes/queue.rs`: join, status, leave, stats, open concerts.
//! - `routes/events.rs`: the status as server-sent events.
//! - `routes/identity.rs`: the identity-token extractor, the development login.
//! - `routes/admin.rs`: run-time queue settings, and a queue's settings and admissions.
//! - `routes/system.rs`: health, metrics, OpenAPI, JWKS, page config.
//! - `routes/openapi.rs`: the document's frame, the problem responses, the limits.

mod admin;
mod events;
mod identity;
mod openapi;
mod queue;
mod system;

use axum::Router;
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{config::Settings, state::AppState};

/// The router, and the OpenAPI document of its API routes with the limits `settings`
/// configure.
pub fn router(settings: &Settings) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, doc) = api().split_for_parts();
    (
        api.merge(crate::web::pages()),
        openapi::with_limits(doc, settings),
    )
}

/// Every API route, each with its description: nothing else is added to this router.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(queue::join_queue, queue::leave_queue))
        .routes(routes!(queue::get_queue_status))
        .routes(routes!(events::get_queue_events))
        .routes(routes!(queue::list_open_concerts))
        .routes(routes!(queue::get_queue_stats))
        .routes(routes!(queue::get_draw))
        .routes(routes!(identity::dev_login))
        .routes(routes!(admin::get_queue, admin::update_queue_settings))
        .routes(routes!(admin::move_opening))
        .routes(routes!(system::get_jwks))
        .routes(routes!(system::get_page_config))
        .routes(routes!(system::get_live))
        .routes(routes!(system::get_ready))
        .routes(routes!(system::get_metrics))
        .routes(routes!(system::get_openapi))
}
