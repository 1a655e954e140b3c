//! Balance endpoints (account: a valid access token, no active session needed).

use axum::{extract::State, http::HeaderMap, Json};
use serde::{Deserialize, Serialize};
use shared::http::ApiJson;

use super::AppState;
use crate::{
    auth::Caller,
    domain::{Amount, IdempotencyKey},
    error::Result,
    store::{idempotency::Stored, wallet},
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceResponse {
    user_id: String,
    balance: i64,
}

/// `GET /api/v1/balance`.
pub async fn get_balance(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<BalanceResponse>> {
    let balance = wallet::find_balance(&state.db, caller.user_id()).await?;
    Ok(Json(BalanceResponse {
        user_id: caller.user_id().to_owned(),
        balance,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeBalanceRequest {
    amount: serde_json::Value,
}

/// `POST /api/v1/balance/charge` with an optional `Idempotency-Key`.
pub async fn charge_balance(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ChargeBalanceRequest>,
) -> Result<Stored> {
    let amount = Amount::parse(&req.amount, state.settings.max_charge)?;
    let key = IdempotencyKey::from_headers(&headers)?;
    wallet::charge_wallet(&state.db, caller.user_id(), amount, key.as_ref()).await
}
