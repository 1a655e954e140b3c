//! Who the user is: the identity-token extractor, and the development login (`DEV_LOGIN`).

use axum::{extract::FromRequestParts, http::request::Parts, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    http::{bearer_token, ApiJson},
    identity::IdentityError,
    ids::UserId,
    token::SigningKey,
};
use utoipa::ToSchema;

use super::openapi::problems;
use crate::{
    error::{ErrorCode, GatewayError, Result},
    state::AppState,
};

/// How long a development login's identity token is valid.
pub const DEV_LOGIN_TTL_SECS: i64 = 3600;

/// The user a bearer identity token names, once verified (a cached token is a hash lookup).
/// 401 `INVALID_IDENTITY_TOKEN`, or `IDENTITY_TOKEN_EXPIRED`, for anything else.
pub struct SignedIn(pub UserId);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer_token(parts).ok_or(GatewayError::Unauthorized(
            ErrorCode::InvalidIdentityToken,
            "an identity token is required: sign in first",
        ))?;
        match state.identity.verify(token).await {
            Ok(identity) => Ok(Self(identity.user_id)),
            Err(IdentityError::Expired) => Err(GatewayError::Unauthorized(
                ErrorCode::IdentityTokenExpired,
                "the identity token has expired: sign in again",
            )),
            Err(IdentityError::KeysUnavailable(cause)) => Err(GatewayError::Unavailable(cause)),
            // Which check failed is not told: it would only help someone forging tokens.
            Err(_) => Err(GatewayError::Unauthorized(
                ErrorCode::InvalidIdentityToken,
                "the identity token is not valid",
            )),
        }
    }
}

/// The development login's key; 404 `NOT_FOUND` (as for any unknown path) when `DEV_LOGIN`
/// is off. Read before the body, so a gateway without it says nothing else.
pub struct DevLogin(SigningKey);

impl FromRequestParts<AppState> for DevLogin {
    type Rejection = GatewayError;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self> {
        state
            .dev_login
            .clone()
            .map(DevLogin)
            .ok_or(GatewayError::NotFound(
                ErrorCode::NotFound,
                "no such resource",
            ))
    }
}

/// Whom to sign in as.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"userId": "fan-0042"}))]
pub struct DevLoginRequest {
    // A `String` parsed in the handler, so a bad one is `INVALID_USER_ID`, not `INVALID_BODY`.
    /// 1 to 64 characters of A-Z a-z 0-9 _ - (else 400 `INVALID_USER_ID`).
    #[schema(value_type = UserId)]
    user_id: String,
}

/// An identity token, as a login service would issue it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = DevLogin)]
pub struct DevLoginResponse {
    /// EdDSA JWT (`iss` `ticketing-dev-login`, `aud` `ticketing`, `sub` the user id); send it
    /// as `Authorization: Bearer` to join, and to the api's account endpoints.
    #[schema(min_length = 1)]
    identity_token: String,
    /// When it expires (an hour after sign-in).
    #[schema(format = DateTime)]
    expires_at: String,
}

/// The user id of a request body, or 400 `INVALID_USER_ID`.
pub fn parse_user_id(user_id: &str) -> Result<UserId> {
    UserId::parse(user_id).map_err(|_| {
        GatewayError::Invalid(
            ErrorCode::InvalidUserId,
            "userId must be 1 to 64 characters of A-Z a-z 0-9 _ -".into(),
        )
    })
}

problems!(DevLoginProblems: InvalidUserId, InvalidBody, MalformedJson, NotFound, BodyTooLarge,
    UnsupportedMediaType);

/// Development sign-in (only with `DEV_LOGIN`)
///
/// Stands in for the promoter's login service in development, demos and load tests: an
/// identity token for any user id, valid for an hour, that this gateway and the api trust.
/// It exists only when the gateway runs with `DEV_LOGIN=1` (else 404 `NOT_FOUND`); never in
/// production, where users sign in with the provider of `IDENTITY_JWKS_URL`.
#[utoipa::path(post, path = "/api/v1/dev/login", tag = "identity",
    request_body = DevLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = DevLoginResponse),
        DevLoginProblems,
    ))]
pub async fn dev_login(
    DevLogin(key): DevLogin,
    ApiJson(req): ApiJson<DevLoginRequest>,
) -> Result<Json<DevLoginResponse>> {
    let user = parse_user_id(&req.user_id)?;
    let (token, expires_at) = shared::identity::dev_login_token(&key, &user, DEV_LOGIN_TTL_SECS)
        .map_err(|e| GatewayError::Unexpected(anyhow::anyhow!("signing an identity token: {e}")))?;
    Ok(Json(DevLoginResponse {
        identity_token: token,
        expires_at: DateTime::<Utc>::from_timestamp(expires_at, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    }))
}
