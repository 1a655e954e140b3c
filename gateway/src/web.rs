//! The pages for people: the only routes outside the OpenAPI document.
//!
//! The waiting-room and booking pages and "my tickets" (files in `web/`, embedded so running
//! needs no front-end build), the operator's console (`/admin`, its charts by uPlot vendored
//! in `web/vendor/` by `scripts/vendor-uplot`) and the API reference (`/docs`, Swagger UI over
//! `/openapi.json`).

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use shared::http::{ApiPath, Problem};

use crate::state::AppState;

const INDEX: &str = include_str!("../web/index.html");
const ROOM: &str = include_str!("../web/room.html");
const TICKETS: &str = include_str!("../web/tickets.html");
const ADMIN: &str = include_str!("../web/admin.html");

fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "app.css" => ("text/css; charset=utf-8", include_str!("../web/app.css")),
        "admin.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../web/admin.js"),
        ),
        "uPlot.iife.min.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../web/vendor/uPlot.iife.min.js"),
        ),
        "uPlot.min.css" => (
            "text/css; charset=utf-8",
            include_str!("../web/vendor/uPlot.min.css"),
        ),
        "account.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../web/account.js"),
        ),
        "i18n.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../web/i18n.js"),
        ),
        "index.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../web/index.js"),
        ),
        "room.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../web/room.js"),
        ),
        "tickets.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../web/tickets.js"),
        ),
        _ => return None,
    })
}

fn html(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Every page route; nothing else registers a route outside `routes::api`.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { html(INDEX) }))
        .route(
            "/waiting-room/{concert_id}",
            get(|ApiPath(_): ApiPath<i64>| async { html(ROOM) }),
        )
        .route("/my-tickets", get(|| async { html(TICKETS) }))
        .route("/admin", get(|| async { html(ADMIN) }))
        .route(
            "/assets/{name}",
            get(|ApiPath(name): ApiPath<String>| async move {
                match asset(&name) {
                    Some((mime, body)) => (
                        [
                            (header::CONTENT_TYPE, mime),
                            (header::CACHE_CONTROL, "max-age=300"),
                        ],
                        body,
                    )
                        .into_response(),
                    None => Problem::for_status(StatusCode::NOT_FOUND).into_response(),
                }
            }),
        )
        .merge(shared::docs::routes("Ticketing gateway"))
}
