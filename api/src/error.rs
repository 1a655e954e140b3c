//! The api's errors: [`ErrorCode`], every problem `code` the api answers with, and
//! [`ApiError`], the error every handler returns, written as problem+json. Infrastructure
//! errors are mapped deliberately: pool timeouts and unreachable Redis or Postgres are 503,
//! everything unforeseen is a logged 500 with an opaque body.

use std::borrow::Cow;

use axum::{http::StatusCode, response::IntoResponse};
use shared::http::Problem;

/// Every problem `code` of the api, each with its one status. The codes written by the shared
/// HTTP layer (malformed bodies and paths, the admin token, limits, load shedding) are here too,
/// so the OpenAPI document lists them from the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidBody,
    MalformedJson,
    InvalidPath,
    InvalidQuery,
    InvalidSeatSelection,
    InvalidAmount,
    InvalidIdempotencyKey,
    InvalidConcert,
    InvalidOpensAt,
    InvalidAccessToken,
    Unauthorized,
    InsufficientBalance,
    SessionNotActive,
    WrongConcert,
    ConcertNotFound,
    ScheduleNotFound,
    SeatNotFound,
    ReservationNotFound,
    SeatUnavailable,
    HoldExists,
    HoldExpired,
    AlreadyConfirmed,
    PaymentInProgress,
    IdempotencyInProgress,
    TicketLimit,
    ScheduleStarted,
    BodyTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    InternalError,
    ServiceUnavailable,
    Overloaded,
    Timeout,
}

impl ErrorCode {
    /// Every code, in the order of the enum.
    pub const ALL: [ErrorCode; 33] = [
        Self::InvalidBody,
        Self::MalformedJson,
        Self::InvalidPath,
        Self::InvalidQuery,
        Self::InvalidSeatSelection,
        Self::InvalidAmount,
        Self::InvalidIdempotencyKey,
        Self::InvalidConcert,
        Self::InvalidOpensAt,
        Self::InvalidAccessToken,
        Self::Unauthorized,
        Self::InsufficientBalance,
        Self::SessionNotActive,
        Self::WrongConcert,
        Self::ConcertNotFound,
        Self::ScheduleNotFound,
        Self::SeatNotFound,
        Self::ReservationNotFound,
        Self::SeatUnavailable,
        Self::HoldExists,
        Self::HoldExpired,
        Self::AlreadyConfirmed,
        Self::PaymentInProgress,
        Self::IdempotencyInProgress,
        Self::TicketLimit,
        Self::ScheduleStarted,
        Self::BodyTooLarge,
        Self::UnsupportedMediaType,
        Self::IdempotencyKeyReused,
        Self::InternalError,
        Self::ServiceUnavailable,
        Self::Overloaded,
        Self::Timeout,
    ];

    /// The code as clients see it (UPPER_SNAKE).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidBody => "INVALID_BODY",
            Self::MalformedJson => "MALFORMED_JSON",
            Self::InvalidPath => "INVALID_PATH",
            Self::InvalidQuery => "INVALID_QUERY",
            Self::InvalidSeatSelection => "INVALID_SEAT_SELECTION",
            Self::InvalidAmount => "INVALID_AMOUNT",
            Self::InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
            Self::InvalidConcert => "INVALID_CONCERT",
            Self::InvalidOpensAt => "INVALID_OPENS_AT",
            Self::InvalidAccessToken => "INVALID_ACCESS_TOKEN",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::InsufficientBalance => "INSUFFICIENT_BALANCE",
            Self::SessionNotActive => "SESSION_NOT_ACTIVE",
            Self::WrongConcert => "WRONG_CONCERT",
            Self::ConcertNotFound => "CONCERT_NOT_FOUND",
            Self::ScheduleNotFound => "SCHEDULE_NOT_FOUND",
            Self::SeatNotFound => "SEAT_NOT_FOUND",
            Self::ReservationNotFound => "RESERVATION_NOT_FOUND",
            Self::SeatUnavailable => "SEAT_UNAVAILABLE",
            Self::HoldExists => "HOLD_EXISTS",
            Self::HoldExpired => "HOLD_EXPIRED",
            Self::AlreadyConfirmed => "ALREADY_CONFIRMED",
            Self::PaymentInProgress => "PAYMENT_IN_PROGRESS",
            Self::IdempotencyInProgress => "IDEMPOTENCY_IN_PROGRESS",
            Self::TicketLimit => "TICKET_LIMIT",
            Self::ScheduleStarted => "SCHEDULE_STARTED",
            Self::BodyTooLarge => "BODY_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::Overloaded => "OVERLOADED",
            Self::Timeout => "TIMEOUT",
        }
    }

    /// The status every answer with this code has.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidBody
            | Self::MalformedJson
            | Self::InvalidPath
            | Self::InvalidQuery
            | Self::InvalidSeatSelection
            | Self::InvalidAmount
            | Self::InvalidIdempotencyKey
            | Self::InvalidConcert => StatusCode::BAD_REQUEST,
            Self::InvalidAccessToken | Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::InsufficientBalance => StatusCode::PAYMENT_REQUIRED,
            Self::SessionNotActive | Self::WrongConcert => StatusCode::FORBIDDEN,
            Self::ConcertNotFound
            | Self::ScheduleNotFound
            | Self::SeatNotFound
            | Self::ReservationNotFound => StatusCode::NOT_FOUND,
            Self::SeatUnavailable
            | Self::HoldExists
            | Self::HoldExpired
            | Self::AlreadyConfirmed
            | Self::PaymentInProgress
            | Self::IdempotencyInProgress
            | Self::TicketLimit
            | Self::ScheduleStarted => StatusCode::CONFLICT,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::IdempotencyKeyReused | Self::InvalidOpensAt => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable | Self::Overloaded | Self::Timeout => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// What the code means and what the client can do, for the OpenAPI document.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::InvalidBody => "the body is not the documented JSON object (a field missing, unknown or of the wrong type)",
            Self::MalformedJson => "the body is not JSON",
            Self::InvalidPath => "a path parameter is malformed (a non-numeric id, a malformed UUID)",
            Self::InvalidQuery => "a query parameter is unknown or has a value other than the documented ones",
            Self::InvalidSeatSelection => "`seatIds` is empty, repeats a seat, names a non-positive id or more seats than `MAX_SEATS_PER_RESERVATION`",
            Self::InvalidAmount => "`amount` is not an integer from 1 to `MAX_CHARGE`, or the balance would exceed its maximum",
            Self::InvalidIdempotencyKey => "`Idempotency-Key` is missing where required, or not 1 to 255 visible ASCII characters",
            Self::InvalidConcert => "the concert breaks a rule: a name of 1 to 200 characters without control characters, 1 to 20 schedules of 1 to 10,000 seats priced 0 to 100,000,000, starting between 1970 and 9999",
            Self::InvalidOpensAt => "`opensAt` is not in the future, or not before the first schedule starts",
            Self::InvalidAccessToken => "no bearer access token, or one that is invalid or expired",
            Self::Unauthorized => "no bearer token, or not the admin token",
            Self::InsufficientBalance => "the balance does not cover the payment; charge it and retry with the same key",
            Self::SessionNotActive => "the waiting-room session behind the token has ended (paid, left, expired or replaced); join the queue again",
            Self::WrongConcert => "the access token was issued for another concert",
            Self::ConcertNotFound => "no such concert",
            Self::ScheduleNotFound => "no such schedule (of this concert)",
            Self::SeatNotFound => "a seat does not belong to the schedule",
            Self::ReservationNotFound => "no such reservation of the caller (another user's reservation is not found either)",
            Self::SeatUnavailable => "a seat is held by someone else or already sold",
            Self::HoldExists => "the caller already holds a reservation; pay or release it first",
            Self::HoldExpired => "the hold lapsed or was released; hold the seats again",
            Self::AlreadyConfirmed => "the reservation has already been paid",
            Self::PaymentInProgress => "another payment of this reservation is running; retry shortly",
            Self::IdempotencyInProgress => "a request with this `Idempotency-Key` is still running; retry shortly for its answer",
            Self::TicketLimit => "the user would own more than `MAX_TICKETS_PER_USER` tickets of this concert; the problem's `remaining` member says how many they may still buy",
            Self::ScheduleStarted => "the schedule has started: its seats are no longer on sale",
            Self::BodyTooLarge => "the body is larger than `MAX_BODY_BYTES`",
            Self::UnsupportedMediaType => "the body is not sent as `Content-Type: application/json`",
            Self::IdempotencyKeyReused => "this `Idempotency-Key` was used with a different request",
            Self::InternalError => "an unexpected error; it is logged",
            Self::ServiceUnavailable => "Redis or Postgres is unreachable (see `/health/ready`); retry after `Retry-After`",
            Self::Overloaded => "more than `MAX_IN_FLIGHT` requests are running; retry after `Retry-After`",
            Self::Timeout => "the request took longer than `REQUEST_TIMEOUT_MS`; retry after `Retry-After`",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request gets when it fails. Each 4xx variant carries its [`ErrorCode`] and a detail
/// for a person; the constructors below are the api's usual refusals.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{1}")]
    Invalid(ErrorCode, Cow<'static, str>),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{1}")]
    Forbidden(ErrorCode, &'static str),
    #[error("{1}")]
    NotFound(ErrorCode, &'static str),
    #[error("{1}")]
    Conflict(ErrorCode, Cow<'static, str>),
    #[error("insufficient balance")]
    InsufficientBalance,
    /// 409 `TICKET_LIMIT`: the user may buy `remaining` more tickets of the concert (of `limit`).
    #[error("over the ticket limit of {limit}; {remaining} left")]
    TicketLimit { limit: u32, remaining: i64 },
    #[error("{1}")]
    Unprocessable(ErrorCode, &'static str),
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// 400 with `code`.
    pub fn invalid(code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid(code, detail.into())
    }

    /// 401 `INVALID_ACCESS_TOKEN`.
    pub const fn invalid_access_token(detail: &'static str) -> Self {
        Self::Unauthorized(detail)
    }

    /// 403 `SESSION_NOT_ACTIVE`: the waiting-room session behind the token has ended.
    pub const fn session_not_active() -> Self {
        Self::Forbidden(
            ErrorCode::SessionNotActive,
            "the waiting-room session has ended; join the queue again",
        )
    }

    /// 403 `WRONG_CONCERT`: the token was issued for another concert.
    pub const fn wrong_concert() -> Self {
        Self::Forbidden(
            ErrorCode::WrongConcert,
            "this access token is for another concert",
        )
    }

    /// 404 `CONCERT_NOT_FOUND`.
    pub const fn concert_not_found() -> Self {
        Self::NotFound(ErrorCode::ConcertNotFound, "no such concert")
    }

    /// 404 `SCHEDULE_NOT_FOUND`.
    pub const fn schedule_not_found(detail: &'static str) -> Self {
        Self::NotFound(ErrorCode::ScheduleNotFound, detail)
    }

    /// 404 `SEAT_NOT_FOUND`.
    pub const fn seat_not_found() -> Self {
        Self::NotFound(
            ErrorCode::SeatNotFound,
            "a seat does not belong to this schedule",
        )
    }

    /// 404 `RESERVATION_NOT_FOUND` (also for another user's reservation).
    pub const fn reservation_not_found() -> Self {
        Self::NotFound(ErrorCode::ReservationNotFound, "no such reservation")
    }

    /// 409 `SEAT_UNAVAILABLE`.
    pub fn seat_unavailable(detail: &'static str) -> Self {
        Self::Conflict(ErrorCode::SeatUnavailable, detail.into())
    }

    /// 409 `HOLD_EXISTS`: the caller's open hold, named in the detail.
    pub fn hold_exists(reservation_id: impl std::fmt::Display) -> Self {
        Self::Conflict(
            ErrorCode::HoldExists,
            format!("you already hold reservation {reservation_id}; pay or release it first")
                .into(),
        )
    }

    /// 409 `HOLD_EXPIRED`.
    pub fn hold_expired() -> Self {
        Self::Conflict(
            ErrorCode::HoldExpired,
            "the hold has lapsed or was released; hold the seats again".into(),
        )
    }

    /// 409 `ALREADY_CONFIRMED`.
    pub fn already_confirmed() -> Self {
        Self::Conflict(
            ErrorCode::AlreadyConfirmed,
            "this reservation has already been paid".into(),
        )
    }

    /// 409 `PAYMENT_IN_PROGRESS`: another payment of the reservation is running.
    pub fn payment_in_progress() -> Self {
        Self::Conflict(
            ErrorCode::PaymentInProgress,
            "a payment of this reservation is being processed; retry shortly".into(),
        )
    }

    /// 409 `IDEMPOTENCY_IN_PROGRESS`: another request with the key holds its lock.
    pub fn idempotency_in_progress() -> Self {
        Self::Conflict(
            ErrorCode::IdempotencyInProgress,
            "a request with this Idempotency-Key is still being processed; retry shortly".into(),
        )
    }

    /// 409 `SCHEDULE_STARTED`: a started schedule's seats are no longer on sale.
    pub fn schedule_started() -> Self {
        Self::Conflict(
            ErrorCode::ScheduleStarted,
            "this schedule has started; its seats are no longer on sale".into(),
        )
    }

    /// 409 `TICKET_LIMIT`: buying `wanted` more tickets would take a user who owns `owned`
    /// of the concert past `limit`.
    pub fn ticket_limit(limit: u32, owned: i64) -> Self {
        Self::TicketLimit {
            limit,
            remaining: (i64::from(limit) - owned).max(0),
        }
    }

    /// 422 `IDEMPOTENCY_KEY_REUSED`: the key's stored response is for another request.
    pub const fn idempotency_key_reused() -> Self {
        Self::Unprocessable(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request",
        )
    }

    /// The problem this error is answered with.
    fn problem(self) -> Problem {
        let refused = |code: ErrorCode, detail: Cow<'static, str>| {
            Problem::new(code.status(), code.as_str(), detail)
        };
        match self {
            Self::Invalid(code, detail) | Self::Conflict(code, detail) => refused(code, detail),
            Self::Forbidden(code, detail)
            | Self::NotFound(code, detail)
            | Self::Unprocessable(code, detail) => refused(code, detail.into()),
            Self::Unauthorized(detail) => refused(ErrorCode::InvalidAccessToken, detail.into()),
            Self::InsufficientBalance => refused(
                ErrorCode::InsufficientBalance,
                "the balance does not cover this payment; charge it and retry".into(),
            ),
            Self::TicketLimit { limit, remaining } => refused(
                ErrorCode::TicketLimit,
                format!("a user buys at most {limit} tickets of a concert; you may buy {remaining} more").into(),
            ),
            Self::Unavailable(cause) => {
                tracing::warn!(error = %cause, "dependency unavailable");
                Problem::unavailable("the service is temporarily unavailable, retry shortly")
            }
            Self::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error");
                Problem::internal()
            }
        }
    }
}

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
        match self {
            Self::TicketLimit { remaining, .. } => {
                let problem = self.problem();
                with_member(problem, "remaining", remaining.into())
            }
            other => other.problem().into_response(),
        }
    }
}

/// A problem with one extension member (RFC 9457 section 3.2) beside the standard ones, which
/// the shared problem body does not carry.
fn with_member(p: Problem, name: &str, value: serde_json::Value) -> axum::response::Response {
    let mut body = serde_json::json!({
        "type": format!("https://ticketing.dev/problems/{}", p.code.to_ascii_lowercase().replace('_', "-")),
        "title": p.status.canonical_reason().unwrap_or("Error"),
        "status": p.status.as_u16(),
        "detail": p.detail,
        "code": p.code,
    });
    body[name] = value;
    (
        p.status,
        [(axum::http::header::CONTENT_TYPE, shared::http::PROBLEM_JSON)],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response()
}

/// True when `e` violates the constraint named `name` (realworld's `on_constraint`).
pub fn is_violation(e: &sqlx::Error, name: &str) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.constraint() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_names() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn shared_problems_use_the_codes_listed_here() {
        let shared = [
            Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE),
            Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            Problem::unavailable("x"),
            Problem::internal(),
        ];
        for p in &shared {
            let code = ErrorCode::ALL
                .into_iter()
                .find(|c| c.as_str() == p.code)
                .unwrap_or_else(|| panic!("{} missing", p.code));
            assert_eq!(code.status(), p.status);
        }
    }
}
