//! Who is calling: the access-token extractor of the booking endpoints (verified with public
//! keys only), the rule that a booking token only books its own concert, and the account
//! extractor that also takes the user's identity token.

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

/// The user of an account endpoint: the `sub` of a valid access token or, failing that, of a
/// valid identity token (the login provider's); 401 `INVALID_ACCESS_TOKEN` otherwise. So a
/// fan charges the wallet before the sale and reads or cancels a hold after the session ended.
#[derive(Debug, Clone)]
pub struct AccountCaller {
    user: UserId,
    /// The concert of an access token; an identity token names none.
    concert: Option<ConcertId>,
}

impl AccountCaller {
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The concert of the caller's access token, if an access token it was.
    pub fn concert_id(&self) -> Option<ConcertId> {
        self.concert
    }
}

impl FromRequestParts<AppState> for AccountCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer_token(parts).ok_or(ApiError::invalid_access_token(
            "a bearer access token or identity token is required",
        ))?;
        // The access token first: verifying it is local and cached, and it is what the
        // booking pages send.
        if let Ok(claims) = state.verifier.verify(token) {
            return Ok(Self {
                user: claims.sub,
                concert: Some(claims.cid),
            });
        }
        match state.identity.verify(token).await {
            Ok(identity) => Ok(Self {
                user: identity.user_id,
                concert: None,
            }),
            Err(e) => {
                tracing::debug!(error = %e, "bearer token refused on an account endpoint");
                Err(ApiError::invalid_access_token(
                    "the token is neither a valid access token nor a valid identity token",
                ))
            }
        }
    }
}
