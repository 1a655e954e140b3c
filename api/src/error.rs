//! The api's error type: each variant is what the client gets, written as problem+json.
//! Infrastructure errors are mapped deliberately: pool timeouts and unreachable Redis or
//! Postgres are 503, everything unforeseen is a logged 500 with an opaque body.

use axum::{http::StatusCode, response::IntoResponse};
use shared::http::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{1}")]
    Forbidden(&'static str, &'static str),
    #[error("{1}")]
    NotFound(&'static str, &'static str),
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("insufficient balance")]
    InsufficientBalance,
    #[error("{1}")]
    Unprocessable(&'static str, &'static str),
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => Self::Unavailable(e.to_string()),
            // Postgres shutting down, restarting or refusing connections, or a statement
            // cancelled at `statement_timeout` (57014).
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("57P") || c.starts_with("08") || c == "57014"
                }) =>
            {
                Self::Unavailable(e.to_string())
            }
            _ => Self::Unexpected(anyhow::Error::new(e).context("postgres")),
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        if shared::redis_pool::is_transient(&e) {
            Self::Unavailable(e.to_string())
        } else {
            Self::Unexpected(anyhow::Error::new(e).context("redis"))
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let problem = match self {
            Self::Invalid(code, detail) => Problem::bad_request(code, detail),
            Self::Unauthorized(detail) => {
                Problem::new(StatusCode::UNAUTHORIZED, "INVALID_ACCESS_TOKEN", detail)
            }
            Self::Forbidden(code, detail) => Problem::new(StatusCode::FORBIDDEN, code, detail),
            Self::NotFound(code, detail) => Problem::not_found(code, detail),
            Self::Conflict(code, detail) => Problem::new(StatusCode::CONFLICT, code, detail),
            Self::InsufficientBalance => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "INSUFFICIENT_BALANCE",
                "the balance does not cover this payment; charge it and retry",
            ),
            Self::Unprocessable(code, detail) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = %cause, "dependency unavailable");
                Problem::unavailable("the service is temporarily unavailable, retry shortly")
            }
            Self::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error");
                Problem::internal()
            }
        };
        problem.into_response()
    }
}

/// True when `e` violates the constraint named `name` (realworld's `on_constraint`).
pub fn is_violation(e: &sqlx::Error, name: &str) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.constraint() == Some(name))
}
