//! A charge amount: a positive integer number of won, at most `MAX_CHARGE`.

use crate::error::{ApiError, ErrorCode, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(i64);

impl Amount {
    /// Parses the JSON value of `amount`; anything but an integer in `1..=max` is 400 `INVALID_AMOUNT`.
    pub fn parse(value: &serde_json::Value, max: i64) -> Result<Self> {
        match value.as_i64() {
            Some(a) if (1..=max).contains(&a) => Ok(Self(a)),
            _ => Err(ApiError::invalid(
                ErrorCode::InvalidAmount,
                format!("amount must be a positive integer of at most {max}"),
            )),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_positive_integers_up_to_the_maximum_pass() {
        assert_eq!(Amount::parse(&json!(5000), 10_000).unwrap().get(), 5000);
        for bad in [
            json!(0),
            json!(-1),
            json!(10_001),
            json!(1.5),
            json!("100"),
            json!(null),
            json!(1e30),
        ] {
            assert!(Amount::parse(&bad, 10_000).is_err(), "{bad}");
        }
    }
}
