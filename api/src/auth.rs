//! Who is calling: the access-token extractor (verified with public keys only) and the
//! rule that a booking token only books its own concert.

use axum::{extract::FromRequestParts, http::request::Parts};
use shared::{http::bearer_token, ids::TicketId, token::AccessClaims};

use crate::{
    error::{ApiError, Result},
    routes::AppState,
};

/// The verified claims of the bearer access token; 401 `INVALID_ACCESS_TOKEN` otherwise.
#[derive(Debug, Clone)]
pub struct Caller(pub AccessClaims);

impl Caller {
    pub fn user_id(&self) -> &str {
        self.0.sub.as_str()
    }

    pub fn concert_id(&self) -> i64 {
        self.0.cid.get()
    }

    pub fn ticket_id(&self) -> TicketId {
        self.0.jti
    }

    /// 403 `WRONG_CONCERT` unless the token was issued for `concert_id`.
    pub fn ensure_concert(&self, concert_id: i64) -> Result<()> {
        if self.0.cid.get() == concert_id {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "WRONG_CONCERT",
                "this access token is for another concert",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer_token(parts)
            .ok_or(ApiError::Unauthorized("a bearer access token is required"))?;
        state
            .verifier
            .verify(token)
            .map(Caller)
            .map_err(|_| ApiError::Unauthorized("the access token is invalid or expired"))
    }
}

/// 403 `SESSION_NOT_ACTIVE`: the waiting-room session behind the token has ended.
pub const SESSION_NOT_ACTIVE: ApiError = ApiError::Forbidden(
    "SESSION_NOT_ACTIVE",
    "the waiting-room session has ended; join the queue again",
);

/// [`SESSION_NOT_ACTIVE`] unless the session checked in Redis is still active.
pub fn ensure_session(active: bool) -> Result<()> {
    if active {
        Ok(())
    } else {
        Err(SESSION_NOT_ACTIVE)
    }
}
