//! Admin endpoints of the api: create a concert with its schedules and seats.

use axum::{extract::State, http::StatusCode, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::http::{Admin, ApiJson};

use crate::{
    domain::{concert::ScheduleDraft, NewConcert},
    error::Result,
    openapi::problems,
    services::concerts,
    state::AppState,
    store::catalog::CreatedConcert,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "Spring Tour", "schedules": [
    {"startsAt": "2027-03-01T19:00:00Z", "seatCount": 50, "price": 55000}
]}))]
pub struct CreateConcertRequest {
    /// Without control characters; trimmed.
    #[schema(min_length = 1)]
    name: String,
    #[schema(min_items = 1)]
    schedules: Vec<CreateScheduleRequest>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateScheduleRequest {
    /// Between 1970 and 9999.
    starts_at: DateTime<Utc>,
    /// Seats numbered from 1.
    #[schema(minimum = 1)]
    seat_count: i64,
    /// Of every seat, in won.
    #[schema(minimum = 0)]
    price: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedConcertResponse {
    concert_id: i64,
    /// In the order of the request.
    schedules: Vec<CreatedScheduleResponse>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedScheduleResponse {
    schedule_id: i64,
    /// By seat number.
    seat_ids: Vec<i64>,
}

impl CreateConcertRequest {
    fn parse(&self) -> Result<NewConcert> {
        let drafts: Vec<ScheduleDraft> = self
            .schedules
            .iter()
            .map(|s| ScheduleDraft {
                starts_at: s.starts_at,
                seat_count: s.seat_count,
                price: s.price,
            })
            .collect();
        NewConcert::parse(&self.name, &drafts)
    }
}

impl From<CreatedConcert> for CreatedConcertResponse {
    fn from(created: CreatedConcert) -> Self {
        Self {
            concert_id: created.concert_id,
            schedules: created
                .schedules
                .into_iter()
                .map(|s| CreatedScheduleResponse {
                    schedule_id: s.schedule_id,
                    seat_ids: s.seat_ids,
                })
                .collect(),
        }
    }
}

problems!(CreateConcertProblems: InvalidConcert, InvalidBody, MalformedJson, Unauthorized, BodyTooLarge, UnsupportedMediaType, ServiceUnavailable);

/// Create a concert and open its queue
///
/// Creates the concert, its schedules and their seats, and opens its waiting-room queue
/// with the configured defaults (change them on the gateway), all or nothing.
#[utoipa::path(
    post,
    path = "/api/v1/admin/concerts",
    tag = "admin",
    security(("adminToken" = [])),
    request_body = CreateConcertRequest,
    responses(
        (status = 201, description = "Created", body = CreatedConcertResponse),
        CreateConcertProblems,
    ),
)]
pub async fn create_concert(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(req): ApiJson<CreateConcertRequest>,
) -> Result<(StatusCode, Json<CreatedConcertResponse>)> {
    let new = req.parse()?;
    let created = concerts::create_concert(&state, &new).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}
