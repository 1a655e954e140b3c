//! The pre-queue draw, as anyone can check it.
//!
//! Before a sale opens the concert's queue holds a secret random seed and publishes only its
//! commitment, `SHA-256(seed)`. At the opening every pre-queue entrant gets the key
//! `SHA-256(seed ‖ entrant id)`, where the entrant id is `SHA-256(concert id ‖ ":" ‖ user id)`
//! (so the published data names no user), and the entrants are placed in the line in the order
//! of their keys. Then the seed is published with the entrant ids in drawn order: anyone can
//! check that the seed matches the commitment and that the keys sort into that order, and a fan
//! finds their own place by their entrant id. Nobody, the gateway included, can steer the order
//! after the commitment, and nobody can compute it before the seed is revealed.

use sha2::{Digest, Sha256};

/// A draw's secret seed.
pub type Seed = [u8; 32];

/// A new random seed.
pub fn new_seed() -> Seed {
    rand::random()
}

/// The published commitment to a seed.
pub fn commitment(seed: &Seed) -> [u8; 32] {
    Sha256::digest(seed).into()
}

/// The pseudonymous id of a user in one concert's draw.
pub fn entrant_id(concert_id: i64, user_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(concert_id.to_string().as_bytes());
    h.update(b":");
    h.update(user_id.as_bytes());
    h.finalize().into()
}

/// An entrant's draw key: the line follows these keys, lowest first.
pub fn draw_key(seed: &Seed, entrant: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(entrant);
    h.finalize().into()
}

/// Puts `entrants` in drawn order (by key, ties, which SHA-256 makes unheard of, by id).
pub fn order<T>(seed: &Seed, entrants: &mut [(T, [u8; 32])]) {
    entrants.sort_by_cached_key(|(_, id)| (draw_key(seed, id), *id));
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The 32 bytes a 64-character hex string names.
pub fn from_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_follows_the_keys_and_depends_on_the_seed() {
        let ids: Vec<(usize, [u8; 32])> = (0..50)
            .map(|i| (i, entrant_id(7, &format!("user{i}"))))
            .collect();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let mut by_a = ids.clone();
        order(&a, &mut by_a);
        let mut by_b = ids.clone();
        order(&b, &mut by_b);
        assert_ne!(by_a, by_b, "another seed, another order");
        let keys: Vec<_> = by_a.iter().map(|(_, id)| draw_key(&a, id)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn hex_round_trips() {
        let seed = new_seed();
        assert_eq!(from_hex(&to_hex(&seed)), Some(seed));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(to_hex(&commitment(&[0; 32])).len(), 64);
        // SHA-256 of 32 zero bytes.
        assert_eq!(
            to_hex(&commitment(&[0; 32])),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }
}
