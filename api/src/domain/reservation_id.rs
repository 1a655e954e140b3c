//! Reservation ids: UUIDs (version 8, RFC 9562) that carry their concert in the first 48
//! bits and are random in the other 74. A held reservation lives in Redis under its concert's
//! keys (one hash slot per concert), so the account endpoints find it from the id alone,
//! whichever concert's token the caller presents.

use shared::ids::ConcertId;
use uuid::{Builder, Uuid};

/// Concert ids up to 2^48 fit; a larger one gets a plain random (version 4) id.
const CONCERT_BITS: u32 = 48;

/// A new reservation id for `concert_id`.
pub fn new(concert_id: ConcertId) -> Uuid {
    let concert_id = concert_id.get();
    // The thread's CSPRNG rather than `Uuid::new_v4`, which makes a `getrandom` system call
    // for every id: one per hold.
    let random = Builder::from_random_bytes(rand::random()).into_uuid();
    if !(0..1 << CONCERT_BITS).contains(&concert_id) {
        return random;
    }
    let mut bytes = *random.as_bytes();
    bytes[..6].copy_from_slice(&concert_id.to_be_bytes()[2..]);
    Builder::from_custom_bytes(bytes).into_uuid()
}

/// The concert a reservation id names, if it is one of [`new`]'s.
pub fn concert_of(id: &Uuid) -> Option<ConcertId> {
    if id.get_version_num() != 8 {
        return None;
    }
    let mut be = [0u8; 8];
    be[2..].copy_from_slice(&id.as_bytes()[..6]);
    ConcertId::new(i64::from_be_bytes(be)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_concert_comes_back_from_the_id() {
        let concert = |id| ConcertId::new(id).unwrap();
        for id in [1, 42, (1 << 48) - 1] {
            let rid = new(concert(id));
            assert_eq!(rid.get_version_num(), 8);
            assert_eq!(concert_of(&rid), Some(concert(id)));
        }
        assert_ne!(new(concert(7)), new(concert(7)), "random past the concert");
        assert_eq!(
            concert_of(&new(concert(1 << 48))),
            None,
            "too large: a plain v4 id"
        );
        assert_eq!(concert_of(&Uuid::new_v4()), None);
    }
}
