//! A concert's sale in figures for the operator's console, and the count of holds created that
//! feeds it.

use chrono::Utc;
use shared::ids::ConcertId;

use crate::{
    error::{ApiError, Result},
    state::AppState,
    store::sales,
};

/// A concert's seats, sales and holds, summed over its schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcertSales {
    pub concert_id: ConcertId,
    pub seats_total: i64,
    pub sold: i64,
    /// Seats held right now.
    pub held: i64,
    /// Seats of the schedules that have not started, neither sold nor held.
    pub sellable: i64,
    /// Payments made, each of one hold: with `holds_created`, how holds turn into sales.
    pub payments: i64,
    pub revenue: i64,
    pub holds_created: i64,
}

/// The sale of `concert_id` as it stands: 404 for an unknown concert. A closed concert still
/// answers (its figures are final).
pub async fn concert_sales(state: &AppState, concert_id: i64) -> Result<ConcertSales> {
    let concert_id = ConcertId::new(concert_id).map_err(|_| ApiError::concert_not_found())?;
    let schedules = sales::schedule_sales(&state.db, concert_id).await?;
    if schedules.is_empty() {
        return Err(ApiError::concert_not_found());
    }
    let ids: Vec<i64> = schedules.iter().map(|s| s.schedule_id).collect();
    let holds = sales::hold_figures(&state.redis, &state.keys, concert_id, &ids).await?;
    let now = Utc::now();
    let mut figures = ConcertSales {
        concert_id,
        seats_total: 0,
        sold: 0,
        held: 0,
        sellable: 0,
        payments: 0,
        revenue: 0,
        holds_created: i64::try_from(holds.created).unwrap_or(i64::MAX),
    };
    for (s, held) in schedules.iter().zip(&holds.held) {
        let held = i64::try_from(*held).unwrap_or(i64::MAX);
        figures.seats_total += i64::from(s.total_seats);
        figures.sold += s.sold;
        figures.held += held;
        figures.revenue += s.revenue;
        figures.payments += s.paid;
        // A started schedule is off sale, as in the schedule list.
        if s.starts_at > now {
            figures.sellable += (i64::from(s.total_seats) - s.sold - held).max(0);
        }
    }
    Ok(figures)
}
