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
    ids::{ConcertId, UserId},
};

use crate::{
    error::{ErrorCode, GatewayError, Result},
    queue::Place,
    state::AppState,
    waiting_room::Answer,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinQueueRequest {
    /// Parsed in the handler, so a bad one is `INVALID_USER_ID`, not `INVALID_BODY`.
    user_id: String,
    concert_id: ConcertId,
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

impl From<Answer> for QueueStatusResponse {
    fn from(answer: Answer) -> Self {
        let blank = Self {
            queue_token: None,
            status: QueueStatus::Expired,
            position: 0,
            estimated_wait_seconds: 0,
            poll_after_ms: 0,
            paused: false,
            access_token: None,
            access_token_expires_at: None,
        };
        match answer {
            Answer::Waiting {
                position,
                estimated_wait_secs,
                poll_after_ms,
                paused,
            } => Self {
                status: QueueStatus::Waiting,
                position,
                estimated_wait_seconds: estimated_wait_secs,
                poll_after_ms,
                paused,
                ..blank
            },
            Answer::Active {
                access_token,
                expires_at_ms,
            } => Self {
                status: QueueStatus::Active,
                poll_after_ms: 5_000,
                access_token: Some(access_token),
                access_token_expires_at: Some(
                    DateTime::<Utc>::from_timestamp_millis(expires_at_ms)
                        .unwrap_or_default()
                        .to_rfc3339_opts(SecondsFormat::Millis, true),
                ),
                ..blank
            },
            Answer::Expired => blank,
        }
    }
}

/// `POST /api/v1/queue/tokens`: a place in line (201), or the one the user has (200).
pub async fn join_queue(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<JoinQueueRequest>,
) -> Result<(StatusCode, Json<QueueStatusResponse>)> {
    let user = UserId::parse(&req.user_id).map_err(|_| {
        GatewayError::Invalid(
            ErrorCode::InvalidUserId,
            "userId must be 1 to 64 characters of A-Z a-z 0-9 _ -".into(),
        )
    })?;
    let entry = state.room.join(peer.ip(), user, req.concert_id).await?;
    let status = if entry.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = QueueStatusResponse::from(entry.answer);
    body.queue_token = Some(entry.queue_token);
    Ok((status, Json(body)))
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

/// `GET /api/v1/queue/status`: waiting with position, active with an access token, or expired.
pub async fn get_queue_status(
    State(state): State<AppState>,
    QueueTicket(place): QueueTicket,
) -> Result<Json<QueueStatusResponse>> {
    let answer = state.room.status(&place).await?;
    Ok(Json(answer.into()))
}

/// `DELETE /api/v1/queue/tokens`: gives up the place or ends the session.
pub async fn leave_queue(
    State(state): State<AppState>,
    QueueTicket(place): QueueTicket,
) -> Result<StatusCode> {
    state.room.leave(&place).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatsResponse {
    concert_id: ConcertId,
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
    let concert_id = open_concert_id(concert_id)?;
    let stats = state.room.stats(concert_id).await?;
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

/// A concert id from a path: a number that is no concert id has no open queue either (404,
/// as for any concert without one).
pub fn open_concert_id(id: i64) -> Result<ConcertId> {
    ConcertId::new(id).map_err(|_| GatewayError::concert_not_found())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenConcertResponse {
    concert_id: ConcertId,
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
    let concerts = state.room.open_concerts().await?;
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
