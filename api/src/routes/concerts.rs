//! Schedules and seat maps (booking: active session, token for this concert).

use std::hash::{Hash, Hasher};

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use shared::{http::ApiPath, ids::ConcertId};

use crate::{
    auth::Caller,
    error::{ApiError, ErrorCode, Result},
    openapi::problems,
    services::concerts::{self, ScheduleAvailability, SeatMap, SeatState, SeatStatus},
    state::AppState,
};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleResponse {
    schedule_id: i64,
    #[schema(format = DateTime, example = "2027-01-01T19:00:00Z")]
    starts_at: String,
    #[schema(minimum = 0)]
    total_seats: i64,
    /// Neither sold nor held right now; 0 once the schedule has started (it is not on sale).
    #[schema(minimum = 0)]
    available_seats: i64,
}

impl From<ScheduleAvailability> for ScheduleResponse {
    fn from(s: ScheduleAvailability) -> Self {
        Self {
            schedule_id: s.schedule_id,
            starts_at: s.starts_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            total_seats: s.total_seats,
            available_seats: s.available_seats,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchedulesResponse {
    concert_id: ConcertId,
    /// By start time.
    schedules: Vec<ScheduleResponse>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SchedulesQuery {
    /// `true`: only the dates still on sale (not started, with a seat neither sold nor held).
    #[serde(default)]
    available: bool,
}

problems!(ListSchedulesProblems: InvalidPath, InvalidQuery, InvalidAccessToken, SessionNotActive, WrongConcert, ConcertNotFound, ServiceUnavailable);

/// The concert's schedules and their free seats
///
/// Each schedule with its seats that are neither sold nor held right now (none once it has
/// started); with `available=true`, only the dates still on sale. The `ETag` changes with what
/// the list shows; send it back in `If-None-Match` to get a bodiless 304.
#[utoipa::path(
    get,
    path = "/api/v1/concerts/{concertId}/schedules",
    tag = "booking",
    security(("accessToken" = [])),
    params(
        ("concertId" = i64, Path, minimum = 1, description = "the concert of the access token"),
        ("If-None-Match" = Option<String>, Header, description = "the `ETag` of the list the caller has"),
        SchedulesQuery,
    ),
    responses(
        (status = 200, description = "The concert's schedules", body = SchedulesResponse,
            headers(("ETag" = String, description = "the list's version"))),
        (status = 304, description = "Unchanged since the `ETag` in `If-None-Match`; no body",
            headers(("ETag" = String, description = "the list's version"))),
        ListSchedulesProblems,
    ),
)]
pub async fn list_schedules(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(concert_id): ApiPath<i64>,
    query: std::result::Result<Query<SchedulesQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response> {
    let Query(SchedulesQuery { available }) = query.map_err(invalid_query)?;
    let (concert_id, schedules) =
        concerts::list_schedules(&state, &caller, concert_id, available).await?;
    let mut h = std::hash::DefaultHasher::new();
    concert_id.get().hash(&mut h);
    for s in &schedules {
        (
            s.schedule_id,
            s.starts_at.timestamp(),
            s.total_seats,
            s.available_seats,
        )
            .hash(&mut h);
    }
    // The filtered list has tags of its own: a list's tag never matches the other's.
    let kind = if available { 'a' } else { 'l' };
    Ok(conditional(&headers, entity_tag(kind, h.finish()), || {
        Json(SchedulesResponse {
            concert_id,
            schedules: schedules.into_iter().map(Into::into).collect(),
        })
        .into_response()
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatResponse {
    seat_id: i64,
    seat_number: i32,
    /// In won.
    #[schema(minimum = 0)]
    price: i64,
    status: SeatStatus,
    /// Held by the caller's own open hold.
    mine: bool,
}

impl From<SeatState<'_>> for SeatResponse {
    fn from(s: SeatState<'_>) -> Self {
        Self {
            seat_id: s.seat.id,
            seat_number: s.seat.number,
            price: s.seat.price,
            status: s.status,
            mine: s.mine,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatsResponse {
    schedule_id: i64,
    /// By seat number.
    seats: Vec<SeatResponse>,
}

/// The seat map in a few bytes per seat, for large schedules: seat `i` (by seat number) is
/// the `i`-th id of `seatIds`, number of `seatNumbers` and price of `prices` (each as runs),
/// and the `i`-th letter of `status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompactSeatsResponse {
    schedule_id: i64,
    /// The map's version, as in its `ETag`.
    version: String,
    #[schema(minimum = 0)]
    seat_count: usize,
    /// Runs of consecutive seat ids: `[first id, count]`.
    seat_ids: Vec<[i64; 2]>,
    /// Runs of consecutive seat numbers: `[first number, count]`.
    seat_numbers: Vec<[i64; 2]>,
    /// Runs of equal prices in won: `[price, count]`.
    prices: Vec<[i64; 2]>,
    /// One letter per seat: `A` available, `H` held by someone else, `M` held by the caller's
    /// own open hold, `S` sold.
    #[schema(pattern = "^[AHMS]*$", example = "AAHMSA")]
    status: String,
}

/// Runs of `values`: `[first, count]` of values that each follow the previous one by `step`.
fn runs(values: impl Iterator<Item = i64>, step: i64) -> Vec<[i64; 2]> {
    let mut runs: Vec<[i64; 2]> = Vec::new();
    let mut last = None;
    for v in values {
        match (runs.last_mut(), last) {
            (Some(run), Some(prev)) if v == prev + step => run[1] += 1,
            _ => runs.push([v, 1]),
        }
        last = Some(v);
    }
    runs
}

impl CompactSeatsResponse {
    fn new(map: &SeatMap, version: String) -> Self {
        let seats = &map.schedule.seats;
        Self {
            schedule_id: map.schedule.schedule_id,
            version,
            seat_count: seats.len(),
            seat_ids: runs(seats.iter().map(|s| s.id), 1),
            seat_numbers: runs(seats.iter().map(|s| i64::from(s.number)), 1),
            prices: runs(seats.iter().map(|s| s.price), 0),
            status: map.letters.iter().map(|&b| char::from(b)).collect(),
        }
    }
}

/// A seat map in the form asked for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SeatMapResponse {
    Full(SeatsResponse),
    Compact(CompactSeatsResponse),
}

/// How the seat map is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeatMapFormat {
    /// One object per seat (`SeatsResponse`).
    #[default]
    Full,
    /// Runs and one letter per seat (`CompactSeatsResponse`), a few KB for 5,000 seats.
    Compact,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeatsQuery {
    /// `full` (the default) or `compact`.
    #[serde(default)]
    #[param(inline)]
    format: SeatMapFormat,
}

/// 400 `INVALID_QUERY` for a query string the endpoint does not take.
fn invalid_query(e: QueryRejection) -> ApiError {
    ApiError::invalid(
        ErrorCode::InvalidQuery,
        format!("invalid query: {}", e.body_text()),
    )
}

/// The entity tag of a response whose content hashes to `version` (quoted, as HTTP has it).
fn entity_tag(kind: char, version: u64) -> String {
    format!("\"{kind}{version:016x}\"")
}

/// Whether `If-None-Match` names `tag` (or is `*`); weak and strong tags compare alike, as
/// RFC 9110 has it for `If-None-Match`.
fn none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

/// 304 when the caller already has `tag`, else `body`; both with the tag. `private, no-cache`:
/// the map is per caller (their own holds), and must be revalidated every time.
fn conditional(headers: &HeaderMap, tag: String, body: impl FnOnce() -> Response) -> Response {
    let mut res = if none_match(headers, &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body()
    };
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    res
}

problems!(ListSeatsProblems: InvalidPath, InvalidQuery, InvalidAccessToken, SessionNotActive, WrongConcert, ScheduleNotFound, ServiceUnavailable);

/// The seat map of a schedule
///
/// Every seat with its price and whether it is available, held (by the caller or someone
/// else) or sold; with `format=compact`, the same in runs and one letter per seat. The `ETag`
/// changes with every hold, release, lapse and sale of the schedule; send it back in
/// `If-None-Match` to get a bodiless 304 while the map is unchanged.
#[utoipa::path(
    get,
    path = "/api/v1/concerts/{concertId}/schedules/{scheduleId}/seats",
    tag = "booking",
    security(("accessToken" = [])),
    params(
        ("concertId" = i64, Path, minimum = 1, description = "the concert of the access token"),
        ("scheduleId" = i64, Path, minimum = 1, description = "a schedule of that concert"),
        ("If-None-Match" = Option<String>, Header, description = "the `ETag` of the map the caller has"),
        SeatsQuery,
    ),
    responses(
        (status = 200, description = "The seat map (`CompactSeatsResponse` with `format=compact`)",
            body = SeatMapResponse,
            headers(("ETag" = String, description = "the map's version, as the caller sees it"))),
        (status = 304, description = "Unchanged since the `ETag` in `If-None-Match`; no body",
            headers(("ETag" = String, description = "the map's version, as the caller sees it"))),
        ListSeatsProblems,
    ),
)]
pub async fn list_seats(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((concert_id, schedule_id)): ApiPath<(i64, i64)>,
    query: std::result::Result<Query<SeatsQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response> {
    let Query(SeatsQuery { format }) = query.map_err(invalid_query)?;
    let map = concerts::seat_map(&state, &caller, concert_id, schedule_id).await?;
    let kind = if format == SeatMapFormat::Compact {
        'c'
    } else {
        's'
    };
    let tag = entity_tag(kind, map.version());
    Ok(conditional(&headers, tag.clone(), || {
        let body = state
            .seats
            .maps
            .get_or_render(schedule_id, kind as u8, &map.letters, || {
                serde_json::to_vec(&match format {
                    SeatMapFormat::Full => SeatMapResponse::Full(SeatsResponse {
                        schedule_id,
                        seats: map.seats().map(Into::into).collect(),
                    }),
                    SeatMapFormat::Compact => SeatMapResponse::Compact(CompactSeatsResponse::new(
                        &map,
                        tag.trim_matches('"').to_owned(),
                    )),
                })
            });
        match body {
            Ok(body) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => {
                ApiError::Unexpected(anyhow::Error::new(e).context("seat map")).into_response()
            }
        }
    }))
}
