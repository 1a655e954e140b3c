//! Admin endpoints of the gateway: run-time queue settings, and what the operator's console
//! reads of a queue.

use std::borrow::Cow;

use axum::{extract::State, http::header, Json};
use serde_json::json;
use shared::{
    config::QueueSettings,
    http::{Admin, ApiJson, ApiPath},
    ids::ConcertId,
};
use utoipa::openapi::{
    schema::{AdditionalProperties, ObjectBuilder, Schema, Type},
    RefOr,
};

use super::{
    openapi::problems,
    queue::{line_stats, open_concert_id, QueueStatsResponse},
};
use crate::{
    error::{ErrorCode, GatewayError},
    state::AppState,
};

problems!(UpdateQueueSettingsProblems: InvalidSettings, InvalidBody, MalformedJson,
    InvalidPath, Unauthorized, ConcertNotFound, BodyTooLarge, UnsupportedMediaType,
    ServiceUnavailable);

/// Change a queue's settings at run time
///
/// Admit per tick, tick length, most active at once, session length and paused, validated
/// and applied from the next tick on. Answers the settings now in force.
#[utoipa::path(put, path = "/api/v1/admin/queues/{concertId}", tag = "admin",
    security(("adminToken" = [])),
    params(("concertId" = ConcertId, Path, description = "The concert's id")),
    request_body = QueueSettingsSchema,
    responses(
        (status = 200, description = "The settings now in force", body = QueueSettingsSchema),
        UpdateQueueSettingsProblems,
    ))]
pub async fn update_queue_settings(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(concert_id): ApiPath<i64>,
    ApiJson(settings): ApiJson<QueueSettings>,
) -> Result<Json<QueueSettings>, GatewayError> {
    settings
        .validate()
        .map_err(|m| GatewayError::Invalid(ErrorCode::InvalidSettings, m.into()))?;
    let concert_id = open_concert_id(concert_id)?;
    state.room.change_settings(concert_id, &settings).await?;
    tracing::info!(
        concert.id = concert_id.get(),
        ?settings,
        "queue settings changed"
    );
    Ok(Json(settings))
}

/// A queue as its operator sees it: the settings in force, the admissions so far and the
/// line's numbers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminQueue, example = json!({
    "concertId": 1,
    "settings": {"admitPerTick": 50, "tickMillis": 1000, "maxActive": 1000,
                 "sessionTtlSeconds": 600, "paused": false},
    "admitted": 1234,
    "line": {"concertId": 1, "waiting": 5200, "active": 980, "admittedPerMinute": 3000.0,
             "estimatedWaitSecondsAtBack": 104, "paused": false, "state": "OPEN",
             "opensAt": null, "seatsLeft": 4100}
}))]
pub struct AdminQueueResponse {
    concert_id: ConcertId,
    #[schema(value_type = QueueSettingsSchema)]
    settings: QueueSettings,
    /// Admitted from the line since the queue opened (restarts after Redis lost the queue);
    /// its change over time is the admission rate.
    admitted: u64,
    /// What `GET /api/v1/queue/{concertId}/stats` answers.
    line: QueueStatsResponse,
}

problems!(GetQueueProblems: InvalidPath, Unauthorized, ConcertNotFound, ServiceUnavailable);

/// A queue's settings and admissions
///
/// The settings now in force (the body `PUT` takes, to change one and keep the rest), how
/// many the queue has admitted in all, and the line's numbers: the operator's console reads it
/// every second or two.
#[utoipa::path(get, path = "/api/v1/admin/queues/{concertId}", tag = "admin",
    security(("adminToken" = [])),
    params(("concertId" = ConcertId, Path, description = "The concert's id")),
    responses(
        (status = 200, description = "The queue's settings and admissions", body = AdminQueueResponse),
        GetQueueProblems,
    ))]
pub async fn get_queue(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<
    (
        [(header::HeaderName, &'static str); 1],
        Json<AdminQueueResponse>,
    ),
    GatewayError,
> {
    let concert_id = open_concert_id(concert_id)?;
    let ((settings, admitted), line) = tokio::try_join!(
        state.room.settings(concert_id),
        line_stats(&state, concert_id)
    )?;
    // Live figures: a cache must not answer old ones.
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(AdminQueueResponse {
            concert_id,
            settings,
            admitted,
            line,
        }),
    ))
}

/// A sale's new opening.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"opensAt": "2027-03-01T10:00:00Z"}))]
pub struct OpeningRequest {
    /// In the future.
    opens_at: chrono::DateTime<chrono::Utc>,
}

problems!(MoveOpeningProblems: InvalidBody, MalformedJson, InvalidPath, Unauthorized,
    ConcertNotFound, OpeningPassed, BodyTooLarge, UnsupportedMediaType, ServiceUnavailable);

/// Move a sale's opening
///
/// Only before the sale opens (a sale created with `opensAt`): the pre-queue stays, and is
/// drawn at the new time with the seed already committed to. 409 `OPENING_PASSED` once the
/// sale has opened, or for a time already past.
#[utoipa::path(put, path = "/api/v1/admin/queues/{concertId}/opening", tag = "admin",
    security(("adminToken" = [])),
    params(("concertId" = ConcertId, Path, description = "The concert's id")),
    request_body = OpeningRequest,
    responses(
        (status = 204, description = "The sale opens at the new time"),
        MoveOpeningProblems,
    ))]
pub async fn move_opening(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(concert_id): ApiPath<i64>,
    ApiJson(req): ApiJson<OpeningRequest>,
) -> Result<axum::http::StatusCode, GatewayError> {
    let concert_id = open_concert_id(concert_id)?;
    let opens_at_ms = req.opens_at.timestamp_millis();
    state.room.change_opening(concert_id, opens_at_ms).await?;
    tracing::info!(concert.id = concert_id.get(), opens_at = %req.opens_at, "sale opening moved");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The OpenAPI schema of [`QueueSettings`] (a type of `shared`), its bounds the constants
/// that `QueueSettings::validate` checks.
pub enum QueueSettingsSchema {}

impl utoipa::PartialSchema for QueueSettingsSchema {
    fn schema() -> RefOr<Schema> {
        let bounded = |(min, max): (u32, u32), description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int32,
                )))
                .minimum(Some(min))
                .maximum(Some(max))
                .description(Some(description))
        };
        ObjectBuilder::new()
            .description(Some("A queue's run-time settings."))
            .property(
                "admitPerTick",
                bounded(QueueSettings::ADMIT_PER_TICK, "Admitted per tick at most."),
            )
            .property(
                "tickMillis",
                bounded(QueueSettings::TICK_MILLIS, "The tick's length, in ms."),
            )
            .property(
                "maxActive",
                bounded(
                    QueueSettings::MAX_ACTIVE,
                    "Active sessions at once at most.",
                ),
            )
            .property(
                "sessionTtlSeconds",
                bounded(
                    QueueSettings::SESSION_TTL_SECONDS,
                    "How long an admitted user may book, in seconds.",
                ),
            )
            .property(
                "paused",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some("A paused queue admits nobody.")),
            )
            .required("admitPerTick")
            .required("tickMillis")
            .required("maxActive")
            .required("sessionTtlSeconds")
            .required("paused")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .examples([json!({
                "admitPerTick": 50, "tickMillis": 1000, "maxActive": 1000,
                "sessionTtlSeconds": 600, "paused": false
            })])
            .into()
    }
}

impl utoipa::ToSchema for QueueSettingsSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("QueueSettings")
    }
}
