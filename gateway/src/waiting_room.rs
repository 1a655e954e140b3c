//! The use cases (join, status, leave, stats, settings): the steps from a handler to the store.
//!
//! Join: the address's rate (checked first by the handler), the batched join, the sealed place. Status: the line view, else a
//! batched read; an access token once admitted. Leave and new settings drop the line view.

use std::{
    collections::HashSet,
    net::IpAddr,
    sync::{Arc, PoisonError, RwLock},
};

use chrono::Utc;
use shared::{
    config::QueueSettings,
    ids::{ConcertId, UserId},
    keys::Keys,
    redis_pool::Pool,
    token::{AccessClaims, SigningKey},
};

use crate::{
    error::{ErrorCode, GatewayError, Result},
    queue::{
        batch::{Batcher, JoinCall, StatusCall},
        draw::{KnownDraw, KnownDraws},
        store,
        view::LineViews,
        Closure, Joined, OpenConcert, Pace, Place, QueueStats, Standing,
    },
    queue_token::QueueTokens,
    rate_limit::RateLimiter,
};

/// How many open concerts [`WaitingRoom::open_concerts`] lists at most.
pub const OPEN_CONCERTS_LISTED: usize = 100;

/// Where a place stands, as its holder is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// In the pre-queue: drawn at `opens_at_ms` (being drawn once that has passed).
    PreQueue {
        opens_at_ms: i64,
        poll_after_ms: u64,
    },
    Waiting {
        position: u64,
        estimated_wait_secs: u64,
        poll_after_ms: u64,
        paused: bool,
        /// Every seat left is held: seats may come back when holds lapse.
        waiting_for_seats: bool,
    },
    /// Admitted: the access token for the api, valid until the session ends.
    Active {
        access_token: String,
        expires_at_ms: i64,
    },
    /// Admitted and lapsed, left, or a place Redis no longer has.
    Expired,
    /// The queue closed (sold out, or closed) before this place was admitted.
    Closed(Closure),
}

/// What a join answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// A new place; else the place or session the user already had.
    pub created: bool,
    pub queue_token: String,
    pub answer: Answer,
}

/// What a status poll answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub answer: Answer,
    /// The token of the place from now on, when it changed: a pre-queue entry drawn into
    /// the line.
    pub queue_token: Option<String>,
}

/// The queue machinery of one server: its Redis pool and batchers, and the pieces every
/// server of the gateway shares (line views, the join rate limit).
pub struct WaitingRoom {
    redis: Pool,
    keys: Arc<Keys>,
    joins: Batcher<JoinCall>,
    statuses: Batcher<StatusCall>,
    line_views: Arc<LineViews>,
    draws: KnownDraws,
    /// Concerts this gateway has seen a queue of (a join succeeded): a join that then finds
    /// none meets a queue Redis lost, not an unknown concert.
    seen: RwLock<HashSet<ConcertId>>,
    join_limiter: Arc<RateLimiter>,
    queue_tokens: QueueTokens,
    signing_key: SigningKey,
}

impl WaitingRoom {
    /// Starts the batchers on the current Tokio runtime.
    pub fn start(
        redis: Pool,
        keys: Arc<Keys>,
        line_views: Arc<LineViews>,
        join_limiter: Arc<RateLimiter>,
        queue_tokens: QueueTokens,
        signing_key: SigningKey,
    ) -> Self {
        Self {
            joins: Batcher::start(redis.clone(), keys.clone()),
            statuses: Batcher::start(redis.clone(), keys.clone()),
            redis,
            keys,
            line_views,
            draws: KnownDraws::default(),
            seen: RwLock::default(),
            join_limiter,
            queue_tokens,
            signing_key,
        }
    }

    /// Each concert's line as status polls see it between reads.
    pub fn line_views(&self) -> &Arc<LineViews> {
        &self.line_views
    }

    pub fn queue_tokens(&self) -> &QueueTokens {
        &self.queue_tokens
    }

    /// Counts a join from the address `from`: 429 past its rate. Checked before anything
    /// else of a join (its identity token's verification included), so a flood from one
    /// address costs no more than this.
    pub fn check_join_rate(&self, from: IpAddr) -> Result<()> {
        self.join_limiter
            .check(from)
            .map_err(|retry_after_secs| GatewayError::RateLimited { retry_after_secs })
    }

    /// A place in line for `user` (or the place or session they have); the caller has
    /// checked the join rate ([`Self::check_join_rate`]).
    pub async fn join(&self, user: UserId, concert: ConcertId) -> Result<Entry> {
        let (created, ticket_id, standing) = match self.joins.call(concert, user.clone()).await? {
            Joined::UnknownConcert if self.has_seen(concert) => {
                return Err(GatewayError::Restoring)
            }
            Joined::UnknownConcert => return Err(GatewayError::concert_not_found()),
            Joined::Closed(closure) => return Err(GatewayError::closed(closure)),
            Joined::PreQueue {
                new,
                ticket_id,
                opens_at_ms,
            } => (new, ticket_id, Standing::PreQueue { opens_at_ms }),
            Joined::Waiting {
                new,
                ticket_id,
                position,
                pace,
            } => (new, ticket_id, Standing::Waiting { position, pace }),
            Joined::Active {
                ticket_id,
                expires_at_ms,
            } => (
                false,
                ticket_id,
                // A join that answers the access token picks it up.
                Standing::Active {
                    expires_at_ms,
                    pending: true,
                },
            ),
        };
        if !self.has_seen(concert) {
            self.seen
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(concert);
        }
        let place = Place {
            concert_id: concert,
            ticket_id,
            user_id: user,
        };
        Ok(Entry {
            created,
            answer: self.answer(&place, standing).await?,
            queue_token: self.queue_tokens.seal(&place),
        })
    }

    fn has_seen(&self, concert: ConcertId) -> bool {
        self.seen
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&concert)
    }

    /// The place a queue token names, if this gateway sealed it.
    pub fn open_queue_token(&self, token: &str) -> Option<Place> {
        self.queue_tokens.open(token)
    }

    /// Where `place` stands: from the concert's line view when it can tell, else from Redis.
    pub async fn status(&self, place: &Place) -> Result<Status> {
        let from_view = self
            .line_views
            .standing(&self.redis, &self.keys, place.concert_id, place.ticket_id)
            .await?;
        let standing = match from_view {
            Some(standing) => standing,
            None => {
                self.statuses
                    .call(place.concert_id, (place.user_id.clone(), place.ticket_id))
                    .await?
            }
        };
        let standing = match standing {
            Standing::DrawnPlaceLost => self.drawn_place_back(place).await?,
            other => other,
        };
        if let Standing::Drawn {
            ticket_id,
            standing,
        } = standing
        {
            let drawn = Place {
                ticket_id,
                ..place.clone()
            };
            return Ok(Status {
                answer: self.answer(&drawn, *standing).await?,
                queue_token: Some(self.queue_tokens.seal(&drawn)),
            });
        }
        Ok(Status {
            answer: self.answer(place, standing).await?,
            queue_token: None,
        })
    }

    /// The drawn place of a pre-queue entry Redis lost after the draw, back from the draw
    /// (kept in Postgres and restored with the queue, or in this gateway's memory): the entry
    /// was drawn to `first + place - 1`, and that place comes back by `heal.lua`'s rules.
    async fn drawn_place_back(&self, place: &Place) -> Result<Standing> {
        let cid = place.concert_id;
        let entrant = shared::draw::entrant_id(cid.get(), place.user_id.as_str());
        let ticket = match self.draws.get(&self.redis, &self.keys, cid).await? {
            Some(known) => known.ticket_of(&entrant),
            None => None,
        };
        let Some(ticket_id) = ticket else {
            return Ok(Standing::Expired);
        };
        if !store::heal_place(&self.redis, &self.keys, cid, &place.user_id, ticket_id).await? {
            return Ok(Standing::Expired);
        }
        tracing::debug!(concert.id = cid.get(), ticket = %ticket_id, "a drawn place Redis lost came back");
        let standing = self
            .statuses
            .call(cid, (place.user_id.clone(), ticket_id))
            .await?;
        Ok(Standing::Drawn {
            ticket_id,
            standing: Box::new(standing),
        })
    }

    /// The draw of a concert's pre-queue as published: the commitment, and after the
    /// opening the seed and the order; 404 when its sale had no pre-queue.
    pub async fn published_draw(&self, concert: ConcertId) -> Result<Arc<KnownDraw>> {
        self.draws
            .get(&self.redis, &self.keys, concert)
            .await?
            .ok_or(GatewayError::NotFound(
                ErrorCode::DrawNotFound,
                "this concert's sale has no pre-queue draw",
            ))
    }

    /// Moves the opening of a sale that has not opened yet; 409 once it has.
    pub async fn change_opening(&self, concert: ConcertId, opens_at_ms: i64) -> Result<()> {
        match store::change_opening(&self.redis, &self.keys, concert, opens_at_ms).await? {
            None => Err(GatewayError::concert_not_found()),
            Some(false) => Err(GatewayError::Conflict(
                ErrorCode::OpeningPassed,
                "the sale has opened already, or opened when the concert was created",
            )),
            Some(true) => {
                self.line_views.forget(concert);
                Ok(())
            }
        }
    }

    /// Gives up the place or ends the session of `place` (releasing its open hold).
    pub async fn leave(&self, place: &Place) -> Result<()> {
        let left = store::leave(&self.redis, &self.keys, place).await;
        // Also after an error: the script may have run (a reply lost to a timeout).
        self.line_views.forget(place.concert_id);
        left.map(drop)
    }

    /// The numbers of a concert's queue; 404 when it has none.
    pub async fn stats(&self, concert: ConcertId) -> Result<QueueStats> {
        store::stats(&self.redis, &self.keys, concert)
            .await?
            .ok_or_else(GatewayError::concert_not_found)
    }

    /// The settings in force of a concert's queue and how many it has admitted in all; 404
    /// when it has none.
    pub async fn settings(&self, concert: ConcertId) -> Result<(QueueSettings, u64)> {
        store::settings(&self.redis, &self.keys, concert)
            .await?
            .ok_or_else(GatewayError::concert_not_found)
    }

    /// The open concerts, lowest ids first, at most [`OPEN_CONCERTS_LISTED`].
    pub async fn open_concerts(&self) -> Result<Vec<OpenConcert>> {
        store::open_concerts(&self.redis, &self.keys, OPEN_CONCERTS_LISTED).await
    }

    /// New settings for a concert's queue, applied from its next tick on; 404 when it has none.
    pub async fn change_settings(
        &self,
        concert: ConcertId,
        settings: &QueueSettings,
    ) -> Result<()> {
        if !store::update_settings(&self.redis, &self.keys, concert, settings).await? {
            return Err(GatewayError::concert_not_found());
        }
        self.line_views.forget(concert);
        Ok(())
    }

    async fn answer(&self, place: &Place, standing: Standing) -> Result<Answer> {
        Ok(match standing {
            Standing::PreQueue { opens_at_ms } => Answer::PreQueue {
                opens_at_ms,
                poll_after_ms: pre_queue_poll_after_ms(
                    opens_at_ms,
                    Utc::now().timestamp_millis(),
                    place,
                ),
            },
            Standing::Waiting { position, pace } => waiting(position, &pace, place),
            Standing::Active {
                expires_at_ms,
                pending,
            } => {
                let access_token = self.access_token(place, expires_at_ms)?;
                if pending {
                    // Handed out: the session is picked up and no longer ends at the
                    // activation deadline.
                    store::activate(
                        &self.redis,
                        &self.keys,
                        place.concert_id,
                        &[place.user_id.as_str()],
                    )
                    .await?;
                }
                Answer::Active {
                    access_token,
                    expires_at_ms,
                }
            }
            Standing::Drawn { standing, .. } => {
                // Status resolves a drawn entry to its place first; a join never meets one.
                Box::pin(self.answer(place, *standing)).await?
            }
            // Status resolves a lost drawn entry first; left unresolved it is gone.
            Standing::DrawnPlaceLost | Standing::Expired => Answer::Expired,
            Standing::Closed(closure) => Answer::Closed(closure),
        })
    }

    /// An access token for the session of `place`, ending when the session does.
    fn access_token(&self, place: &Place, expires_at_ms: i64) -> Result<String> {
        let claims = AccessClaims::new(
            &place.user_id,
            place.concert_id,
            place.ticket_id,
            Utc::now().timestamp(),
            expires_at_ms / 1000,
        );
        self.signing_key
            .sign(&claims)
            .map_err(|e| GatewayError::Unexpected(anyhow::anyhow!("signing access token: {e}")))
    }
}

fn waiting(position: u64, pace: &Pace, place: &Place) -> Answer {
    Answer::Waiting {
        position,
        estimated_wait_secs: pace.estimated_wait_secs(position),
        poll_after_ms: pace.poll_after_ms(position, place.ticket_id),
        paused: pace.paused,
        waiting_for_seats: pace.waiting_for_seats,
    }
}

/// When a pre-queue entrant should poll again: at the opening (at most 30 s ahead), spread
/// over the second after it by ticket so a pre-queue of thousands does not poll at one
/// instant; every second while the draw is under way.
fn pre_queue_poll_after_ms(opens_at_ms: i64, now_ms: i64, place: &Place) -> u64 {
    let spread = place.ticket_id.get() % 1_000;
    match u64::try_from(opens_at_ms - now_ms) {
        Ok(until) if until > 30_000 => 30_000 - spread * 5,
        Ok(until) => until + 1_000 + spread,
        Err(_) => 1_000 + spread / 5,
    }
}
