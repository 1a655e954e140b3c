//! The line's status as server-sent events: the status poll's answer, pushed when it changes
//! (the work behind it: `live.rs`).

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{rejection::QueryRejection, FromRequestParts, Query, State},
    http::{header, request::Parts, HeaderName},
    response::{
        sse::{Event, KeepAlive},
        IntoResponse, Response, Sse,
    },
};
use serde::Deserialize;
use shared::http::bearer_token;

use super::{openapi::problems, queue::QueueStatusResponse};
use crate::{
    error::{ErrorCode, GatewayError, Result},
    live::{Follow, Live, Source},
    queue::Place,
    state::AppState,
    waiting_room::Status,
};

/// A stream follows its status through the gateway's state.
impl Source for AppState {
    fn live(&self) -> &Live {
        &self.live
    }

    async fn status(&self, place: &Place) -> Result<Status> {
        self.room.status(place).await
    }

    fn open_queue_token(&self, token: &str) -> Option<Place> {
        self.room.open_queue_token(token)
    }
}

/// A comment this often keeps proxies (and their idle timeouts) from closing a quiet stream.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// How long a browser waits before reconnecting a dropped stream (the SSE `retry` field).
const RECONNECT: Duration = Duration::from_secs(2);

/// The queue token, for clients that cannot set headers (`EventSource`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The queue token, when it is not sent as `Authorization: Bearer` (which wins when both
    /// are sent). Never written to logs.
    token: Option<String>,
}

/// The place the queue token names (bearer, else `?token=`); 401 `INVALID_QUEUE_TOKEN` for
/// anything else, 400 `INVALID_QUERY` for a query that does not parse.
pub struct StreamTicket(Place);

impl FromRequestParts<AppState> for StreamTicket {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let query = Query::<EventsQuery>::try_from_uri(&parts.uri)
            .map_err(|e: QueryRejection| {
                GatewayError::Invalid(ErrorCode::InvalidQuery, e.body_text().into())
            })?
            .0;
        bearer_token(parts)
            .or(query.token.as_deref())
            .and_then(|t| state.room.open_queue_token(t))
            .map(StreamTicket)
            .ok_or(GatewayError::Unauthorized(
                ErrorCode::InvalidQueueToken,
                "a valid queue token is required (as a bearer, or `?token=`)",
            ))
    }
}

problems!(QueueEventsProblems: InvalidQuery, InvalidQueueToken, QueueRestoring, ServiceUnavailable);

/// One event of the stream as a client receives it (the SSE fields): `data` is a status,
/// the JSON object `GET /api/v1/queue/status` answers (`QueueStatusResponse`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // only its schema is used: the events are written by axum's `Event`
pub struct QueueEvent {
    /// The status, as JSON (`QueueStatusResponse`).
    #[schema(content_media_type = "application/json")]
    data: String,
    /// Names the status (the same status has the same id on every instance); send it back as
    /// `Last-Event-ID` when reconnecting.
    id: Option<String>,
    /// Always the default, `message`.
    event: Option<String>,
    /// How long to wait before reconnecting (ms), on the first event.
    retry: Option<u64>,
}

/// Where a queue token stands, pushed as it changes (server-sent events)
///
/// A `text/event-stream` of the status `GET /api/v1/queue/status` answers: the current
/// status at once, then each change: positions at most twice a second (further back, every
/// half `pollAfterMs`: about twenty times over the wait), a pause or resume within a
/// second, admission (`ACTIVE`, with the access token) within a tick of the admission, and
/// `SOLD_OUT`, `CLOSED` or `EXPIRED`, after which the stream ends. A comment line every 15 s keeps it open through
/// proxies. Each event's `id` names the status it carries (the same status has the same id,
/// on every instance): a client that reconnects with `Last-Event-ID` gets the current status
/// at once unless it is the one it last received. An `ACTIVE` status's access token is the
/// one to book with; the stream stays open to say when the session ends (`EXPIRED`).
/// `EventSource` cannot set headers: send the queue token as `?token=`.
#[utoipa::path(get, path = "/api/v1/queue/events", tag = "queue",
    security(("queueToken" = []), ()),
    params(EventsQuery),
    responses(
        (status = 200, description = "One event per status: a `data:` line holding the JSON \
            status (`QueueStatusResponse`), with an `id:` line", content_type = "text/event-stream",
            body = QueueEvent),
        QueueEventsProblems,
    ))]
pub async fn get_queue_events(
    State(state): State<AppState>,
    StreamTicket(place): StreamTicket,
    headers: axum::http::HeaderMap,
) -> Result<Response> {
    // The first status is read the poll's way before anything is sent, so its errors
    // (a queue being restored, Redis down) are problems with their status, not a stream.
    let first = state.room.status(&place).await?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let follow = Follow::new(state, place, first, last_event_id);
    let open = OpenStream::new();
    let events = futures::stream::unfold(
        (follow, open, true),
        |(mut follow, open, first)| async move {
            let (status, id) = follow.next().await?;
            let mut event = Event::default()
                .id(id)
                .json_data(QueueStatusResponse::from(status))
                .unwrap_or_else(|_| Event::default().comment("unserializable status"));
            if first {
                event = event.retry(RECONNECT);
            }
            Some((Ok::<_, Infallible>(event), (follow, open, false)))
        },
    );
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("hb"));
    // Proxies that buffer responses (nginx) would hold events back.
    Ok((
        [(HeaderName::from_static("x-accel-buffering"), "no")],
        [(header::CACHE_CONTROL, "no-cache")],
        sse,
    )
        .into_response())
}

/// Counts the open streams (`gateway_event_streams`) for as long as it lives.
struct OpenStream;

impl OpenStream {
    fn new() -> Self {
        metrics::gauge!("gateway_event_streams").increment(1.0);
        Self
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("gateway_event_streams").decrement(1.0);
    }
}
