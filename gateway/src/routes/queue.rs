//! Queue endpoints: join, status, leave, stats and the list of open concerts.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts, State},
    http::{request::Parts, StatusCode},
    Json,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    http::{bearer_token, ApiJson, ApiPath},
    ids::{ConcertId, TicketId, UserId},
    token::AccessClaims,
};

use crate::state::AppState;
use crate::{
    error::{ErrorCode, GatewayError, Result},
    queue::{self, Joined, Pace, Standing},
    queue_token::Place,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinQueueRequest {
    user_id: String,
    concert_id: i64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum QueueStatus {
    Waiting,
    Active,
    Expired,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatusResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_token: Option<String>,
    status: QueueStatus,
    position: u64,
    estimated_wait_seconds: u64,
    poll_after_ms: u64,
    paused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token_expires_at: Option<String>,
}

impl QueueStatusResponse {
    fn waiting(position: u64, pace: &Pace, ticket_id: u64) -> Self {
        Self {
            queue_token: None,
            status: QueueStatus::Waiting,
            position,
            estimated_wait_seconds: pace.estimated_wait_secs(position),
            poll_after_ms: pace.poll_after_ms(position, ticket_id),
            paused: pace.paused,
            access_token: None,
            access_token_expires_at: None,
        }
    }

    fn active(state: &AppState, place: &Place, expires_at_ms: i64) -> Result<Self> {
        let now = Utc::now().timestamp();
        let exp = expires_at_ms / 1000;
        let unexpected = |e| GatewayError::Unexpected(anyhow::anyhow!("a sealed place: {e}"));
        let claims = AccessClaims::new(
            &UserId::parse(&place.user_id).map_err(unexpected)?,
            ConcertId::new(place.concert_id).map_err(unexpected)?,
            TicketId::new(place.ticket_id),
            now,
            exp,
        );
        let token =
            state.settings.signing_key.sign(&claims).map_err(|e| {
                GatewayError::Unexpected(anyhow::anyhow!("signing access token: {e}"))
            })?;
        let expires_at = DateTime::<Utc>::from_timestamp_millis(expires_at_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        Ok(Self {
            queue_token: None,
            status: QueueStatus::Active,
            position: 0,
            estimated_wait_seconds: 0,
            poll_after_ms: 5_000,
            paused: false,
            access_token: Some(token),
            access_token_expires_at: Some(expires_at),
        })
    }

    fn expired() -> Self {
        Self {
            queue_token: None,
            status: QueueStatus::Expired,
            position: 0,
            estimated_wait_seconds: 0,
            poll_after_ms: 0,
            paused: false,
            access_token: None,
            access_token_expires_at: None,
        }
    }
}

/// `POST /api/v1/queue/tokens`: a place in line (201), or the one the user has (200).
pub async fn join_queue(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<JoinQueueRequest>,
) -> Result<(StatusCode, Json<QueueStatusResponse>)> {
    if UserId::parse(&req.user_id).is_err() {
        return Err(GatewayError::Invalid(
            ErrorCode::InvalidUserId,
            "userId must be 1 to 64 characters of A-Z a-z 0-9 _ -".into(),
        ));
    }
    if req.concert_id < 1 {
        return Err(GatewayError::Invalid(
            ErrorCode::InvalidBody,
            "concertId must be a positive integer".into(),
        ));
    }
    state
        .join_limiter
        .check(peer.ip())
        .map_err(|retry_after_secs| GatewayError::RateLimited { retry_after_secs })?;
    let joined = state
        .joins
        .call(req.concert_id, req.user_id.clone())
        .await?;
    let (created, ticket_id, mut body) = match joined {
        Joined::UnknownConcert => return Err(GatewayError::concert_not_found()),
        Joined::Waiting {
            new,
            ticket_id,
            position,
            pace,
        } => (
            new,
            ticket_id,
            QueueStatusResponse::waiting(position, &pace, ticket_id),
        ),
        Joined::Active {
            ticket_id,
            expires_at_ms,
        } => {
            let place = Place {
                concert_id: req.concert_id,
                ticket_id,
                user_id: req.user_id.clone(),
            };
            (
                false,
                ticket_id,
                QueueStatusResponse::active(&state, &place, expires_at_ms)?,
            )
        }
    };
    body.queue_token = Some(state.queue_tokens.seal(&Place {
        concert_id: req.concert_id,
        ticket_id,
        user_id: req.user_id,
    }));
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)))
}

/// The place a bearer queue token names; 401 `INVALID_QUEUE_TOKEN` for anything else.
pub struct QueueTicket(Place);

impl FromRequestParts<AppState> for QueueTicket {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        bearer_token(parts)
            .and_then(|t| state.queue_tokens.open(t))
            .map(QueueTicket)
            .ok_or(GatewayError::Unauthorized(
                ErrorCode::InvalidQueueToken,
                "a valid queue token is required",
            ))
    }
}

/// `GET /api/v1/queue/status`: waiting with position, active with an access token, or expired.
pub async fn get_queue_status(
    State(state): State<AppState>,
    QueueTicket(place): QueueTicket,
) -> Result<Json<QueueStatusResponse>> {
    let from_view = state
        .line_views
        .standing(&state.redis, &state.keys, place.concert_id, place.ticket_id)
        .await?;
    let standing = match from_view {
        Some(standing) => standing,
        None => {
            state
                .statuses
                .call(place.concert_id, (place.user_id.clone(), place.ticket_id))
                .await?
        }
    };
    Ok(Json(match standing {
        Standing::Waiting { position, pace } => {
            QueueStatusResponse::waiting(position, &pace, place.ticket_id)
        }
        Standing::Active { expires_at_ms } => {
            QueueStatusResponse::active(&state, &place, expires_at_ms)?
        }
        Standing::Expired => QueueStatusResponse::expired(),
    }))
}

/// `DELETE /api/v1/queue/tokens`: gives up the place or ends the session.
pub async fn leave_queue(
    State(state): State<AppState>,
    QueueTicket(place): QueueTicket,
) -> Result<StatusCode> {
    let left = queue::store::leave(
        &state.redis,
        &state.keys,
        place.concert_id,
        &place.user_id,
        place.ticket_id,
    )
    .await;
    // Also after an error: the script may have run (a reply lost to a timeout).
    state.line_views.forget(place.concert_id);
    left?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatsResponse {
    concert_id: i64,
    waiting: u64,
    active: u64,
    admitted_per_minute: f64,
    estimated_wait_seconds_at_back: u64,
    paused: bool,
}

/// `GET /api/v1/queue/{concertId}/stats`.
pub async fn get_queue_stats(
    State(state): State<AppState>,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<Json<QueueStatsResponse>> {
    let stats = queue::store::stats(&state.redis, &state.keys, concert_id)
        .await?
        .ok_or_else(GatewayError::concert_not_found)?;
    Ok(Json(QueueStatsResponse {
        concert_id,
        waiting: stats.waiting,
        active: stats.active,
        admitted_per_minute: (stats.pace.measured_per_second.unwrap_or(0.0) * 60.0 * 10.0).round()
            / 10.0,
        estimated_wait_seconds_at_back: stats.pace.estimated_wait_secs(stats.waiting),
        paused: stats.pace.paused,
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenConcertResponse {
    concert_id: i64,
    name: String,
    paused: bool,
    waiting: u64,
    active: u64,
}

#[derive(Debug, Serialize)]
pub struct OpenConcertsResponse {
    concerts: Vec<OpenConcertResponse>,
}

/// `GET /api/v1/queue/concerts`: the open concerts, for the index page.
pub async fn list_open_concerts(
    State(state): State<AppState>,
) -> Result<Json<OpenConcertsResponse>> {
    let concerts = queue::store::open_concerts(&state.redis, &state.keys, 100).await?;
    Ok(Json(OpenConcertsResponse {
        concerts: concerts
            .into_iter()
            .map(|c| OpenConcertResponse {
                concert_id: c.concert_id,
                name: c.name,
                paused: c.paused,
                waiting: c.waiting,
                active: c.active,
            })
            .collect(),
    }))
}
