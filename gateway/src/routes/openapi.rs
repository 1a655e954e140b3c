//! The OpenAPI document's frame, each operation's problem responses, and the limits in it.
//!
//! The frame: title, tags, security schemes, the problem schema. Operations declare their
//! problem codes with [`problems!`]; [`with_limits`] writes in what the settings configure.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::json;
use shared::http::ProblemBody;
use utoipa::{
    openapi::{
        example::ExampleBuilder,
        header::HeaderBuilder,
        response::{Response, ResponseBuilder},
        schema::{AllOfBuilder, ObjectBuilder, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, OpenApi as Document, Ref, RefOr,
    },
    Modify, OpenApi, PartialSchema, ToSchema,
};

use crate::{config::Settings, error::ErrorCode};

/// Declares `$name`, the problem responses of an operation that answers with the codes listed
/// (and, like every operation, `INTERNAL_ERROR`, `OVERLOADED` and `TIMEOUT`), for
/// `responses(...)` of `#[utoipa::path]`.
macro_rules! problems {
    ($name:ident: $($code:ident),* $(,)?) => {
        /// The problem responses of one operation, for its OpenAPI description.
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::routes::openapi::problem_responses(&[$($crate::error::ErrorCode::$code),*])
            }
        }
    };
}
pub(crate) use problems;

/// Codes any request may get: the shared middleware's.
const ALWAYS: [ErrorCode; 3] = [
    ErrorCode::InternalError,
    ErrorCode::Overloaded,
    ErrorCode::Timeout,
];

/// One response per status among `codes` (and [`ALWAYS`]): a problem whose `code` is one of
/// that status's codes, each described and given as an example.
pub fn problem_responses(codes: &[ErrorCode]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in codes.iter().chain(&ALWAYS) {
        let same_status = by_status.entry(code.status().as_u16()).or_default();
        if !same_status.contains(code) {
            same_status.push(*code);
        }
    }
    by_status
        .into_iter()
        .map(|(status, codes)| (status.to_string(), problem_response(&codes).into()))
        .collect()
}

fn problem_response(codes: &[ErrorCode]) -> Response {
    let status = codes[0].status();
    let listed: Vec<String> = codes
        .iter()
        .map(|c| format!("- `{c}`: {}", c.meaning()))
        .collect();
    let description = format!(
        "{}; `code` is one of:\n\n{}",
        status.canonical_reason().unwrap_or("Error"),
        listed.join("\n")
    );
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name(ProblemBody::name()))
        .item(
            ObjectBuilder::new().property(
                "code",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(codes.iter().map(|c| c.as_str()))),
            ),
        );
    let examples = codes.iter().map(|c| {
        let example = ExampleBuilder::new().value(Some(json!({
            "type": format!("https://ticketing.dev/problems/{}", c.as_str().to_ascii_lowercase().replace('_', "-")),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": c.meaning(),
            "code": c.as_str(),
        })));
        (c.as_str(), example)
    });
    let content = ContentBuilder::new()
        .schema(Some(schema))
        .examples_from_iter(examples)
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content(shared::http::PROBLEM_JSON, content);
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        response.header("Retry-After", retry_after()).build()
    } else {
        response.build()
    }
}

fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        ))
        .description(Some("Seconds to wait before retrying"))
        .build()
}

/// The frame every operation is added to.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ticketing gateway",
        version = "1.0.0",
        description = "The waiting room: a fair place in a concert's line, admission a steady \
            number per tick, and the access token that lets an admitted fan book with the api.\n\n\
            Every error is an RFC 9457 `application/problem+json` body with a stable \
            UPPER_SNAKE `code`; each operation lists the codes it may answer with.",
    ),
    tags(
        (name = "queue", description = "Join a line, ask where you stand, leave; a line's numbers."),
        (name = "identity", description = "Development sign-in (`DEV_LOGIN`); in production users sign in with the promoter's login service."),
        (name = "admin", description = "Run-time queue settings (`ADMIN_TOKEN`)."),
        (name = "tokens", description = "The public keys that verify access tokens."),
        (name = "system", description = "Health, metrics, this document, the pages' configuration."),
    ),
    modifiers(&Frame),
)]
pub struct ApiDoc;

/// The security schemes, and the problem schema that problem responses name.
struct Frame;

impl Modify for Frame {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "identityToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An identity token: a JWT of the promoter's login service \
                         (`IDENTITY_JWKS_URL`, `IDENTITY_ISSUER`, `IDENTITY_AUDIENCE`; RS256, \
                         ES256 or EdDSA), or of `POST /api/v1/dev/login` with `DEV_LOGIN`. Its \
                         `sub` is the user. Missing or invalid: 401 `INVALID_IDENTITY_TOKEN`; \
                         expired: 401 `IDENTITY_TOKEN_EXPIRED`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "queueToken",
            bearer("The `queueToken` a join answers with."),
        );
        components.add_security_scheme("adminToken", bearer("`ADMIN_TOKEN`."));
        components
            .schemas
            .insert(ProblemBody::name().into_owned(), ProblemBody::schema());
    }
}

/// The path of the one operation that is rate limited.
const JOIN_PATH: &str = "/api/v1/queue/tokens";

/// `doc` with the limits `settings` configure: listed in its description, and the join rate
/// said on the join operation.
pub fn with_limits(mut doc: Document, settings: &Settings) -> Document {
    let http = &settings.http;
    let join_rate = match settings.join_rate_per_second {
        0 => "off".to_owned(),
        n => format!("{n} joins per second per client address, in bursts of up to {n}"),
    };
    let limits = format!(
        "Limits of this gateway:\n\n\
         - `MAX_BODY_BYTES`: {} bytes per request body (else 413 `BODY_TOO_LARGE`)\n\
         - `MAX_IN_FLIGHT`: {} requests at once per server thread (else 503 `OVERLOADED`)\n\
         - `REQUEST_TIMEOUT_MS`: {} ms per request (else 503 `TIMEOUT`)\n\
         - `JOIN_RATE_PER_SECOND`: {join_rate} (else 429 `RATE_LIMITED`)\n\
         - `STATUS_VIEW_MS`: a status far from the front may be up to {} ms old",
        http.max_body_bytes,
        http.max_in_flight,
        http.request_timeout_ms,
        settings.status_view.as_millis(),
    );
    let described = doc.info.description.take().unwrap_or_default();
    doc.info.description = Some(format!("{described}\n\n{limits}"));
    if let Some(join) = doc
        .paths
        .paths
        .get_mut(JOIN_PATH)
        .and_then(|item| item.post.as_mut())
    {
        let described = join.description.take().unwrap_or_default();
        join.description = Some(format!(
            "{described}\n\nRate limit (`JOIN_RATE_PER_SECOND`): {join_rate}."
        ));
    }
    doc
}
