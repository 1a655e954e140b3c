//! Who is calling: the access-token extractor (verified with public keys only) and the
//! rule that a booking token only books its own concert.

use axum::{extract::FromRequestParts, http::request::Parts};
use shared::{
    http::bearer_token,
    ids::{ConcertId, TicketId, UserId},
    token::AccessClaims,
};

use crate::{
    error::{ApiError, Result},
    state::AppState,
    store::holds::SessionOf,
};

/// The verified claims of the bearer access token; 401 `INVALID_ACCESS_TOKEN` otherwise.
#[derive(Debug, Clone)]
pub struct Caller(pub AccessClaims);

impl Caller {
    pub fn user(&self) -> &UserId {
        &self.0.sub
    }

    /// The concert the token's session admits to.
    pub fn concert_id(&self) -> ConcertId {
        self.0.cid
    }

    /// The ticket of the token's session (its `jti`).
    pub fn ticket_id(&self) -> TicketId {
        self.0.jti
    }

    /// The session the token books with, for the checks in Redis.
    pub fn session(&self) -> SessionOf<'_> {
        SessionOf {
            user: self.user(),
            ticket: self.ticket_id(),
        }
    }

    /// The token's concert if it is `concert_id`; 403 `WRONG_CONCERT` otherwise.
    pub fn ensure_concert(&self, concert_id: i64) -> Result<ConcertId> {
        if self.0.cid.get() == concert_id {
            Ok(self.0.cid)
        } else {
            Err(ApiError::wrong_concert())
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer_token(parts).ok_or(ApiError::invalid_access_token(
            "a bearer access token is required",
        ))?;
        state
            .verifier
            .verify(token)
            .map(Caller)
            .map_err(|_| ApiError::invalid_access_token("the access token is invalid or expired"))
    }
}
