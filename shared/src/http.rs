//! HTTP plumbing both binaries share: RFC 9457 problem responses, the JSON and path
//! extractors that answer bad input with a problem, and the common middleware stack
//! (tracing, metrics, panic catching, body limit, timeout, load shedding).

use std::{borrow::Cow, time::Duration};

use axum::{
    body::Body,
    error_handling::HandleErrorLayer,
    extract::{
        rejection::{JsonRejection, PathRejection},
        FromRequest, FromRequestParts, MatchedPath, Request,
    },
    http::{header, request::Parts, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    BoxError, Router,
};
use serde::Serialize;
use subtle::ConstantTimeEq;
use tower::ServiceBuilder;
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};

use crate::config::HttpLimits;

/// An RFC 9457 problem: `{"type","title","status","detail","code"}`.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub detail: Cow<'static, str>,
    pub retry_after_secs: Option<u64>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: Cow::Borrowed(code),
            detail: detail.into(),
            retry_after_secs: None,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn unavailable(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            detail,
        )
        .retry_after(1)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "an unexpected error occurred",
        )
    }

    /// The generic problem for a bare status code (used for errors produced by middleware).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status {
            StatusCode::NOT_FOUND => ("NOT_FOUND", "no such resource"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("METHOD_NOT_ALLOWED", "method not allowed on this resource")
            }
            StatusCode::PAYLOAD_TOO_LARGE => ("BODY_TOO_LARGE", "request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "UNSUPPORTED_MEDIA_TYPE",
                "expected Content-Type: application/json",
            ),
            StatusCode::REQUEST_TIMEOUT => ("TIMEOUT", "request took too long"),
            StatusCode::UNAUTHORIZED => ("UNAUTHORIZED", "authentication required"),
            StatusCode::BAD_REQUEST => ("BAD_REQUEST", "the request is malformed"),
            StatusCode::SERVICE_UNAVAILABLE => {
                ("SERVICE_UNAVAILABLE", "service unavailable, retry shortly")
            }
            s if s.is_server_error() => ("INTERNAL_ERROR", "an unexpected error occurred"),
            _ => ("BAD_REQUEST", "the request could not be processed"),
        };
        Self::new(status, code, detail)
    }
}

/// The body of every error (RFC 9457 `application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody<'a> {
    /// A URI naming the problem type, derived from `code`.
    #[serde(rename = "type")]
    kind: String,
    /// The HTTP reason phrase.
    title: &'a str,
    /// The HTTP status code.
    status: u16,
    /// What went wrong, for a person; never another user's data.
    detail: &'a str,
    /// The stable, machine-readable UPPER_SNAKE code.
    code: &'a str,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            kind: format!(
                "https://ticketing.dev/problems/{}",
                self.code.to_ascii_lowercase().replace('_', "-")
            ),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: &self.code,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (self.status, bytes).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after_secs {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// `axum::Json` whose rejections are problems: 400 malformed or invalid, 413 too large,
/// 415 wrong content type.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => Problem::bad_request("INVALID_BODY", e.body_text()),
            JsonRejection::JsonSyntaxError(e) => {
                Problem::bad_request("MALFORMED_JSON", e.body_text())
            }
            JsonRejection::MissingJsonContentType(_) => {
                Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            other => Problem::bad_request("INVALID_BODY", other.body_text()),
        }
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path` whose rejection is a 400 problem (e.g. a non-numeric id).
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        Problem::bad_request("INVALID_PATH", rejection.body_text())
    }
}

/// The bearer token of the `Authorization` header, if well formed.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// State that knows the admin token (`ADMIN_TOKEN`).
pub trait HasAdminToken {
    fn admin_token(&self) -> &crate::config::Secret;
}

/// Extractor that passes only requests bearing the admin token: 401 `UNAUTHORIZED` otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl<S: HasAdminToken + Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match bearer_token(parts) {
            Some(t) if constant_time_eq(t.as_bytes(), state.admin_token().expose().as_bytes()) => {
                Ok(Admin)
            }
            _ => Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "a valid admin token is required",
            )),
        }
    }
}

/// Compares two secrets in constant time (for equal lengths; a length differs at once).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `GET /health/live`: the process is up.
pub async fn live() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// The answer of `GET /health/ready` given each dependency's state.
pub fn ready_response(checks: &[(&str, bool)]) -> Response {
    let ok = checks.iter().all(|(_, up)| *up);
    let body: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|(name, up)| {
            (
                (*name).to_owned(),
                serde_json::Value::from(if *up { "up" } else { "down" }),
            )
        })
        .collect();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut res = (
        status,
        axum::Json(
            serde_json::json!({"status": if ok {"ready"} else {"unavailable"}, "checks": body}),
        ),
    )
        .into_response();
    if !ok {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1));
    }
    res
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::metrics().render(),
    )
}

/// Serves a static OpenAPI document.
pub fn openapi_response(doc: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc).into_response()
}

/// How long in-flight requests may run after the stop signal.
pub const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` until `stop` is cancelled (or the server fails), then stops accepting and
/// lets in-flight requests finish for at most [`DRAIN`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    // Small responses leave at once (no Nagle wait for the previous segment's ACK).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    serve_listener(listener, app, stop).await
}

/// [`serve`] on any listener of TCP connections (the gateway's first reads each connection's
/// first request itself); the connections it yields are expected to have `TCP_NODELAY` set.
pub async fn serve_listener<L>(
    listener: L,
    app: Router,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    use axum::serve::ListenerExt;
    let graceful = stop.clone();
    // A tap that does nothing: through it any listener of socket addresses gives the
    // handlers their `ConnectInfo`.
    let listener = listener.tap_io(|_| {});
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { graceful.cancelled().await });
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        result = &mut server => return Ok(result??),
        _ = stop.cancelled() => {}
    }
    match tokio::time::timeout(DRAIN, server).await {
        Ok(result) => result??,
        Err(_) => tracing::warn!("in-flight requests did not finish within {DRAIN:?}"),
    }
    Ok(())
}

/// Wraps a router in the stack every request goes through, outermost first: tracing,
/// metrics, problem bodies for bare errors, panic catching, load shedding past
/// `max_in_flight`, the request timeout, and the body limit.
pub fn with_common_layers(router: Router, limits: HttpLimits) -> Router {
    let timeout = Duration::from_millis(limits.request_timeout_ms);
    router
        .fallback(|| async { Problem::for_status(StatusCode::NOT_FOUND) })
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overload_problem))
                .load_shed()
                .concurrency_limit(limits.max_in_flight)
                .timeout(timeout),
        )
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            Problem::internal().into_response()
        }))
        .layer(middleware::from_fn(problem_for_bare_errors))
        .layer(middleware::from_fn(record_metrics))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default();
                tracing::info_span!("http", http.method = %req.method(), http.route = %route)
            }),
        )
}

async fn overload_problem(err: BoxError) -> Problem {
    if err.is::<tower::timeout::error::Elapsed>() {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TIMEOUT",
            "the request took too long",
        )
        .retry_after(1)
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "OVERLOADED",
            "too many requests in flight, retry shortly",
        )
        .retry_after(1)
    } else {
        tracing::error!(error = %err, "middleware error");
        Problem::internal()
    }
}

/// Gives every bare error response (405 from routing, 413 from the body limit, ...) a
/// problem body, so clients see one error shape.
async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    // Bodies that are bare (no content type) or axum's plain-text rejections get a problem;
    // JSON answers (problems, readiness reports) pass untouched.
    let bare = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !bare {
        return res;
    }
    let mut problem = Problem::for_status(status).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = res.headers().get(&name) {
            problem.headers_mut().insert(name, v.clone());
        }
    }
    problem
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let start = std::time::Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2])
        .record(start.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
