//! The pre-queue's draw at a sale's opening, and what is published of it.
//!
//! The scheduler calls [`draw`] once a tick says the sale has opened: it reads the pre-queue
//! (one `ZRANGE`), orders it by the draw's keys (`shared::draw`, with the seed committed to
//! when the concert was created), and applies the order in one `draw.lua` call, which places
//! the entrants at the head of the line exactly once however many gateways drew. The seed,
//! secret until then, is published with the entrant ids in drawn order ([`published`]).

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, PoisonError, RwLock},
};

use redis::Script;
use shared::{
    draw::{self, Seed},
    ids::{ConcertId, TicketId},
    keys::Keys,
    redis_pool::Pool,
};

use crate::error::Result;

static DRAW: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("draw.lua")));

/// A concert's draw as anyone may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedDraw {
    pub opens_at_ms: i64,
    /// `SHA-256(seed)`, hex.
    pub commitment: String,
    /// After the draw: the seed and the order.
    pub revealed: Option<Revealed>,
}

/// What the draw revealed.
#[derive(Debug, Clone, PartialEq)]
pub struct Revealed {
    pub seed: String,
    /// The sequence of the first drawn place (`drawFirst`); place `n` is `first + n - 1`.
    pub first: u64,
    pub drawn_at_ms: i64,
    /// Entrant ids (`shared::draw::entrant_id`) in drawn order: the first is place 1.
    pub entrants: Vec<[u8; 32]>,
}

/// Draws the pre-queue of `concert_id` into the head of its line; `Some(entrants placed)`
/// when this call applied the draw, `None` when it was applied already (or is not due).
pub async fn draw(redis: &Pool, keys: &Keys, concert_id: ConcertId) -> Result<Option<u64>> {
    let k = keys.concert(concert_id.get());
    let mut conn = redis.get().await?;
    let (seed, drawn, users): (Option<String>, Option<String>, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("HGET")
        .arg(k.config())
        .arg("seed")
        .cmd("HGET")
        .arg(k.config())
        .arg("drawn")
        .cmd("ZRANGE")
        .arg(k.pre_queue())
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await?;
    if drawn.as_deref() == Some("1") {
        return Ok(None);
    }
    let seed: Seed = match seed.as_deref().and_then(draw::from_hex) {
        Some(seed) => seed,
        None => {
            return Err(
                anyhow::anyhow!("concert {concert_id} has a sale opening but no draw seed").into(),
            )
        }
    };
    let cid = concert_id.get();
    let mut entrants: Vec<(String, [u8; 32])> = users
        .into_iter()
        .map(|u| {
            let id = draw::entrant_id(cid, &u);
            (u, id)
        })
        .collect();
    draw::order(&seed, &mut entrants);
    let ids: Vec<u8> = entrants.iter().flat_map(|(_, id)| *id).collect();
    let mut call = DRAW.key(k.config());
    call.key(k.pre_queue())
        .key(k.queue())
        .key(k.queue_gaps())
        .key(k.draw())
        .arg(ids);
    for (user, _) in &entrants {
        call.arg(user);
    }
    let (applied, placed): (i64, u64) = call.invoke_async(&mut conn).await?;
    Ok((applied == 1).then_some(placed))
}

/// The draw of `concert_id` as published; `None` when its queue has no sale opening (or no
/// queue at all).
pub async fn published(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
) -> Result<Option<PublishedDraw>> {
    let k = keys.concert(concert_id.get());
    let mut conn = redis.get().await?;
    let (cfg, order): (Vec<Option<String>>, Option<Vec<u8>>) = redis::pipe()
        .atomic()
        .cmd("HMGET")
        .arg(k.config())
        .arg(&["opensAt", "commit", "drawn", "seed", "drawnAt", "drawFirst"])
        .cmd("GET")
        .arg(k.draw())
        .query_async(&mut conn)
        .await?;
    let field = |i: usize| cfg.get(i).cloned().flatten();
    let (Some(opens_at), Some(commitment)) = (field(0), field(1)) else {
        return Ok(None);
    };
    let opens_at_ms: i64 = opens_at.parse().unwrap_or(0);
    if opens_at_ms <= 0 {
        return Ok(None);
    }
    // The seed is secret until the draw is applied; only then is it read out.
    let revealed = match (field(2).as_deref(), field(3), order) {
        (Some("1"), Some(seed), Some(order)) => Some(Revealed {
            seed,
            first: field(5).and_then(|f| f.parse().ok()).unwrap_or(0),
            drawn_at_ms: field(4).and_then(|t| t.parse().ok()).unwrap_or(0),
            entrants: order
                .chunks_exact(32)
                .map(|c| <[u8; 32]>::try_from(c).unwrap_or_default())
                .collect(),
        }),
        _ => None,
    };
    Ok(Some(PublishedDraw {
        opens_at_ms,
        commitment,
        revealed,
    }))
}

/// A revealed draw, indexed by entrant, as this gateway keeps it.
#[derive(Debug)]
pub struct KnownDraw {
    pub published: PublishedDraw,
    places: HashMap<[u8; 32], u64>,
}

impl KnownDraw {
    /// The drawn place (from 1) of `entrant`, if it was in the draw.
    pub fn place_of(&self, entrant: &[u8; 32]) -> Option<u64> {
        self.places.get(entrant).copied()
    }

    /// The arrival sequence `entrant` was drawn to, if it was in the draw.
    pub fn ticket_of(&self, entrant: &[u8; 32]) -> Option<TicketId> {
        let first = self.published.revealed.as_ref()?.first;
        let place = self.place_of(entrant)?;
        (first > 0).then(|| TicketId::new(first + place - 1))
    }
}

/// Revealed draws, kept in memory once read: a draw never changes once made, and at an
/// opening every fan of the pre-queue asks for their place at about the same time.
#[derive(Debug, Default)]
pub struct KnownDraws {
    draws: RwLock<HashMap<ConcertId, Arc<KnownDraw>>>,
}

/// Revealed draws kept at most (concerts whose sale opened lately).
const KNOWN_DRAWS: usize = 64;

impl KnownDraws {
    /// The draw of `concert_id`: a revealed one from memory, else as Redis has it now.
    pub async fn get(
        &self,
        redis: &Pool,
        keys: &Keys,
        concert_id: ConcertId,
    ) -> Result<Option<Arc<KnownDraw>>> {
        if let Some(known) = self
            .draws
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&concert_id)
        {
            return Ok(Some(known.clone()));
        }
        let Some(published) = published(redis, keys, concert_id).await? else {
            return Ok(None);
        };
        let places = published
            .revealed
            .as_ref()
            .map(|r| {
                r.entrants
                    .iter()
                    .enumerate()
                    .map(|(i, id)| (*id, i as u64 + 1))
                    .collect()
            })
            .unwrap_or_default();
        let known = Arc::new(KnownDraw { published, places });
        if known.published.revealed.is_some() {
            let mut draws = self.draws.write().unwrap_or_else(PoisonError::into_inner);
            if draws.len() >= KNOWN_DRAWS {
                draws.clear();
            }
            draws.insert(concert_id, known.clone());
        }
        Ok(Some(known))
    }
}
