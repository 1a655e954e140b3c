//! The OpenAPI document: what every operation's `#[utoipa::path]` says (registered with the
//! router by `routes!`, so nothing is served undocumented), this module's title, tags and
//! security schemes, the problem `code`s of each operation from [`ErrorCode`], and the limits
//! of the code and of the settings, filled in when the document is built at start-up.

use std::collections::BTreeMap;

use axum::body::Bytes;
use serde_json::{json, Value};
use shared::http::ProblemBody;
use utoipa::{
    openapi::{
        header::HeaderBuilder,
        response::{Response, ResponseBuilder},
        schema::{AllOfBuilder, ObjectBuilder, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, OpenApi, Ref, RefOr,
    },
    Modify,
};

use crate::{
    config::Settings,
    domain::concert::{MAX_NAME_CHARS, MAX_PRICE, MAX_SCHEDULES, MAX_SEATS},
    error::ErrorCode,
};

/// The document's fixed parts; the router adds the operations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Ticketing api",
        version = "1.0.0",
        description = "Booking: schedules, seats, holds, balance and payments. Postgres is the \
source of truth; Redis holds seats and waiting-room sessions.\n\n\
Every error is an RFC 9457 `application/problem+json` body with a stable UPPER_SNAKE `code`; \
each operation lists the codes it answers with, under their status. JSON is camelCase, \
times are RFC 3339 UTC, money is integer won."
    ),
    tags(
        (name = "booking", description = "An access token whose waiting-room session is active, \
for the concert it was issued for."),
        (name = "account", description = "The user's identity token or any valid access token \
of the user; only the user's own data (another user's reservation is not found)."),
        (name = "admin", description = "The admin token (`ADMIN_TOKEN`)."),
        (name = "system", description = "Health, metrics and this document; no token."),
    ),
    components(schemas(ProblemBody<'static>)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |format: Option<&str>, description: &str| {
            let mut http = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description));
            if let Some(format) = format {
                http = http.bearer_format(format);
            }
            SecurityScheme::Http(http.build())
        };
        components.add_security_scheme(
            "accessToken",
            bearer(
                Some("JWT"),
                "The `accessToken` of the gateway's status response once the waiting room \
                 admitted the user (EdDSA, for one concert, until the session ends).",
            ),
        );
        components.add_security_scheme(
            "identityToken",
            bearer(
                Some("JWT"),
                "The identity token of the promoter's login service (`IDENTITY_JWKS_URL` or \
                 `IDENTITY_JWKS_FILE`, `IDENTITY_ISSUER`, `IDENTITY_AUDIENCE`), or of the \
                 development login (`DEV_LOGIN`); its `sub` is the user.",
            ),
        );
        components.add_security_scheme(
            "adminToken",
            bearer(None, "The admin token (`ADMIN_TOKEN`)."),
        );
    }
}

/// Declares `$name`, the problem responses of one operation for its `#[utoipa::path]`
/// (`responses(..., $name)`): the listed codes under their statuses (see [`problem_responses`]).
macro_rules! problems {
    ($(#[$meta:meta])* $name:ident: $($code:ident),* $(,)?) => {
        $(#[$meta])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::openapi::problem_responses(&[$($crate::error::ErrorCode::$code),*])
            }
        }
    };
}
pub(crate) use problems;

/// The problem responses of an operation that answers with `codes`, plus the ones every
/// operation can get (`INTERNAL_ERROR`, and `OVERLOADED` and `TIMEOUT` from load shedding and
/// the request timeout). One response per status: its description lists each code with its
/// meaning, its schema is the problem with `status` and `code` narrowed to those values.
pub fn problem_responses(codes: &[ErrorCode]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    let always = [
        ErrorCode::InternalError,
        ErrorCode::Overloaded,
        ErrorCode::Timeout,
    ];
    for &code in codes.iter().chain(&always) {
        let same = by_status.entry(code.status().as_u16()).or_default();
        if !same.contains(&code) {
            same.push(code);
        }
    }
    by_status
        .into_iter()
        .map(|(status, codes)| (status.to_string(), problem_response(status, &codes).into()))
        .collect()
}

/// One status's problem response.
fn problem_response(status: u16, codes: &[ErrorCode]) -> Response {
    let reason = codes[0].status().canonical_reason().unwrap_or("Error");
    let mut description = format!("{reason}; `code` is one of:\n");
    for code in codes {
        description.push_str(&format!("- `{code}`: {}\n", code.meaning()));
    }
    let narrowed = ObjectBuilder::new()
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([status])),
        )
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes.iter().map(|c| c.as_str()))),
        );
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name("Problem"))
        .item(narrowed);
    let first = codes[0];
    let example = json!({
        "type": format!("https://ticketing.dev/problems/{}", first.as_str().to_ascii_lowercase().replace('_', "-")),
        "title": reason,
        "status": status,
        "detail": first.meaning(),
        "code": first.as_str(),
    });
    let content = ContentBuilder::new()
        .schema(Some(schema))
        .example(Some(example))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description.trim_end())
        .content(shared::http::PROBLEM_JSON, content);
    if status == 503 {
        response = response.header("Retry-After", retry_after());
    }
    response.build()
}

/// The `Retry-After` header of a 503.
pub fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        ))
        .description(Some("seconds to wait before retrying"))
        .build()
}

/// The document as served: `doc` (from the router) with the limits filled in.
#[derive(Debug, Clone)]
pub struct ServedDocument(pub Bytes);

/// Fills in the limits the document states but the attributes cannot: those of the settings
/// (`MAX_SEATS_PER_RESERVATION`, `MAX_CHARGE`), the constants of the code, and the range of
/// a problem's `status` and `code`.
/// An error when a schema it fills in is missing, so a renamed field cannot drop a limit.
pub fn document(doc: OpenApi, settings: &Settings) -> anyhow::Result<ServedDocument> {
    let mut doc = serde_json::to_value(doc)?;
    let schemas = "/components/schemas";
    let limits = [
        ("Problem/properties/status/minimum", json!(400)),
        ("Problem/properties/status/maximum", json!(599)),
        (
            "Problem/properties/code/pattern",
            json!("^[A-Z][A-Z0-9_]*$"),
        ),
        (
            "HoldSeatsRequest/properties/seatIds/maxItems",
            json!(settings.max_seats_per_reservation),
        ),
        (
            "HoldSeatsRequest/properties/seatIds/uniqueItems",
            json!(true),
        ),
        (
            "HoldSeatsRequest/properties/seatIds/items/minimum",
            json!(1),
        ),
        (
            "ChargeBalanceRequest/properties/amount/maximum",
            json!(settings.max_charge),
        ),
        (
            "CreateConcertRequest/properties/name/maxLength",
            json!(MAX_NAME_CHARS),
        ),
        (
            "CreateConcertRequest/properties/schedules/maxItems",
            json!(MAX_SCHEDULES),
        ),
        (
            "CreateScheduleRequest/properties/seatCount/maximum",
            json!(MAX_SEATS),
        ),
        (
            "CreateScheduleRequest/properties/price/maximum",
            json!(MAX_PRICE),
        ),
    ];
    for (path, value) in limits {
        let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
        let pointer = format!("{schemas}/{parent}");
        doc.pointer_mut(&pointer)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| anyhow::anyhow!("OpenAPI document: no {pointer} to limit"))?
            .insert(key.to_owned(), value);
    }
    let mut json = serde_json::to_vec_pretty(&doc)?;
    json.push(b'\n');
    Ok(ServedDocument(json.into()))
}
