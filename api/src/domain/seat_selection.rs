//! The seats of one hold: 1 to `MAX_SEATS_PER_RESERVATION` distinct positive ids.

use crate::error::{ApiError, ErrorCode, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatSelection(Vec<i64>);

impl SeatSelection {
    pub fn parse(seat_ids: Vec<i64>, max: usize) -> Result<Self> {
        let invalid = |m: String| Err(ApiError::invalid(ErrorCode::InvalidSeatSelection, m));
        if seat_ids.is_empty() {
            return invalid("seatIds must name at least one seat".into());
        }
        if seat_ids.len() > max {
            return invalid(format!("at most {max} seats per reservation"));
        }
        if seat_ids.iter().any(|&s| s < 1) {
            return invalid("seat ids are positive integers".into());
        }
        let mut sorted = seat_ids;
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return invalid("seatIds must not repeat a seat".into());
        }
        Ok(Self(sorted))
    }

    /// The seat ids, ascending.
    pub fn ids(&self) -> &[i64] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_duplicate_too_many_and_negative_are_refused() {
        assert!(SeatSelection::parse(vec![], 4).is_err());
        assert!(SeatSelection::parse(vec![1, 1], 4).is_err());
        assert!(SeatSelection::parse(vec![1, 2, 3, 4, 5], 4).is_err());
        assert!(SeatSelection::parse(vec![0], 4).is_err());
        assert_eq!(SeatSelection::parse(vec![3, 1], 4).unwrap().ids(), &[1, 3]);
    }
}
