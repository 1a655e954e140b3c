//! Reservation ids: UUIDs (version 8, RFC 9562) that carry their concert in the first 48
//! bits and are random in the other 74. A held reservation lives in Redis under its concert's
//! keys (one hash slot per concert), so the account endpoints find it from the id alone,
//! whichever concert's token the caller presents.

use uuid::{Builder, Uuid};

/// Concert ids up to 2^48 fit; a larger one gets a plain random (version 4) id.
const CONCERT_BITS: u32 = 48;

/// A new reservation id for `concert_id`.
pub fn new(concert_id: i64) -> Uuid {
    let random = Uuid::new_v4();
    if !(0..1 << CONCERT_BITS).contains(&concert_id) {
        return random;
    }
    let mut bytes = *random.as_bytes();
    bytes[..6].copy_from_slice(&concert_id.to_be_bytes()[2..]);
    Builder::from_custom_bytes(bytes).into_uuid()
}

/// The concert a reservation id names, if it is one of [`new`]'s.
pub fn concert_of(id: &Uuid) -> Option<i64> {
    if id.get_version_num() != 8 {
        return None;
    }
    let mut be = [0u8; 8];
    be[2..].copy_from_slice(&id.as_bytes()[..6]);
    Some(i64::from_be_bytes(be))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_concert_comes_back_from_the_id() {
        for concert in [1, 42, (1 << 48) - 1] {
            let id = new(concert);
            assert_eq!(id.get_version_num(), 8);
            assert_eq!(concert_of(&id), Some(concert));
        }
        assert_ne!(new(7), new(7), "random past the concert");
        assert_eq!(concert_of(&new(1 << 48)), None, "too large: a plain v4 id");
        assert_eq!(concert_of(&Uuid::new_v4()), None);
    }
}
