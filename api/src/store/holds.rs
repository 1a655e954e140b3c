//! Seat holds and held reservations in Redis: one hold key per seat (`SET NX PX`, value =
//! reservation id), an index of held seats per schedule, one open hold per user, and the
//! reservation hash kept 24 h after the hold ends. Scripts are in `holds/`; the ones that
//! check or end a session use the shared rule (`shared::session`).

use std::{collections::HashMap, sync::LazyLock};

use redis::Script;
use shared::{
    ids::{ConcertId, TicketId, UserId},
    keys::{ConcertKeys, Keys},
    redis_pool::Pool,
    session::{self, Session},
};
use uuid::Uuid;

use crate::{domain::HoldState, error::Result, store::catalog::Seat};

static HOLD: LazyLock<Script> = LazyLock::new(|| session::script(include_str!("holds/hold.lua")));
static CONFIRM: LazyLock<Script> =
    LazyLock::new(|| session::script(include_str!("holds/confirm.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("holds/release.lua")));
static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("holds/claim.lua")));
static UNCLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("holds/unclaim.lua")));

/// The api's clock, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Whose session a read checks: a user and the ticket of their access token.
#[derive(Debug, Clone, Copy)]
pub struct SessionOf<'a> {
    pub user: &'a UserId,
    pub ticket: TicketId,
}

impl SessionOf<'_> {
    /// Whether the session read from `expiry` and `ticket` (the two replies of
    /// [`session::read`]) is active for this token at `now`.
    fn is_active(&self, expiry: Option<f64>, ticket: Option<String>, now: i64) -> bool {
        Session::from_replies(expiry, ticket.as_deref()).is_active_for(self.ticket, now)
    }
}

/// Whether the session is active, and the held-seat count and sale version (see
/// [`sale_version`]) of each schedule; one round trip.
pub async fn session_and_held_counts(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    who: SessionOf<'_>,
    schedule_ids: &[i64],
) -> Result<(bool, Vec<(u64, Option<i64>)>)> {
    let k = keys.concert(concert_id.get());
    let now = now_ms();
    let mut pipe = redis::pipe();
    session::read(&mut pipe, &k, who.user);
    for id in schedule_ids {
        pipe.cmd("ZCOUNT")
            .arg(k.held_seats(*id))
            .arg(format!("({now}"))
            .arg("+inf");
        pipe.cmd("GET").arg(sale_version(&k, *id));
    }
    let mut conn = redis.get().await?;
    let values: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
    let expiry: Option<f64> = redis::from_redis_value(&values[0])?;
    let ticket: Option<String> = redis::from_redis_value(&values[1])?;
    let counts = values[2..]
        .chunks(2)
        .map(|v| {
            (
                redis::from_redis_value(&v[0]).unwrap_or(0),
                v.get(1)
                    .and_then(|v| redis::from_redis_value::<Option<i64>>(v).ok())
                    .flatten(),
            )
        })
        .collect();
    Ok((who.is_active(expiry, ticket, now), counts))
}

/// The sale version of a schedule: a counter every sale bumps (`confirm.lua`), so an
/// instance's in-memory copy of the sold seats is known current without reading Postgres.
/// It sits beside the held index, in the concert's hash slot. A missing key (Redis lost its
/// data) means "unknown": the reader goes to Postgres and starts a new, random version.
pub fn sale_version(k: &ConcertKeys, schedule_id: i64) -> String {
    let mut key = k.held_seats(schedule_id);
    key.push_str(":sales");
    key
}

/// The schedule's sale version; `None` when Redis lacks it.
pub async fn read_sale_version(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    schedule_id: i64,
) -> Result<Option<i64>> {
    let mut conn = redis.get().await?;
    Ok(redis::cmd("GET")
        .arg(sale_version(&keys.concert(concert_id.get()), schedule_id))
        .query_async(&mut conn)
        .await?)
}

/// Starts the sale version of a schedule whose key is missing, at a random value so that no
/// instance's copy cached before Redis lost the key can match it.
pub async fn start_sale_version(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    schedule_id: i64,
) -> Result<()> {
    // Random in [0, 2^40): far from any counter's past values, far from overflowing.
    let start = (Uuid::new_v4().as_u64_pair().0 >> 24) as i64;
    let mut conn = redis.get().await?;
    let _: Option<String> = redis::cmd("SET")
        .arg(sale_version(&keys.concert(concert_id.get()), schedule_id))
        .arg(start)
        .arg("NX")
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// What a seat map reads from Redis in one round trip.
#[derive(Debug, Clone)]
pub struct HeldSeats {
    /// Whether the caller's session is active.
    pub active: bool,
    /// The seats held now, each with whether it is in the caller's own hold.
    pub held: HashMap<i64, bool>,
    /// The schedule's sale version (see [`sale_version`]); `None` when Redis lacks it.
    pub sale_version: Option<i64>,
}

/// The replies of a seat map's pipeline: session expiry and ticket, held-index members, the
/// caller's open hold, the sale version.
type SeatMapReplies = (
    Option<f64>,
    Option<String>,
    Vec<String>,
    Option<String>,
    Option<i64>,
);

/// Whether the session is active, the seats of the schedule held now (each with whether it
/// is in the caller's own hold), and the schedule's sale version; one round trip.
pub async fn session_and_held_seats(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    who: SessionOf<'_>,
    schedule_id: i64,
) -> Result<HeldSeats> {
    let k = keys.concert(concert_id.get());
    let now = now_ms();
    let mut pipe = redis::pipe();
    session::read(&mut pipe, &k, who.user);
    pipe.cmd("ZRANGEBYSCORE")
        .arg(k.held_seats(schedule_id))
        .arg(format!("({now}"))
        .arg("+inf");
    pipe.cmd("GET").arg(k.user_hold(who.user.as_str()));
    pipe.cmd("GET").arg(sale_version(&k, schedule_id));
    let mut conn = redis.get().await?;
    let (expiry, ticket, members, mine, sale_version): SeatMapReplies =
        pipe.query_async(&mut conn).await?;
    let mine = mine.unwrap_or_default();
    let held = members
        .iter()
        .filter_map(|m| {
            let (seat, reservation) = m.split_once(':')?;
            Some((seat.parse().ok()?, !mine.is_empty() && reservation == mine))
        })
        .collect();
    Ok(HeldSeats {
        active: who.is_active(expiry, ticket, now),
        held,
        sale_version,
    })
}

/// What a hold attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    Held {
        expires_at_ms: i64,
    },
    SessionNotActive,
    HoldExists {
        reservation_id: String,
    },
    SeatUnavailable {
        seat_id: i64,
    },
    /// The schedule's sale version is not the one the sold seats were checked under: nothing
    /// was held.
    SoldSeatsChanged,
    /// The user's tickets of the concert (as `confirm.lua` counted them) and these seats
    /// would pass the limit.
    TicketLimit {
        owned: i64,
    },
}

/// A hold to place.
#[derive(Debug)]
pub struct NewHold<'a> {
    pub concert_id: ConcertId,
    pub schedule_id: i64,
    pub who: SessionOf<'a>,
    pub reservation_id: Uuid,
    pub seats: &'a [Seat],
    pub ttl_ms: u64,
    /// The sale version under which the seats were found unsold (`None`: not checked; the
    /// caller checks Postgres after the hold).
    pub sale_version: Option<i64>,
    /// Tickets a user may buy of one concert.
    pub max_tickets: u32,
}

/// The seats of a reservation as stored in its hash.
fn seats_json(seats: &[Seat]) -> String {
    serde_json::to_string(
        &seats
            .iter()
            .map(|s| (s.id, s.number, s.price))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default()
}

fn parse_seats(json: &str) -> Vec<Seat> {
    serde_json::from_str::<Vec<(i64, i32, i64)>>(json)
        .unwrap_or_default()
        .into_iter()
        .map(|(id, number, price)| Seat { id, number, price })
        .collect()
}

/// Holds every seat of `hold` or none, if the session is active, in one script call.
pub async fn hold_seats(redis: &Pool, keys: &Keys, hold: &NewHold<'_>) -> Result<HoldOutcome> {
    let k = keys.concert(hold.concert_id.get());
    let user = hold.who.user.as_str();
    let reservation_id = hold.reservation_id.to_string();
    let total: i64 = hold.seats.iter().map(|s| s.price).sum();
    let mut call = HOLD.prepare_invoke();
    call.key(k.active())
        .key(k.sessions())
        .key(k.user_hold(user))
        .key(k.reservation(&reservation_id))
        .key(k.held_seats(hold.schedule_id))
        .key(k.holds_created())
        .key(sale_version(&k, hold.schedule_id))
        .key(k.tickets_owned());
    for s in hold.seats {
        call.key(k.seat_hold(hold.schedule_id, s.id));
    }
    call.arg(user)
        .arg(hold.who.ticket)
        .arg(&reservation_id)
        .arg(hold.ttl_ms)
        .arg(hold.schedule_id)
        .arg(seats_json(hold.seats))
        .arg(total)
        .arg(
            hold.sale_version
                .map_or_else(|| "*".to_owned(), |v| v.to_string()),
        )
        .arg(hold.max_tickets);
    for s in hold.seats {
        call.arg(s.id);
    }
    let mut conn = redis.get().await?;
    let (code, detail): (i64, String) = call.invoke_async(&mut conn).await?;
    Ok(match code {
        1 => HoldOutcome::Held {
            expires_at_ms: detail.parse().unwrap_or_default(),
        },
        -1 => HoldOutcome::SessionNotActive,
        -2 => HoldOutcome::HoldExists {
            reservation_id: detail,
        },
        -4 => HoldOutcome::SoldSeatsChanged,
        -5 => HoldOutcome::TicketLimit {
            owned: detail.parse().unwrap_or_default(),
        },
        _ => HoldOutcome::SeatUnavailable {
            seat_id: detail.parse().unwrap_or_default(),
        },
    })
}

/// A reservation as its Redis hash has it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldReservation {
    pub id: Uuid,
    pub user: UserId,
    pub schedule_id: i64,
    pub seats: Vec<Seat>,
    pub total_price: i64,
    pub state: HoldState,
    /// When the hold ends (or ended); past it, a HELD reservation has lapsed.
    pub expires_at_ms: i64,
}

impl HeldReservation {
    /// The reservation of `user` in `h`, if `h` is a whole reservation hash of theirs.
    fn from_hash(id: Uuid, user: &UserId, h: HashMap<String, String>) -> Option<Self> {
        if h.get("user")? != user.as_str() {
            return None;
        }
        let field = |name: &str| h.get(name).map(String::as_str);
        Some(Self {
            id,
            user: user.clone(),
            schedule_id: field("scheduleId")?.parse().ok()?,
            seats: parse_seats(field("seats")?),
            total_price: field("totalPrice")?.parse().ok()?,
            state: HoldState::parse(field("status")?, field("payingUntil"))?,
            expires_at_ms: field("expiresAt")?.parse().ok()?,
        })
    }
}

/// The reservation `reservation_id` of `user` in `concert_id`, if Redis has it.
pub async fn find_reservation(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    user: &UserId,
    reservation_id: Uuid,
) -> Result<Option<HeldReservation>> {
    let mut conn = redis.get().await?;
    let hash: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(
            keys.concert(concert_id.get())
                .reservation(&reservation_id.to_string()),
        )
        .query_async(&mut conn)
        .await?;
    Ok(HeldReservation::from_hash(reservation_id, user, hash))
}

/// Like [`find_reservation`], and whether the caller's session is active; one round trip.
pub async fn session_and_reservation(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    who: SessionOf<'_>,
    reservation_id: Uuid,
) -> Result<(bool, Option<HeldReservation>)> {
    let k = keys.concert(concert_id.get());
    let now = now_ms();
    let mut pipe = redis::pipe();
    session::read(&mut pipe, &k, who.user);
    pipe.cmd("HGETALL")
        .arg(k.reservation(&reservation_id.to_string()));
    let mut conn = redis.get().await?;
    let (expiry, ticket, hash): (Option<f64>, Option<String>, HashMap<String, String>) =
        pipe.query_async(&mut conn).await?;
    Ok((
        who.is_active(expiry, ticket, now),
        HeldReservation::from_hash(reservation_id, who.user, hash),
    ))
}

/// What claiming a reservation for a payment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Claimed: no cancel and no other payment until the payment hands it back or it ends.
    Claimed,
    NotFound,
    AlreadyConfirmed,
    /// A hold lapsed, or the reservation was canceled.
    Lapsed,
    /// Another payment holds the claim; the idempotency key it was sent with.
    PaymentRunning {
        key: String,
    },
}

/// A call of `release.lua`, `claim.lua` or `unclaim.lua` with its keys: the reservation
/// hash, the user's open hold, the schedule's held seats and each seat's hold.
fn reservation_call(
    script: &'static Script,
    k: &ConcertKeys,
    r: &HeldReservation,
) -> redis::ScriptInvocation<'static> {
    let mut call = script.prepare_invoke();
    call.key(k.reservation(&r.id.to_string()))
        .key(k.user_hold(r.user.as_str()))
        .key(k.held_seats(r.schedule_id));
    for s in &r.seats {
        call.key(k.seat_hold(r.schedule_id, s.id));
    }
    call
}

/// Claims `r` for the payment `payment_id` (sent with `idempotency_key`) for `claim_ms`, if
/// every seat is still held by it: the last check before the sale (see `claim.lua`).
pub async fn claim_for_payment(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    r: &HeldReservation,
    payment_id: Uuid,
    idempotency_key: &str,
    claim_ms: u64,
) -> Result<Claim> {
    let mut call = reservation_call(&CLAIM, &keys.concert(concert_id.get()), r);
    call.arg(r.id.to_string())
        .arg(r.user.as_str())
        .arg(payment_id.to_string())
        .arg(idempotency_key)
        .arg(claim_ms);
    for s in &r.seats {
        call.arg(s.id);
    }
    let mut conn = redis.get().await?;
    let (code, key): (i64, String) = call.invoke_async(&mut conn).await?;
    Ok(match code {
        1 => Claim::Claimed,
        -1 => Claim::AlreadyConfirmed,
        -2 => Claim::Lapsed,
        -3 => Claim::PaymentRunning { key },
        _ => Claim::NotFound,
    })
}

/// Hands back the claim of a payment that wrote nothing: `r` is HELD again until its own
/// expiry. A no-op when the claim is not (or no longer) this payment's.
pub async fn unclaim(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    r: &HeldReservation,
    payment_id: Uuid,
) -> Result<()> {
    let mut call = reservation_call(&UNCLAIM, &keys.concert(concert_id.get()), r);
    call.arg(r.id.to_string()).arg(payment_id.to_string());
    for s in &r.seats {
        call.arg(s.id);
    }
    let mut conn = redis.get().await?;
    let _: i64 = call.invoke_async(&mut conn).await?;
    Ok(())
}

/// What a release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    Canceled,
    NotFound,
    AlreadyConfirmed,
    /// A payment of it is running (it holds the claim).
    PaymentRunning,
}

/// Cancels a held reservation, removing only holds that are still its own.
pub async fn release_reservation(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    r: &HeldReservation,
) -> Result<Released> {
    let mut call = reservation_call(&RELEASE, &keys.concert(concert_id.get()), r);
    call.arg(r.id.to_string()).arg(r.user.as_str());
    for s in &r.seats {
        call.arg(s.id);
    }
    let mut conn = redis.get().await?;
    let code: i64 = call.invoke_async(&mut conn).await?;
    Ok(match code {
        1 => Released::Canceled,
        -1 => Released::AlreadyConfirmed,
        -2 => Released::PaymentRunning,
        _ => Released::NotFound,
    })
}

/// After a payment committed: removes its holds, marks it confirmed, lowers the schedule's
/// unsold count, and ends the session of `ticket` (the one that paid).
pub async fn confirm_reservation(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    r: &HeldReservation,
    ticket: TicketId,
    payment_id: &str,
    confirmed_at_ms: i64,
) -> Result<()> {
    let k = keys.concert(concert_id.get());
    let mut call = CONFIRM.prepare_invoke();
    call.key(k.reservation(&r.id.to_string()))
        .key(k.user_hold(r.user.as_str()))
        .key(k.held_seats(r.schedule_id))
        .key(k.active())
        .key(k.sessions())
        .key(sale_version(&k, r.schedule_id))
        .key(k.unsold())
        .key(k.tickets_owned());
    for s in &r.seats {
        call.key(k.seat_hold(r.schedule_id, s.id));
    }
    call.arg(r.id.to_string())
        .arg(r.user.as_str())
        .arg(ticket)
        .arg(payment_id)
        .arg(confirmed_at_ms)
        .arg(r.schedule_id);
    for s in &r.seats {
        call.arg(s.id);
    }
    let mut conn = redis.get().await?;
    let _: i64 = call.invoke_async(&mut conn).await?;
    Ok(())
}
