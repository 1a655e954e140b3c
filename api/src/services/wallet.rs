//! The caller's balance, and charging it once per `Idempotency-Key`.

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use shared::ids::UserId;

use crate::{
    auth::AccountCaller,
    domain::{Amount, IdempotencyKey, RequestHash, StoredResponse},
    error::{ApiError, ErrorCode, Result},
    state::AppState,
    store::{
        idempotency::{self, Begun},
        wallet,
    },
};

/// What a stored charge response was for (with the amount, see [`RequestHash`]).
const ENDPOINT: &str = "POST /api/v1/balance/charge";

/// The caller's balance in won; 0 for a user who never charged.
pub async fn balance(state: &AppState, caller: &AccountCaller) -> Result<i64> {
    state
        .balances
        .balance(&state.db, &state.redis, &state.keys, caller.user())
        .await
}

/// A completed charge: the answer to the request, stored under its key (if any) and given
/// again to every duplicate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "userId": "fan-42",
    "chargedAmount": 50000,
    "balance": 80000,
    "chargedAt": "2027-01-01T18:00:00.123Z"
}))]
pub struct ChargeResponse {
    user_id: UserId,
    #[schema(minimum = 1)]
    charged_amount: i64,
    /// The balance after this charge, in won.
    #[schema(minimum = 0)]
    balance: i64,
    #[schema(format = DateTime)]
    charged_at: String,
}

/// Adds `amount` to the caller's balance with its ledger entry; with a key, once: the same
/// key and amount replay the first answer (200 and a [`ChargeResponse`]).
pub async fn charge(
    state: &AppState,
    caller: &AccountCaller,
    amount: Amount,
    key: Option<&IdempotencyKey>,
) -> Result<StoredResponse> {
    let user = caller.user();
    let hash = RequestHash::of(ENDPOINT, &amount.get());
    if let Some(key) = key {
        // A finished request with the key costs no transaction.
        if let Some(prior) = idempotency::find(&state.db, user, key, &hash).await? {
            return prior.replay();
        }
    }
    let mut tx = match idempotency::begin(&state.db, user, key, &hash).await? {
        Begun::Fresh(tx) => tx,
        Begun::Used(prior) => return prior.replay(),
        Begun::Busy => return Err(ApiError::idempotency_in_progress()),
    };
    let balance = wallet::credit_wallet(&mut tx, user, amount)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidAmount,
                "the balance would exceed its maximum",
            )
        })?;
    let body = serde_json::to_value(ChargeResponse {
        user_id: user.clone(),
        charged_amount: amount.get(),
        balance,
        charged_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
    })
    .map_err(|e| ApiError::Unexpected(e.into()))?;
    let response = StoredResponse { status: 200, body };
    if let (false, Some(key)) = (
        idempotency::save(&mut tx, user, key, &hash, &response).await?,
        key,
    ) {
        // A duplicate credited and committed first: this credit rolls back, its answer wins.
        tx.rollback().await?;
        return match idempotency::find(&state.db, user, key, &hash).await? {
            Some(prior) => prior.replay(),
            None => Err(ApiError::idempotency_in_progress()),
        };
    }
    tx.commit().await?;
    wallet::balance_changed(&state.redis, &state.keys, user).await;
    Ok(response)
}
