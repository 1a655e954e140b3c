//! Queue tokens: a [`Place`] in line sealed with HMAC-SHA256, so status needs no lookup to
//! find the place and a guessed or altered token fails before Redis is asked.
//!
//! Layout before base64url: `version (1) | concert id (8, BE) | ticket id (8, BE) | user id | mac (16)`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use shared::ids::{ConcertId, TicketId, UserId};

use crate::queue::Place;

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 8 + 8;

/// Seals and opens queue tokens under the gateway secret.
#[derive(Clone)]
pub struct QueueTokens {
    /// The HMAC with the key already absorbed: each token costs a clone, not a key schedule.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for QueueTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueTokens(***)")
    }
}

impl QueueTokens {
    pub fn new(secret: [u8; 32]) -> Self {
        // ok: HMAC accepts keys of any length
        let keyed = Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC takes any key length");
        Self { keyed }
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.keyed.clone()
    }

    pub fn seal(&self, place: &Place) -> String {
        let user = place.user_id.as_str();
        let mut buf = Vec::with_capacity(HEADER_LEN + user.len() + MAC_LEN);
        buf.push(VERSION);
        buf.extend_from_slice(&place.concert_id.get().to_be_bytes());
        buf.extend_from_slice(&place.ticket_id.get().to_be_bytes());
        buf.extend_from_slice(user.as_bytes());
        let mut mac = self.mac();
        mac.update(&buf);
        buf.extend_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// Opens a token; `None` for anything not sealed by us.
    pub fn open(&self, token: &str) -> Option<Place> {
        if token.len() > 200 {
            return None;
        }
        let buf = URL_SAFE_NO_PAD.decode(token).ok()?;
        if buf.len() < HEADER_LEN + 1 + MAC_LEN || buf[0] != VERSION {
            return None;
        }
        let (body, tag) = buf.split_at(buf.len() - MAC_LEN);
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_truncated_left(tag).ok()?;
        // A sealed place was valid when sealed; these checks only refuse what no key sealed.
        let concert_id = ConcertId::new(i64::from_be_bytes(body[1..9].try_into().ok()?)).ok()?;
        let ticket_id = TicketId::new(u64::from_be_bytes(body[9..17].try_into().ok()?));
        let user_id = UserId::parse(std::str::from_utf8(&body[HEADER_LEN..]).ok()?).ok()?;
        Some(Place {
            concert_id,
            ticket_id,
            user_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Place {
        Place {
            concert_id: ConcertId::new(7).unwrap(),
            ticket_id: TicketId::new(123_456),
            user_id: UserId::parse("alice_01").unwrap(),
        }
    }

    #[test]
    fn sealed_token_opens_to_the_same_place() {
        let t = QueueTokens::new([1; 32]);
        assert_eq!(t.open(&t.seal(&place())), Some(place()));
    }

    #[test]
    fn altered_foreign_or_garbage_tokens_do_not_open() {
        let t = QueueTokens::new([1; 32]);
        let token = t.seal(&place());
        let other = QueueTokens::new([2; 32]);
        assert_eq!(other.open(&token), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[5] ^= 1;
        assert_eq!(t.open(&URL_SAFE_NO_PAD.encode(&bytes)), None);
        for garbage in ["", "x", "!!!", &"A".repeat(300), &token[..token.len() - 2]] {
            assert_eq!(t.open(garbage), None, "{garbage:?}");
        }
    }
}
