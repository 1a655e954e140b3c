//! The gateway's error type: each variant is what the client gets, written as problem+json.

use axum::{http::StatusCode, response::IntoResponse};
use shared::http::Problem;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("{1}")]
    NotFound(&'static str, &'static str),
    #[error("{1}")]
    Unauthorized(&'static str, &'static str),
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

impl GatewayError {
    /// The same error again, for each of the requests that shared one failed call (a batch).
    pub fn replicate(&self) -> Self {
        match self {
            Self::Invalid(code, detail) => Self::Invalid(code, detail.clone()),
            Self::NotFound(code, detail) => Self::NotFound(code, detail),
            Self::Unauthorized(code, detail) => Self::Unauthorized(code, detail),
            Self::RateLimited { retry_after_secs } => Self::RateLimited {
                retry_after_secs: *retry_after_secs,
            },
            Self::Unavailable(cause) => Self::Unavailable(cause.clone()),
            Self::Unexpected(e) => Self::Unexpected(anyhow::anyhow!("{e:#}")),
        }
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

impl IntoResponse for GatewayError {
    fn into_response(self) -> axum::response::Response {
        let problem = match self {
            Self::Invalid(code, detail) => Problem::bad_request(code, detail),
            Self::NotFound(code, detail) => Problem::not_found(code, detail),
            Self::Unauthorized(code, detail) => {
                Problem::new(StatusCode::UNAUTHORIZED, code, detail)
            }
            Self::RateLimited { retry_after_secs } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "too many joins from this address",
            )
            .retry_after(retry_after_secs),
            Self::Unavailable(cause) => {
                tracing::warn!(error = %cause, "dependency unavailable");
                Problem::unavailable("the queue is temporarily unavailable, retry shortly")
            }
            Self::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error");
                Problem::internal()
            }
        };
        problem.into_response()
    }
}
