//! A step the booking use cases share: bringing back a session Redis lost. Every booking
//! request reads the session in Redis first; only when that read says "not active" does it
//! come here, so the normal path never touches Postgres for it.

use chrono::DateTime;

use crate::{auth::Caller, error::Result, state::AppState, store::payments};

/// Brings back the caller's session if Redis lost it (see `shared::session::restore`): the
/// token's ticket is from before the loss, the user has no session now, it has not come back
/// already, the room has space, and (checked here, in Postgres) the user paid nothing for this
/// concert since the token was issued: a payment ends the session. The session runs until
/// the token's expiry. True when it came back: the request goes on as if it had been active.
pub async fn restore_lost(state: &AppState, caller: &Caller) -> Result<bool> {
    let claims = &caller.0;
    let Some(issued_at) = DateTime::from_timestamp(claims.iat, 0) else {
        return Ok(false);
    };
    if payments::paid_since(&state.db, &claims.sub, claims.cid, issued_at).await? {
        return Ok(false);
    }
    let k = state.keys.concert(claims.cid.get());
    let mut conn = state.redis.get().await?;
    Ok(shared::session::restore(
        &mut conn,
        &k,
        &claims.sub,
        claims.jti,
        claims.exp.saturating_mul(1000),
    )
    .await?)
}
