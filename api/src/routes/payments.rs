//! Payment of a held reservation (booking), with a required `Idempotency-Key`.

use axum::{extract::State, http::HeaderMap};
use serde::Deserialize;
use shared::http::ApiJson;
use uuid::Uuid;

use crate::{
    auth::Caller,
    domain::{IdempotencyKey, StoredResponse},
    error::Result,
    services::checkout,
    state::AppState,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayReservationRequest {
    reservation_id: Uuid,
}

/// `POST /api/v1/payments`: 201 with the payment; the same key and body replays it.
pub async fn pay_reservation(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PayReservationRequest>,
) -> Result<StoredResponse> {
    let key = IdempotencyKey::required(&headers)?;
    checkout::pay(&state, &caller, req.reservation_id, &key).await
}
