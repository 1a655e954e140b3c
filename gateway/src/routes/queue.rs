//! Queue endpoints: join, status, leave, stats and the list of open concerts.

use std::net::SocketAddr;

use axum::{
    extract::{rejection::QueryRejection, ConnectInfo, FromRequestParts, Query, State},
    http::{header, request::Parts, StatusCode},
    Json,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    http::{bearer_token, ApiJson, ApiPath},
    ids::ConcertId,
};
use utoipa::ToSchema;

use super::{identity::SignedIn, openapi::problems};
use crate::{
    error::{ErrorCode, GatewayError, Result},
    queue::{Closure, Place},
    state::AppState,
    waiting_room::{Answer, Status, OPEN_CONCERTS_LISTED},
};

/// Which concert's line to join (the user is the identity token's `sub`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"concertId": 1}))]
pub struct JoinQueueRequest {
    concert_id: ConcertId,
}

/// `PRE_QUEUE`: the sale opens at `opensAt`; then everyone in the pre-queue is drawn into a
/// random order at the head of the line (check it at `/api/v1/queue/{concertId}/draw`).
/// `WAITING`: in line, `position` places from the front. `ACTIVE`: admitted; `accessToken`
/// books with the api until `accessTokenExpiresAt`. `EXPIRED`: the session ended or lapsed,
/// or the place was given up. `SOLD_OUT`: every seat is sold. `CLOSED`: the queue closed
/// (by the promoter, or every date has started).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueueStatus {
    PreQueue,
    Waiting,
    Active,
    Expired,
    SoldOut,
    Closed,
}

/// Where a queue token's place stands, and when to ask again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QueueStatus, example = json!({
    "status": "WAITING", "position": 42, "estimatedWaitSeconds": 9, "pollAfterMs": 1000,
    "paused": false
}))]
pub struct QueueStatusResponse {
    #[schema(inline)]
    status: QueueStatus,
    /// 1 = next to be admitted; 0 when `ACTIVE` or `EXPIRED`.
    position: u64,
    /// At the measured pace of admission (the configured one until there is a measurement).
    estimated_wait_seconds: u64,
    /// When to poll again: about ten polls over the wait, every second near the front.
    poll_after_ms: u64,
    /// Admission of this concert is paused.
    paused: bool,
    /// `WAITING` while every seat left is held: seats may come back as holds lapse.
    waiting_for_seats: bool,
    /// When the sale opens, only when `PRE_QUEUE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    opens_at: Option<String>,
    /// The token to use from now on, only when it changed: the pre-queue entry was drawn
    /// into a place in line.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    queue_token: Option<String>,
    /// EdDSA JWT for the api, only when `ACTIVE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    access_token: Option<String>,
    /// The session's end, only when `ACTIVE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    access_token_expires_at: Option<String>,
}

/// A place in line (or the session it turned into) and the token to ask about it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QueueTicket, example = json!({
    "queueToken": "AQAAAAAAAAABAAAAAAAAACpmYW4tMDA0Mq3Rz1WRp9a0ZQm2bYvAd1c",
    "status": "WAITING", "position": 42, "estimatedWaitSeconds": 9, "pollAfterMs": 1000,
    "paused": false
}))]
pub struct JoinQueueResponse {
    /// Opaque; send it as `Authorization: Bearer` to status and leave.
    #[schema(min_length = 1)]
    queue_token: String,
    #[serde(flatten)]
    status: QueueStatusResponse,
}

impl From<Answer> for QueueStatusResponse {
    fn from(answer: Answer) -> Self {
        let blank = Self {
            status: QueueStatus::Expired,
            position: 0,
            estimated_wait_seconds: 0,
            poll_after_ms: 0,
            paused: false,
            waiting_for_seats: false,
            opens_at: None,
            queue_token: None,
            access_token: None,
            access_token_expires_at: None,
        };
        match answer {
            Answer::PreQueue {
                opens_at_ms,
                poll_after_ms,
            } => Self {
                status: QueueStatus::PreQueue,
                poll_after_ms,
                opens_at: Some(rfc3339(opens_at_ms)),
                ..blank
            },
            Answer::Waiting {
                position,
                estimated_wait_secs,
                poll_after_ms,
                paused,
                waiting_for_seats,
            } => Self {
                status: QueueStatus::Waiting,
                position,
                estimated_wait_seconds: estimated_wait_secs,
                poll_after_ms,
                paused,
                waiting_for_seats,
                ..blank
            },
            Answer::Active {
                access_token,
                expires_at_ms,
            } => Self {
                status: QueueStatus::Active,
                poll_after_ms: 5_000,
                access_token: Some(access_token),
                access_token_expires_at: Some(rfc3339(expires_at_ms)),
                ..blank
            },
            Answer::Expired => blank,
            Answer::Closed(Closure::SoldOut) => Self {
                status: QueueStatus::SoldOut,
                ..blank
            },
            Answer::Closed(Closure::Closed) => Self {
                status: QueueStatus::Closed,
                ..blank
            },
        }
    }
}

impl From<Status> for QueueStatusResponse {
    fn from(status: Status) -> Self {
        Self {
            queue_token: status.queue_token,
            ..status.answer.into()
        }
    }
}

/// A time in ms since the epoch as RFC 3339 UTC.
fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

problems!(JoinQueueProblems: InvalidBody, MalformedJson, InvalidIdentityToken,
    IdentityTokenExpired, ConcertNotFound, SoldOut, QueueClosed, QueueRestoring, BodyTooLarge, UnsupportedMediaType, RateLimited,
    ServiceUnavailable);

/// Join a concert's waiting queue
///
/// As the user the identity token names (its `sub`): a new place at the back of the line, or
/// before the sale opens an entry in the pre-queue (201), or the place or session the user
/// already has (200, with the same queue token). 409 once the queue closed.
#[utoipa::path(post, path = "/api/v1/queue/tokens", tag = "queue",
    security(("identityToken" = [])),
    request_body = JoinQueueRequest,
    responses(
        (status = 201, description = "A new place in line", body = JoinQueueResponse),
        (status = 200, description = "The place (or active session, with its access token) the user already has", body = JoinQueueResponse),
        JoinQueueProblems,
    ))]
pub async fn join_queue(
    State(state): State<AppState>,
    _: WithinJoinRate,
    SignedIn(user): SignedIn,
    ApiJson(req): ApiJson<JoinQueueRequest>,
) -> Result<(StatusCode, Json<JoinQueueResponse>)> {
    let entry = state.room.join(user, req.concert_id).await?;
    let status = if entry.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(JoinQueueResponse {
            queue_token: entry.queue_token,
            status: entry.answer.into(),
        }),
    ))
}

/// A join within its address's rate (`JOIN_RATE_PER_SECOND`), else 429 `RATE_LIMITED`. An
/// extractor so that it runs before the identity token's verification.
pub struct WithinJoinRate;

impl FromRequestParts<AppState> for WithinJoinRate {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| GatewayError::Unexpected(anyhow::anyhow!("no peer address")))?;
        state.room.check_join_rate(peer.ip())?;
        Ok(Self)
    }
}

/// The place a bearer queue token names; 401 `INVALID_QUEUE_TOKEN` for anything else.
pub struct QueueTicket(Place);

impl FromRequestParts<AppState> for QueueTicket {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        bearer_token(parts)
            .and_then(|t| state.room.open_queue_token(t))
            .map(QueueTicket)
            .ok_or(GatewayError::Unauthorized(
                ErrorCode::InvalidQueueToken,
                "a valid queue token is required",
            ))
    }
}

problems!(QueueTokenProblems: InvalidQueueToken, ServiceUnavailable);
problems!(QueueStatusProblems: InvalidQueueToken, QueueRestoring, ServiceUnavailable);

/// Where a queue token stands
///
/// In the pre-queue, waiting with a position, active with an access token for the api,
/// expired, sold out or closed. Poll again after `pollAfterMs` (not after `SOLD_OUT`,
/// `CLOSED` or `EXPIRED`). Far from the front the answer may be up to `STATUS_VIEW_MS` old.
/// When the answer carries a `queueToken`, use it from then on.
#[utoipa::path(get, path = "/api/v1/queue/status", tag = "queue",
    security(("queueToken" = [])),
    responses((status = 200, description = "Where the place stands", body = QueueStatusResponse), QueueStatusProblems))]
pub async fn get_queue_status(
    State(state): State<AppState>,
    QueueTicket(place): QueueTicket,
) -> Result<Json<QueueStatusResponse>> {
    let answer = state.room.status(&place).await?;
    Ok(Json(answer.into()))
}

/// Give up the place or end the session
///
/// Frees the room at once; ending a session also releases its open hold (unless its payment
/// is under way). Leaving twice is harmless.
#[utoipa::path(delete, path = "/api/v1/queue/tokens", tag = "queue",
    security(("queueToken" = [])),
    responses((status = 204, description = "Given up (or nothing left to give up)"), QueueTokenProblems))]
pub async fn leave_queue(
    State(state): State<AppState>,
    QueueTicket(place): QueueTicket,
) -> Result<StatusCode> {
    state.room.leave(&place).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The numbers of one concert's line.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = QueueStats)]
pub struct QueueStatsResponse {
    concert_id: ConcertId,
    waiting: u64,
    active: u64,
    /// Measured (smoothed over about 30 s), not configured.
    #[schema(minimum = 0)]
    admitted_per_minute: f64,
    estimated_wait_seconds_at_back: u64,
    paused: bool,
    #[schema(inline)]
    state: SaleState,
    /// When the sale opens (a sale with a pre-queue).
    #[schema(format = DateTime)]
    opens_at: Option<String>,
    /// Seats neither sold nor held (at the last admission tick); null while not counted.
    seats_left: Option<u64>,
}

/// `PRE_QUEUE` before the opening and until the draw, `OPEN`, `SOLD_OUT`, `CLOSED`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SaleState {
    PreQueue,
    Open,
    SoldOut,
    Closed,
}

impl SaleState {
    fn of(closed: Option<Closure>, drawn: bool) -> Self {
        match closed {
            Some(Closure::SoldOut) => Self::SoldOut,
            Some(Closure::Closed) => Self::Closed,
            None if !drawn => Self::PreQueue,
            None => Self::Open,
        }
    }
}

problems!(QueueStatsProblems: InvalidPath, ConcertNotFound, ServiceUnavailable);

/// Queue numbers
#[utoipa::path(get, path = "/api/v1/queue/{concertId}/stats", tag = "queue",
    params(("concertId" = ConcertId, Path, description = "The concert's id")),
    responses((status = 200, description = "The line's numbers", body = QueueStatsResponse), QueueStatsProblems))]
pub async fn get_queue_stats(
    State(state): State<AppState>,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<Json<QueueStatsResponse>> {
    let concert_id = open_concert_id(concert_id)?;
    Ok(Json(line_stats(&state, concert_id).await?))
}

/// The numbers of a concert's line, as the stats endpoint (and the admin's view of a queue)
/// answers them; 404 when it has no queue.
pub async fn line_stats(state: &AppState, concert_id: ConcertId) -> Result<QueueStatsResponse> {
    let stats = state.room.stats(concert_id).await?;
    Ok(QueueStatsResponse {
        concert_id,
        waiting: stats.waiting,
        active: stats.active,
        admitted_per_minute: (stats.pace.measured_per_second.unwrap_or(0.0) * 60.0 * 10.0).round()
            / 10.0,
        estimated_wait_seconds_at_back: stats.pace.estimated_wait_secs(stats.waiting),
        paused: stats.pace.paused,
        state: SaleState::of(stats.closed, stats.drawn),
        opens_at: stats.opens_at_ms.map(rfc3339),
        seats_left: stats.sellable,
    })
}

/// A concert's pre-queue draw, for anyone to check.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Draw)]
pub struct DrawResponse {
    concert_id: ConcertId,
    #[schema(format = DateTime)]
    opens_at: String,
    /// Hex `SHA-256(seed)`, published before anyone could join.
    commitment: String,
    /// The draw has been made: `seed` and `entrants` are published.
    drawn: bool,
    /// Hex; only once drawn. `SHA-256(seed)` must equal `commitment`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    seed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    drawn_at: Option<String>,
    /// Only once drawn: how many entrants were drawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    count: Option<u64>,
    /// Only once drawn and without `?entrant=`: every entrant's id, hex
    /// `SHA-256("<concertId>:<userId>")`, in drawn order (the first was placed first in line).
    /// The order is that of the keys `SHA-256(seed ‖ entrant id)` (the id's 32 bytes), lowest
    /// first; `scripts/verify-draw` checks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    entrants: Option<Vec<String>>,
    /// Only once drawn and with `?entrant=`: that entrant's drawn place (from 1), `null` when
    /// it was not in the draw.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = true)]
    place: Option<Option<u64>>,
}

/// One entrant's place instead of the whole order.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DrawQuery {
    /// An entrant id (64 hex characters): answer its place rather than every entrant.
    entrant: Option<String>,
}

problems!(DrawProblems: InvalidPath, InvalidQuery, DrawNotFound, ServiceUnavailable);

/// A sale's pre-queue draw
///
/// Before the sale opens: the commitment to the draw's secret seed. After: the seed and the
/// entrants in drawn order, so anyone can check the order (`scripts/verify-draw`) and a fan
/// can find their own place by their entrant id.
#[utoipa::path(get, path = "/api/v1/queue/{concertId}/draw", tag = "queue",
    params(("concertId" = ConcertId, Path, description = "The concert's id"), DrawQuery),
    responses((status = 200, description = "The draw, as far as it is public", body = DrawResponse), DrawProblems))]
pub async fn get_draw(
    State(state): State<AppState>,
    ApiPath(concert_id): ApiPath<i64>,
    query: std::result::Result<Query<DrawQuery>, QueryRejection>,
) -> Result<([(header::HeaderName, &'static str); 1], Json<DrawResponse>)> {
    let Query(DrawQuery { entrant }) =
        query.map_err(|e| GatewayError::Invalid(ErrorCode::InvalidQuery, e.body_text().into()))?;
    let entrant = entrant
        .map(|hex| {
            shared::draw::from_hex(&hex.to_ascii_lowercase()).ok_or(GatewayError::Invalid(
                ErrorCode::InvalidQuery,
                "`entrant` is 64 hex characters".into(),
            ))
        })
        .transpose()?;
    let concert_id = ConcertId::new(concert_id).map_err(|_| {
        GatewayError::NotFound(
            ErrorCode::DrawNotFound,
            "this concert's sale has no pre-queue draw",
        )
    })?;
    let known = state.room.published_draw(concert_id).await?;
    let draw = &known.published;
    let revealed = draw.revealed.as_ref();
    // A made draw never changes: caches may keep it.
    let cache = if revealed.is_some() {
        "public, max-age=3600, immutable"
    } else {
        "no-cache"
    };
    let body = DrawResponse {
        concert_id,
        opens_at: rfc3339(draw.opens_at_ms),
        commitment: draw.commitment.clone(),
        drawn: revealed.is_some(),
        drawn_at: revealed.map(|r| rfc3339(r.drawn_at_ms)),
        seed: revealed.map(|r| r.seed.clone()),
        count: revealed.map(|r| r.entrants.len() as u64),
        entrants: revealed.filter(|_| entrant.is_none()).map(|r| {
            r.entrants
                .iter()
                .map(|id| shared::draw::to_hex(id))
                .collect()
        }),
        place: revealed
            .and(entrant)
            .map(|entrant| known.place_of(&entrant)),
    };
    Ok(([(header::CACHE_CONTROL, cache)], Json(body)))
}

/// A concert id from a path: a number that is no concert id has no open queue either (404,
/// as for any concert without one).
pub fn open_concert_id(id: i64) -> Result<ConcertId> {
    ConcertId::new(id).map_err(|_| GatewayError::concert_not_found())
}

/// An open concert and its line.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = OpenConcert)]
pub struct OpenConcertResponse {
    concert_id: ConcertId,
    name: String,
    paused: bool,
    waiting: u64,
    active: u64,
    #[schema(inline)]
    state: SaleState,
    /// When the sale opens (a sale with a pre-queue).
    #[schema(format = DateTime)]
    opens_at: Option<String>,
}

/// The open concerts, lowest ids first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OpenConcerts)]
pub struct OpenConcertsResponse {
    #[schema(schema_with = listed_concerts)]
    concerts: Vec<OpenConcertResponse>,
}

/// At most [`OPEN_CONCERTS_LISTED`] concerts.
fn listed_concerts() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(<OpenConcertResponse as utoipa::PartialSchema>::schema())
        .max_items(Some(OPEN_CONCERTS_LISTED))
        .build()
}

problems!(OpenConcertsProblems: ServiceUnavailable);

/// Open concerts (for the index page)
#[utoipa::path(get, path = "/api/v1/queue/concerts", tag = "queue",
    responses((status = 200, description = "The open concerts", body = OpenConcertsResponse), OpenConcertsProblems))]
pub async fn list_open_concerts(
    State(state): State<AppState>,
) -> Result<Json<OpenConcertsResponse>> {
    let concerts = state.room.open_concerts().await?;
    Ok(Json(OpenConcertsResponse {
        concerts: concerts
            .into_iter()
            .map(|c| OpenConcertResponse {
                concert_id: c.concert_id,
                state: SaleState::of(c.closed, c.drawn),
                opens_at: c.opens_at_ms.map(rfc3339),
                name: c.name,
                paused: c.paused,
                waiting: c.waiting,
                active: c.active,
            })
            .collect(),
    }))
}
