//! Admin endpoints of the api: create a concert with its schedules and seats.

use axum::{extract::State, http::StatusCode, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::http::{Admin, ApiJson};

use crate::{
    domain::{concert::ScheduleDraft, NewConcert},
    error::Result,
    services::concerts,
    state::AppState,
    store::catalog::CreatedConcert,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateConcertRequest {
    name: String,
    schedules: Vec<CreateScheduleRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateScheduleRequest {
    starts_at: DateTime<Utc>,
    seat_count: i64,
    price: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedConcertResponse {
    concert_id: i64,
    schedules: Vec<CreatedScheduleResponse>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedScheduleResponse {
    schedule_id: i64,
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

/// `POST /api/v1/admin/concerts`: creates the concert and opens its queue.
pub async fn create_concert(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(req): ApiJson<CreateConcertRequest>,
) -> Result<(StatusCode, Json<CreatedConcertResponse>)> {
    let new = req.parse()?;
    let created = concerts::create_concert(&state, &new).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}
