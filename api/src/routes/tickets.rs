//! The caller's tickets (account: the user's identity token or any access token of theirs).

use axum::{extract::State, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    auth::AccountCaller, error::Result, openapi::problems, services::tickets, state::AppState,
    store::payments::OwnedTicket,
};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketResponse {
    ticket_id: i64,
    concert_id: i64,
    concert_name: String,
    schedule_id: i64,
    #[schema(format = DateTime, example = "2027-01-01T19:00:00Z")]
    starts_at: String,
    seat_id: i64,
    seat_number: i32,
    /// What was paid for this seat, in won.
    #[schema(minimum = 0)]
    price: i64,
    payment_id: Uuid,
    reservation_id: Uuid,
    #[schema(format = DateTime, example = "2026-12-01T10:00:00.000Z")]
    purchased_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketsResponse {
    /// Newest purchase first.
    tickets: Vec<TicketResponse>,
}

fn rfc3339(t: DateTime<Utc>, form: SecondsFormat) -> String {
    t.to_rfc3339_opts(form, true)
}

impl From<OwnedTicket> for TicketResponse {
    fn from(t: OwnedTicket) -> Self {
        Self {
            ticket_id: t.ticket_id,
            concert_id: t.concert_id,
            concert_name: t.concert_name,
            schedule_id: t.schedule_id,
            starts_at: rfc3339(t.starts_at, SecondsFormat::Secs),
            seat_id: t.seat_id,
            seat_number: t.seat_number,
            price: t.price,
            payment_id: t.payment_id,
            reservation_id: t.reservation_id,
            purchased_at: rfc3339(t.purchased_at, SecondsFormat::Millis),
        }
    }
}

problems!(ListTicketsProblems: InvalidAccessToken, ServiceUnavailable);

/// The caller's tickets
///
/// Every ticket the caller bought, of every concert, newest first: the concert, the
/// schedule's start, the seat, its price and the payment. Never another user's.
#[utoipa::path(
    get,
    path = "/api/v1/tickets",
    tag = "account",
    security(("accessToken" = []), ("identityToken" = [])),
    responses(
        (status = 200, description = "The caller's tickets (empty when none)", body = TicketsResponse),
        ListTicketsProblems,
    ),
)]
pub async fn list_tickets(
    State(state): State<AppState>,
    caller: AccountCaller,
) -> Result<Json<TicketsResponse>> {
    let owned = tickets::list(&state, &caller).await?;
    Ok(Json(TicketsResponse {
        tickets: owned.into_iter().map(Into::into).collect(),
    }))
}
