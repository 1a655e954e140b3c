//! Admin endpoints of the api: create a concert with its schedules and seats.

use axum::{extract::State, http::StatusCode, Json};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::http::{Admin, ApiJson};

use super::AppState;
use crate::{
    error::{ApiError, Result},
    store::catalog::{self, CreatedConcert, NewConcert, NewSchedule},
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

const MAX_SCHEDULES: usize = 20;
const MAX_SEATS: i64 = 10_000;
const MAX_PRICE: i64 = 100_000_000;
/// Start times from 1970-01-01 to 9999-12-31 (Unix seconds): RFC 3339 years, all of which
/// Postgres stores (chrono also parses years it cannot).
const EARLIEST_START: i64 = 0;
const LATEST_START: i64 = 253_402_300_799;

impl CreateConcertRequest {
    fn parse(self) -> Result<NewConcert> {
        let invalid = |m: String| Err(ApiError::Invalid("INVALID_CONCERT", m));
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return invalid("name must be 1 to 200 characters".into());
        }
        if name.chars().any(char::is_control) {
            return invalid("name must not contain control characters".into());
        }
        if self.schedules.is_empty() || self.schedules.len() > MAX_SCHEDULES {
            return invalid(format!("a concert has 1 to {MAX_SCHEDULES} schedules"));
        }
        let mut schedules = Vec::with_capacity(self.schedules.len());
        for (i, s) in self.schedules.into_iter().enumerate() {
            if !(1..=MAX_SEATS).contains(&s.seat_count) {
                return invalid(format!("schedules[{i}].seatCount must be 1 to {MAX_SEATS}"));
            }
            if !(0..=MAX_PRICE).contains(&s.price) {
                return invalid(format!("schedules[{i}].price must be 0 to {MAX_PRICE}"));
            }
            if !(EARLIEST_START..=LATEST_START).contains(&s.starts_at.timestamp()) {
                return invalid(format!(
                    "schedules[{i}].startsAt must be between 1970 and 9999"
                ));
            }
            schedules.push(NewSchedule {
                starts_at: s.starts_at,
                seat_count: s.seat_count as i32,
                price: s.price,
            });
        }
        Ok(NewConcert { name, schedules })
    }
}

/// `POST /api/v1/admin/concerts`: creates the concert and opens its queue.
pub async fn create_concert(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(req): ApiJson<CreateConcertRequest>,
) -> Result<(StatusCode, Json<CreatedConcert>)> {
    let new = req.parse()?;
    let created = catalog::create_concert(&state, &new).await?;
    Ok((StatusCode::CREATED, Json(created)))
}
