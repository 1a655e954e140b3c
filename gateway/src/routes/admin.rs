//! Admin endpoints of the gateway: run-time queue settings.

use axum::{extract::State, Json};
use shared::{
    config::QueueSettings,
    http::{Admin, ApiJson, ApiPath},
};

use super::queue::open_concert_id;
use crate::{
    error::{ErrorCode, GatewayError},
    state::AppState,
};

/// `PUT /api/v1/admin/queues/{concertId}`: admit per tick, tick length, max active,
/// session TTL and paused, validated, applied from the next tick on.
pub async fn update_queue_settings(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(concert_id): ApiPath<i64>,
    ApiJson(settings): ApiJson<QueueSettings>,
) -> Result<Json<QueueSettings>, GatewayError> {
    settings
        .validate()
        .map_err(|m| GatewayError::Invalid(ErrorCode::InvalidSettings, m.into()))?;
    let concert_id = open_concert_id(concert_id)?;
    state.room.change_settings(concert_id, &settings).await?;
    tracing::info!(
        concert.id = concert_id.get(),
        ?settings,
        "queue settings changed"
    );
    Ok(Json(settings))
}
