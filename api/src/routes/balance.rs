//! Balance endpoints (account: a valid access token, no active session needed).

use axum::{extract::State, http::HeaderMap, Json};
use serde::{Deserialize, Serialize};
use shared::{http::ApiJson, ids::UserId};

use crate::{
    auth::Caller,
    domain::{Amount, IdempotencyKey, StoredResponse},
    error::Result,
    services::wallet,
    state::AppState,
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceResponse {
    user_id: UserId,
    balance: i64,
}

/// `GET /api/v1/balance`.
pub async fn get_balance(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<BalanceResponse>> {
    let balance = wallet::balance(&state, &caller).await?;
    Ok(Json(BalanceResponse {
        user_id: caller.user().clone(),
        balance,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeBalanceRequest {
    /// Any JSON value, so that a non-integer is 400 `INVALID_AMOUNT` rather than `INVALID_BODY`.
    amount: serde_json::Value,
}

/// `POST /api/v1/balance/charge` with an optional `Idempotency-Key`.
pub async fn charge_balance(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ChargeBalanceRequest>,
) -> Result<StoredResponse> {
    let amount = Amount::parse(&req.amount, state.settings.max_charge)?;
    let key = IdempotencyKey::from_headers(&headers)?;
    wallet::charge(&state, &caller, amount, key.as_ref()).await
}
