//! Payment of a held reservation (booking), with a required `Idempotency-Key`.

use axum::{extract::State, http::HeaderMap};
use serde::Deserialize;
use shared::http::ApiJson;
use uuid::Uuid;

use crate::{
    auth::Caller,
    domain::{IdempotencyKey, StoredResponse},
    error::Result,
    openapi::problems,
    services::checkout::{self, PaymentResponse},
    state::AppState,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"reservationId": "00000000-0001-8a3b-9c4d-5e6f7a8b9c0d"}))]
pub struct PayReservationRequest {
    /// A held reservation of the caller.
    reservation_id: Uuid,
}

problems!(PayReservationProblems: InvalidIdempotencyKey, InvalidBody, MalformedJson, InvalidAccessToken, InsufficientBalance, SessionNotActive, ReservationNotFound, HoldExpired, SeatUnavailable, AlreadyConfirmed, IdempotencyInProgress, PaymentInProgress, TicketLimit, ScheduleStarted, BodyTooLarge, UnsupportedMediaType, IdempotencyKeyReused, ServiceUnavailable);

/// Pay a held reservation from the balance
///
/// Sells the held seats at their prices in Postgres, debits the balance and ends the
/// waiting-room session, all or nothing. The same `Idempotency-Key` and body answer the first
/// payment's response again (even after the session ended) and never pay twice.
#[utoipa::path(
    post,
    path = "/api/v1/payments",
    tag = "booking",
    security(("accessToken" = [])),
    params((
        "Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "Required: 1 to 255 visible ASCII characters, unique per payment. The same key and body replay the stored response."
    )),
    request_body = PayReservationRequest,
    responses(
        (status = 201, description = "Paid (or the stored response of the first request with this key)", body = PaymentResponse),
        PayReservationProblems,
    ),
)]
pub async fn pay_reservation(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PayReservationRequest>,
) -> Result<StoredResponse> {
    let key = IdempotencyKey::required(&headers)?;
    checkout::pay(&state, &caller, req.reservation_id, &key).await
}
