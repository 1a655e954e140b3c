//! A reservation's status: [`HoldState`] as its Redis hash stores it while held, and
//! [`ReservationStatus`] as its owner sees it.

/// The `status` of a reservation's Redis hash (with `payingUntil` while a payment claims it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldState {
    Held,
    /// Claimed by a payment (`claim.lua`) until `until_ms`: no cancel and no other payment
    /// meanwhile.
    Paying {
        until_ms: i64,
    },
    Canceled,
    Confirmed,
}

impl HoldState {
    /// From the hash's `status` and `payingUntil` fields; `None` for a status no script writes.
    pub fn parse(status: &str, paying_until: Option<&str>) -> Option<Self> {
        Some(match status {
            "HELD" => Self::Held,
            "PAYING" => Self::Paying {
                until_ms: paying_until.and_then(|t| t.parse().ok()).unwrap_or(0),
            },
            "CANCELED" => Self::Canceled,
            "CONFIRMED" => Self::Confirmed,
            _ => return None,
        })
    }

    /// What the owner sees at `now_ms` of a hold that ends at `expires_at_ms`: a hold past its
    /// expiry is EXPIRED, unless a payment that claimed it in time is still running; a
    /// reservation being paid is still HELD.
    pub fn visible(self, expires_at_ms: i64, now_ms: i64) -> ReservationStatus {
        let lapsed = expires_at_ms <= now_ms;
        match self {
            Self::Held if lapsed => ReservationStatus::Expired,
            Self::Paying { until_ms } if lapsed && until_ms <= now_ms => ReservationStatus::Expired,
            Self::Held | Self::Paying { .. } => ReservationStatus::Held,
            Self::Canceled => ReservationStatus::Canceled,
            Self::Confirmed => ReservationStatus::Confirmed,
        }
    }
}

/// A reservation's status as its owner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReservationStatus {
    /// The seats are held until `expiresAt` (or a payment of them is running).
    Held,
    /// Paid: the seats are sold to the owner.
    Confirmed,
    /// Released by its owner.
    Canceled,
    /// The hold lapsed unpaid.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lapsed_hold_is_expired_unless_a_payment_still_claims_it() {
        let held = HoldState::parse("HELD", None).unwrap();
        assert_eq!(held.visible(1_000, 999), ReservationStatus::Held);
        assert_eq!(held.visible(1_000, 1_000), ReservationStatus::Expired);
        let paying = HoldState::parse("PAYING", Some("2000")).unwrap();
        assert_eq!(paying, HoldState::Paying { until_ms: 2_000 });
        assert_eq!(paying.visible(1_000, 1_500), ReservationStatus::Held);
        assert_eq!(paying.visible(1_000, 2_000), ReservationStatus::Expired);
        assert_eq!(
            HoldState::parse("PAYING", None)
                .unwrap()
                .visible(1_000, 1_500),
            ReservationStatus::Expired
        );
        assert_eq!(
            HoldState::parse("CONFIRMED", None).unwrap().visible(0, 1),
            ReservationStatus::Confirmed
        );
        assert_eq!(
            HoldState::parse("CANCELED", None).unwrap().visible(9, 1),
            ReservationStatus::Canceled
        );
        assert_eq!(HoldState::parse("held", None), None);
    }
}
