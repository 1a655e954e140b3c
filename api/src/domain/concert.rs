//! A new concert as an admin creates it, and the limits it must keep.

use chrono::{DateTime, Utc};

use crate::error::{ApiError, ErrorCode, Result};

/// A concert's name: 1 to this many characters, none of them control characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Schedules per concert: 1 to this many.
pub const MAX_SCHEDULES: usize = 20;
/// Seats per schedule: 1 to this many.
pub const MAX_SEATS: i64 = 10_000;
/// A seat's price in won: 0 to this much.
pub const MAX_PRICE: i64 = 100_000_000;
/// Start times from 1970-01-01 to 9999-12-31 (Unix seconds): RFC 3339 years, all of which
/// Postgres stores (chrono also parses years it cannot).
const EARLIEST_START: i64 = 0;
const LATEST_START: i64 = 253_402_300_799;

/// A validated new concert.
#[derive(Debug, Clone)]
pub struct NewConcert {
    pub name: String,
    pub schedules: Vec<NewSchedule>,
    /// When the sale opens (a pre-queue drawn at that time before it); `None`: at once.
    pub opens_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub starts_at: DateTime<Utc>,
    pub seat_count: i32,
    pub price: i64,
}

/// One schedule as sent: its start, seat count and price, unchecked.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleDraft {
    pub starts_at: DateTime<Utc>,
    pub seat_count: i64,
    pub price: i64,
}

impl NewConcert {
    /// The concert if it keeps every limit; 400 `INVALID_CONCERT` naming the first it breaks.
    pub fn parse(name: &str, schedules: &[ScheduleDraft]) -> Result<Self> {
        let invalid = |m: String| Err(ApiError::invalid(ErrorCode::InvalidConcert, m));
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return invalid(format!("name must be 1 to {MAX_NAME_CHARS} characters"));
        }
        if name.chars().any(char::is_control) {
            return invalid("name must not contain control characters".into());
        }
        if schedules.is_empty() || schedules.len() > MAX_SCHEDULES {
            return invalid(format!("a concert has 1 to {MAX_SCHEDULES} schedules"));
        }
        let mut parsed = Vec::with_capacity(schedules.len());
        for (i, s) in schedules.iter().enumerate() {
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
            parsed.push(NewSchedule {
                starts_at: s.starts_at,
                seat_count: s.seat_count as i32,
                price: s.price,
            });
        }
        Ok(Self {
            name,
            schedules: parsed,
            opens_at: None,
        })
    }

    /// The concert with its sale opening at `opens_at`, which must be after `now` and before
    /// the first schedule starts (a sale that opens later could sell nothing of it); 422
    /// `INVALID_OPENS_AT` otherwise.
    pub fn opening_at(mut self, opens_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<Self> {
        if opens_at <= now {
            return Err(ApiError::Unprocessable(
                ErrorCode::InvalidOpensAt,
                "opensAt must be in the future",
            ));
        }
        if self.schedules.iter().any(|s| s.starts_at <= opens_at) {
            return Err(ApiError::Unprocessable(
                ErrorCode::InvalidOpensAt,
                "opensAt must be before the first schedule starts",
            ));
        }
        self.opens_at = Some(opens_at);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(seat_count: i64, price: i64) -> ScheduleDraft {
        ScheduleDraft {
            starts_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            seat_count,
            price,
        }
    }

    #[test]
    fn each_limit_is_kept() {
        assert!(NewConcert::parse(" Tour ", &[draft(1, 0)]).is_ok());
        assert_eq!(
            NewConcert::parse(" Tour ", &[draft(1, 0)]).unwrap().name,
            "Tour"
        );
        assert!(NewConcert::parse("", &[draft(1, 0)]).is_err());
        assert!(NewConcert::parse("a\u{7}b", &[draft(1, 0)]).is_err());
        assert!(NewConcert::parse(&"x".repeat(201), &[draft(1, 0)]).is_err());
        assert!(NewConcert::parse("x", &[]).is_err());
        assert!(NewConcert::parse("x", &[draft(1, 0); 21]).is_err());
        assert!(NewConcert::parse("x", &[draft(0, 0)]).is_err());
        assert!(NewConcert::parse("x", &[draft(10_001, 0)]).is_err());
        assert!(NewConcert::parse("x", &[draft(1, -1)]).is_err());
        assert!(NewConcert::parse("x", &[draft(1, 100_000_001)]).is_err());
    }

    #[test]
    fn the_sale_opens_in_the_future_before_the_first_schedule() {
        let concert = NewConcert::parse("x", &[draft(1, 0)]).unwrap();
        let start = concert.schedules[0].starts_at;
        let now = start - chrono::Duration::days(2);
        let day_before = start - chrono::Duration::days(1);
        assert_eq!(
            concert
                .clone()
                .opening_at(day_before, now)
                .unwrap()
                .opens_at,
            Some(day_before)
        );
        assert!(concert.clone().opening_at(now, now).is_err());
        assert!(concert.clone().opening_at(start, now).is_err());
    }
}
