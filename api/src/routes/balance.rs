//! Balance endpoints (account: the user's access or identity token, no session needed).

use axum::{extract::State, http::HeaderMap, Json};
use serde::{Deserialize, Serialize};
use shared::{http::ApiJson, ids::UserId};

use crate::{
    auth::AccountCaller,
    domain::{Amount, IdempotencyKey, StoredResponse},
    error::Result,
    openapi::problems,
    services::wallet::{self, ChargeResponse},
    state::AppState,
};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"userId": "fan-42", "balance": 80000}))]
pub struct BalanceResponse {
    user_id: UserId,
    /// In won; 0 for a user who never charged.
    #[schema(minimum = 0)]
    balance: i64,
}

problems!(GetBalanceProblems: InvalidAccessToken, ServiceUnavailable);

/// The caller's balance
#[utoipa::path(
    get,
    path = "/api/v1/balance",
    tag = "account",
    security(("accessToken" = []), ("identityToken" = [])),
    responses(
        (status = 200, description = "The balance (0 if never charged)", body = BalanceResponse),
        GetBalanceProblems,
    ),
)]
pub async fn get_balance(
    State(state): State<AppState>,
    caller: AccountCaller,
) -> Result<Json<BalanceResponse>> {
    let balance = wallet::balance(&state, &caller).await?;
    Ok(Json(BalanceResponse {
        user_id: caller.user().clone(),
        balance,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": 50000}))]
pub struct ChargeBalanceRequest {
    /// Won to add: an integer from 1 to `MAX_CHARGE` (`maximum`); anything else is
    /// `INVALID_AMOUNT`.
    // Any JSON value, so that a non-integer is `INVALID_AMOUNT` rather than `INVALID_BODY`.
    #[schema(value_type = i64, minimum = 1)]
    amount: serde_json::Value,
}

problems!(ChargeBalanceProblems: InvalidAmount, InvalidIdempotencyKey, InvalidBody, MalformedJson, InvalidAccessToken, IdempotencyInProgress, BodyTooLarge, UnsupportedMediaType, IdempotencyKeyReused, ServiceUnavailable);

/// Charge the balance
///
/// Adds `amount` to the caller's balance with its ledger entry. With an `Idempotency-Key`,
/// the same key and amount answer the first charge's response again and never charge twice.
#[utoipa::path(
    post,
    path = "/api/v1/balance/charge",
    tag = "account",
    security(("accessToken" = []), ("identityToken" = [])),
    params((
        "Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "Optional: 1 to 255 visible ASCII characters. The same key and body replay the stored response."
    )),
    request_body = ChargeBalanceRequest,
    responses(
        (status = 200, description = "Charged (or the stored response of the first request with this key)", body = ChargeResponse),
        ChargeBalanceProblems,
    ),
)]
pub async fn charge_balance(
    State(state): State<AppState>,
    caller: AccountCaller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ChargeBalanceRequest>,
) -> Result<StoredResponse> {
    let amount = Amount::parse(&req.amount, state.settings.max_charge)?;
    let key = IdempotencyKey::from_headers(&headers)?;
    wallet::charge(&state, &caller, amount, key.as_ref()).await
}
