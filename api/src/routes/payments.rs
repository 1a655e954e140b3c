//! Payment of a held reservation (booking), with a required `Idempotency-Key`.

use axum::{extract::State, http::HeaderMap};
use serde::{Deserialize, Serialize};
use shared::http::ApiJson;
use uuid::Uuid;

use super::AppState;
use crate::{
    auth::{ensure_session, Caller},
    domain::{IdempotencyKey, RequestHash},
    error::{ApiError, Result},
    store::{
        holds::{self, now_ms, HeldReservation},
        idempotency::{self, Stored},
        payments::{self, PaymentOrder},
    },
};

#[derive(Debug, Deserialize, Serialize)]
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
) -> Result<Stored> {
    let key = IdempotencyKey::required(&headers)?;
    let hash = RequestHash::of("POST /api/v1/payments", &req);
    // Paying ends the session and confirms the hold, so a duplicate of a request that
    // finished meanwhile fails the checks (session ended, hold confirmed or claimed, key's
    // lock taken): when it does, the stored response, if any, is the answer.
    let paid = match payable(&state, &caller, req.reservation_id).await {
        Ok(reservation) => {
            let order = PaymentOrder {
                user_id: caller.user_id(),
                concert_id: caller.concert_id(),
                key: &key,
                hash: &hash,
                reservation: &reservation,
            };
            payments::pay_reservation(&state, &order)
                .await
                .map(|stored| (stored, reservation))
        }
        Err(e) => Err(e),
    };
    let (stored, reservation) = match paid {
        Ok(paid) => paid,
        Err(e) => {
            return match idempotency::find(&state.db, caller.user_id(), &key, &hash).await? {
                Some(stored) => Ok(stored),
                None => Err(e),
            };
        }
    };
    let payment_id = stored
        .body
        .get("paymentId")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    // The sale is committed; cleaning Redis up is best effort (holds lapse by themselves).
    if let Err(e) = holds::confirm_reservation(
        &state.redis,
        &state.keys,
        caller.concert_id(),
        &reservation,
        caller.ticket_id(),
        &payment_id,
        now_ms(),
    )
    .await
    {
        tracing::warn!(error = %e, reservation.id = %reservation.reservation_id, "payment committed but Redis clean-up failed");
    }
    Ok(stored)
}

/// The reservation, if the session is active and it is still held (one Redis round trip).
async fn payable(
    state: &AppState,
    caller: &Caller,
    reservation_id: Uuid,
) -> Result<HeldReservation> {
    let (session, reservation) = holds::session_and_reservation(
        &state.redis,
        &state.keys,
        caller.concert_id(),
        caller.user_id(),
        caller.ticket_id(),
        &reservation_id.to_string(),
    )
    .await?;
    ensure_session(session.active)?;
    let Some(reservation) = reservation else {
        return Err(
            match payments::find_confirmed(state, caller.user_id(), reservation_id).await? {
                Some(_) => payments::already_confirmed(),
                None => ApiError::NotFound("RESERVATION_NOT_FOUND", "no such reservation"),
            },
        );
    };
    match reservation.visible_status(now_ms()) {
        "HELD" => Ok(reservation),
        "CONFIRMED" => Err(payments::already_confirmed()),
        _ => Err(ApiError::Conflict(
            "HOLD_EXPIRED",
            "the hold has lapsed or was released; hold the seats again".into(),
        )),
    }
}
