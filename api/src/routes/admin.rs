//! Admin endpoints of the api: create a concert with its schedules and seats, close its sale,
//! and its sale in figures (the operator's console).

use axum::{
    extract::State,
    http::{header, StatusCode},
    Json,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    http::{Admin, ApiJson, ApiPath},
    ids::ConcertId,
};

use crate::{
    domain::{concert::ScheduleDraft, NewConcert},
    error::Result,
    openapi::problems,
    services::{concerts, sales},
    state::AppState,
    store::catalog::{CloseReason, Closed, CreatedConcert},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "Spring Tour", "opensAt": "2027-02-01T10:00:00Z", "schedules": [
    {"startsAt": "2027-03-01T19:00:00Z", "seatCount": 50, "price": 55000}
]}))]
pub struct CreateConcertRequest {
    /// Without control characters; trimmed.
    #[schema(min_length = 1)]
    name: String,
    #[schema(min_items = 1)]
    schedules: Vec<CreateScheduleRequest>,
    /// When the sale opens: in the future and before the first schedule starts. Fans who join
    /// before it wait in a pre-queue, drawn into a random order at this time with a secret seed
    /// whose commitment (`drawCommitment`) is published at once. Absent or null: the queue is
    /// open at once, first come, first served.
    #[serde(default)]
    opens_at: Option<DateTime<Utc>>,
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
    /// When the sale opens; null: open at once.
    #[schema(format = DateTime)]
    opens_at: Option<String>,
    /// With `opensAt`: `SHA-256(seed)` of the draw's secret seed, lower-case hex. The gateway
    /// publishes the seed after the draw, so anyone can check it against this.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    draw_commitment: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedScheduleResponse {
    schedule_id: i64,
    /// By seat number.
    seat_ids: Vec<i64>,
}

impl CreateConcertRequest {
    fn parse(&self, now: DateTime<Utc>) -> Result<NewConcert> {
        let drafts: Vec<ScheduleDraft> = self
            .schedules
            .iter()
            .map(|s| ScheduleDraft {
                starts_at: s.starts_at,
                seat_count: s.seat_count,
                price: s.price,
            })
            .collect();
        let concert = NewConcert::parse(&self.name, &drafts)?;
        match self.opens_at {
            Some(opens_at) => concert.opening_at(opens_at, now),
            None => Ok(concert),
        }
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
            opens_at: created.opens_at.map(rfc3339),
            draw_commitment: created.draw_commitment,
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

problems!(CreateConcertProblems: InvalidConcert, InvalidOpensAt, InvalidBody, MalformedJson, Unauthorized, BodyTooLarge, UnsupportedMediaType, ServiceUnavailable);

/// Create a concert and open its queue
///
/// Creates the concert, its schedules and their seats, and opens its waiting-room queue
/// with the configured defaults (change them on the gateway), all or nothing. With `opensAt`,
/// the queue takes a pre-queue until then and draws it with a secret seed whose commitment
/// the answer carries (the seed itself is never in an answer).
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
    let new = req.parse(Utc::now())?;
    let created = concerts::create_concert(&state, &new).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Why a concert's queue closed.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CloseReasonResponse {
    /// Every seat of the schedules that have not started was sold.
    SoldOut,
    /// Every schedule started, or an admin closed it.
    Closed,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"concertId": 1, "closedAt": "2027-02-01T12:00:00.000Z", "closeReason": "CLOSED"}))]
pub struct ClosedConcertResponse {
    concert_id: i64,
    /// When the queue closed (the first close, for a concert closed before).
    #[schema(format = DateTime)]
    closed_at: String,
    close_reason: CloseReasonResponse,
}

problems!(CloseConcertProblems: InvalidPath, Unauthorized, ConcertNotFound, ServiceUnavailable);

/// Close a concert's sale
///
/// Closes the concert's waiting-room queue: the gateway admits nobody more, tells everyone in
/// line the queue closed, and lets its keys expire; the api never opens it again. Idempotent:
/// a closed concert answers its first close (`SOLD_OUT` when it sold out before).
#[utoipa::path(
    post,
    path = "/api/v1/admin/concerts/{concertId}/close",
    tag = "admin",
    security(("adminToken" = [])),
    params(("concertId" = i64, Path, minimum = 1, description = "the concert to close")),
    responses(
        (status = 200, description = "Closed (now or before)", body = ClosedConcertResponse),
        CloseConcertProblems,
    ),
)]
pub async fn close_concert(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<Json<ClosedConcertResponse>> {
    let Closed { at, reason } = concerts::close_concert(&state, concert_id).await?;
    Ok(Json(ClosedConcertResponse {
        concert_id,
        closed_at: rfc3339(at),
        close_reason: match reason {
            CloseReason::SoldOut => CloseReasonResponse::SoldOut,
            CloseReason::Closed => CloseReasonResponse::Closed,
        },
    }))
}

/// A concert's sale in figures, summed over its schedules.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ConcertSales, example = json!({
    "concertId": 1, "seatsTotal": 100, "sold": 40, "held": 12, "sellable": 48,
    "payments": 21, "revenue": 2200000, "holdsCreated": 30
}))]
pub struct ConcertSalesResponse {
    concert_id: ConcertId,
    #[schema(minimum = 0)]
    seats_total: i64,
    /// Tickets sold.
    #[schema(minimum = 0)]
    sold: i64,
    /// Seats held right now (their holds neither paid nor lapsed).
    #[schema(minimum = 0)]
    held: i64,
    /// Seats of the schedules that have not started, neither sold nor held right now.
    #[schema(minimum = 0)]
    sellable: i64,
    /// Payments made; each pays one hold.
    #[schema(minimum = 0)]
    payments: i64,
    /// The payments' sum, in won.
    #[schema(minimum = 0)]
    revenue: i64,
    /// Holds created since the sale began, counted in Redis (it lags after Redis lost its
    /// data); `payments / holdsCreated` is how holds turn into sales.
    #[schema(minimum = 0)]
    holds_created: i64,
}

problems!(ConcertSalesProblems: InvalidPath, Unauthorized, ConcertNotFound, ServiceUnavailable);

/// A concert's sale in figures
///
/// Seats in all, sold, held now and still sellable, payments and their sum, and holds created:
/// live figures for the operator's console (read them every second or two). Sold seats and
/// payments come from Postgres, held seats and holds created from Redis. A closed concert
/// answers its final figures.
#[utoipa::path(
    get,
    path = "/api/v1/admin/concerts/{concertId}/sales",
    tag = "admin",
    security(("adminToken" = [])),
    params(("concertId" = i64, Path, minimum = 1, description = "the concert")),
    responses(
        (status = 200, description = "The sale as it stands", body = ConcertSalesResponse),
        ConcertSalesProblems,
    ),
)]
pub async fn get_concert_sales(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<(
    [(header::HeaderName, &'static str); 1],
    Json<ConcertSalesResponse>,
)> {
    let s = sales::concert_sales(&state, concert_id).await?;
    // Live figures: a cache must not answer an old sale.
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(ConcertSalesResponse {
            concert_id: s.concert_id,
            seats_total: s.seats_total,
            sold: s.sold,
            held: s.held,
            sellable: s.sellable,
            payments: s.payments,
            revenue: s.revenue,
            holds_created: s.holds_created,
        }),
    ))
}
