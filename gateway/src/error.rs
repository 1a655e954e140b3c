//! Every problem `code` the gateway answers with, and the error type every handler returns.

use std::borrow::Cow;

use axum::{http::StatusCode, response::IntoResponse};
use shared::http::Problem;

/// Every problem `code` the gateway answers with, each with the one status it comes with.
/// Some are written by the shared HTTP plumbing (bad JSON, the body limit, load shedding);
/// they are listed here too, so the OpenAPI document names every code a client can get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorCode {
    InvalidUserId,
    InvalidBody,
    MalformedJson,
    InvalidPath,
    InvalidQuery,
    InvalidSettings,
    InvalidQueueToken,
    InvalidIdentityToken,
    IdentityTokenExpired,
    Unauthorized,
    ConcertNotFound,
    DrawNotFound,
    SoldOut,
    QueueClosed,
    OpeningPassed,
    NotFound,
    MethodNotAllowed,
    BodyTooLarge,
    UnsupportedMediaType,
    RateLimited,
    InternalError,
    ServiceUnavailable,
    QueueRestoring,
    Overloaded,
    Timeout,
}

impl ErrorCode {
    pub const ALL: [Self; 25] = [
        Self::InvalidUserId,
        Self::InvalidBody,
        Self::MalformedJson,
        Self::InvalidPath,
        Self::InvalidQuery,
        Self::InvalidSettings,
        Self::InvalidQueueToken,
        Self::InvalidIdentityToken,
        Self::IdentityTokenExpired,
        Self::Unauthorized,
        Self::ConcertNotFound,
        Self::DrawNotFound,
        Self::SoldOut,
        Self::QueueClosed,
        Self::OpeningPassed,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::BodyTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::InternalError,
        Self::ServiceUnavailable,
        Self::QueueRestoring,
        Self::Overloaded,
        Self::Timeout,
    ];

    /// The stable UPPER_SNAKE name clients match on.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUserId => "INVALID_USER_ID",
            Self::InvalidBody => "INVALID_BODY",
            Self::MalformedJson => "MALFORMED_JSON",
            Self::InvalidPath => "INVALID_PATH",
            Self::InvalidQuery => "INVALID_QUERY",
            Self::InvalidSettings => "INVALID_SETTINGS",
            Self::InvalidQueueToken => "INVALID_QUEUE_TOKEN",
            Self::InvalidIdentityToken => "INVALID_IDENTITY_TOKEN",
            Self::IdentityTokenExpired => "IDENTITY_TOKEN_EXPIRED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::ConcertNotFound => "CONCERT_NOT_FOUND",
            Self::DrawNotFound => "DRAW_NOT_FOUND",
            Self::SoldOut => "SOLD_OUT",
            Self::QueueClosed => "QUEUE_CLOSED",
            Self::OpeningPassed => "OPENING_PASSED",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::BodyTooLarge => "BODY_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RateLimited => "RATE_LIMITED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::QueueRestoring => "QUEUE_RESTORING",
            Self::Overloaded => "OVERLOADED",
            Self::Timeout => "TIMEOUT",
        }
    }

    /// The status of every problem with this code.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidUserId
            | Self::InvalidBody
            | Self::MalformedJson
            | Self::InvalidPath
            | Self::InvalidQuery
            | Self::InvalidSettings => StatusCode::BAD_REQUEST,
            Self::InvalidQueueToken
            | Self::InvalidIdentityToken
            | Self::IdentityTokenExpired
            | Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::ConcertNotFound | Self::DrawNotFound | Self::NotFound => StatusCode::NOT_FOUND,
            Self::SoldOut | Self::QueueClosed | Self::OpeningPassed => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable | Self::QueueRestoring | Self::Overloaded | Self::Timeout => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// When a client gets it, for the OpenAPI document.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::InvalidUserId => "`userId` is not 1 to 64 characters of A-Z a-z 0-9 _ -",
            Self::InvalidBody => {
                "the JSON does not fit the schema (a field missing, unknown or out of range)"
            }
            Self::MalformedJson => "the body is not JSON",
            Self::InvalidPath => "a path parameter is not of its type",
            Self::InvalidQuery => "a query parameter is not of its type",
            Self::InvalidSettings => "a setting is out of its range (the detail names it)",
            Self::InvalidQueueToken => "no queue token, or one this gateway did not seal",
            Self::InvalidIdentityToken => {
                "no identity token, or one that is not a valid token of a trusted login \
                 (signature, key, algorithm, issuer, audience, `sub`, not yet valid)"
            }
            Self::IdentityTokenExpired => "the identity token has expired: sign in again",
            Self::Unauthorized => "no admin token, or a wrong one",
            Self::ConcertNotFound => "the concert has no open queue",
            Self::DrawNotFound => "the concert's sale has no pre-queue draw (it opened at once)",
            Self::SoldOut => "every seat of the concert is sold: its queue is closed",
            Self::QueueClosed => {
                "the concert's queue is closed (by the promoter, or every date has started)"
            }
            Self::OpeningPassed => {
                "the sale has opened already (or opened at creation): its opening cannot move"
            }
            Self::NotFound => "no such resource",
            Self::MethodNotAllowed => "the path does not take this method",
            Self::BodyTooLarge => "the body is larger than `MAX_BODY_BYTES`",
            Self::UnsupportedMediaType => {
                "the body is not sent as `Content-Type: application/json`"
            }
            Self::RateLimited => {
                "more than `JOIN_RATE_PER_SECOND` joins a second from this address"
            }
            Self::InternalError => "an unexpected error (logged by the gateway)",
            Self::ServiceUnavailable => "Redis is unreachable (see `/health/ready`)",
            Self::QueueRestoring => {
                "the concert's queue is not in Redis (it lost its data): the api opens it again \
                 within seconds, and the place comes back at the next poll; retry after \
                 `Retry-After`"
            }
            Self::Overloaded => "more than `MAX_IN_FLIGHT` requests in flight",
            Self::Timeout => "the request took longer than `REQUEST_TIMEOUT_MS`",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{1}")]
    Invalid(ErrorCode, Cow<'static, str>),
    #[error("{1}")]
    NotFound(ErrorCode, &'static str),
    #[error("{1}")]
    Unauthorized(ErrorCode, &'static str),
    #[error("{1}")]
    Conflict(ErrorCode, &'static str),
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// The queue a token names is missing from Redis (lost, not yet opened again).
    #[error("queue being restored")]
    Restoring,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

impl GatewayError {
    /// The same error again, for each of the requests that shared one failed call (a batch).
    pub fn replicate(&self) -> Self {
        match self {
            Self::Invalid(code, detail) => Self::Invalid(*code, detail.clone()),
            Self::NotFound(code, detail) => Self::NotFound(*code, detail),
            Self::Unauthorized(code, detail) => Self::Unauthorized(*code, detail),
            Self::Conflict(code, detail) => Self::Conflict(*code, detail),
            Self::RateLimited { retry_after_secs } => Self::RateLimited {
                retry_after_secs: *retry_after_secs,
            },
            Self::Unavailable(cause) => Self::Unavailable(cause.clone()),
            Self::Restoring => Self::Restoring,
            Self::Unexpected(e) => Self::Unexpected(anyhow::anyhow!("{e:#}")),
        }
    }

    /// 409 `SOLD_OUT` or `QUEUE_CLOSED`: the queue closed.
    pub fn closed(closure: crate::queue::Closure) -> Self {
        match closure {
            crate::queue::Closure::SoldOut => {
                Self::Conflict(ErrorCode::SoldOut, "every seat of this concert is sold")
            }
            crate::queue::Closure::Closed => {
                Self::Conflict(ErrorCode::QueueClosed, "this concert's queue is closed")
            }
        }
    }

    /// 404 `CONCERT_NOT_FOUND`: the concert has no open queue.
    pub fn concert_not_found() -> Self {
        Self::NotFound(ErrorCode::ConcertNotFound, "no open queue for this concert")
    }
}

impl From<redis::RedisError> for GatewayError {
    fn from(e: redis::RedisError) -> Self {
        if shared::redis_pool::is_transient(&e) {
            Self::Unavailable(e.to_string())
        } else {
            Self::Unexpected(anyhow::Error::new(e).context("redis"))
        }
    }
}

/// The problem of `code` at its status.
fn problem(code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Problem {
    Problem::new(code.status(), code.as_str(), detail)
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> axum::response::Response {
        let problem = match self {
            Self::Invalid(code, detail) => problem(code, detail),
            Self::NotFound(code, detail)
            | Self::Unauthorized(code, detail)
            | Self::Conflict(code, detail) => problem(code, detail),
            Self::RateLimited { retry_after_secs } => {
                problem(ErrorCode::RateLimited, "too many joins from this address")
                    .retry_after(retry_after_secs)
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = %cause, "dependency unavailable");
                problem(
                    ErrorCode::ServiceUnavailable,
                    "the queue is temporarily unavailable, retry shortly",
                )
                .retry_after(1)
            }
            Self::Restoring => problem(
                ErrorCode::QueueRestoring,
                "this concert's queue is being restored; your place comes back when it is",
            )
            .retry_after(1),
            Self::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error");
                problem(ErrorCode::InternalError, "an unexpected error occurred")
            }
        };
        problem.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_the_shared_plumbing_writes_have_the_same_names_and_statuses() {
        for (status, code) in [
            (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed),
            (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BodyTooLarge),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
            ),
            (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError),
        ] {
            assert_eq!(Problem::for_status(status).code, code.as_str());
            assert_eq!(code.status(), status, "{code}");
        }
        assert_eq!(Problem::internal().code, ErrorCode::InternalError.as_str());
        assert_eq!(
            Problem::unavailable("x").code,
            ErrorCode::ServiceUnavailable.as_str()
        );
    }

    #[test]
    fn every_code_is_listed_once_in_upper_snake_case() {
        let names: std::collections::BTreeSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for name in names {
            assert!(name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
        }
    }
}
