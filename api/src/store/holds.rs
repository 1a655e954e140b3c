//! Seat holds and held reservations in Redis: one hold key per seat (`SET NX PX`, value =
//! reservation id), an index of held seats per schedule, one open hold per user, and the
//! reservation hash kept 24 h after the hold ends. Scripts are in `holds/`.

use std::{collections::HashMap, sync::LazyLock};

use redis::Script;
use shared::ids::TicketId;
use shared::keys::{ConcertKeys, Keys};
use shared::redis_pool::Pool;

use crate::{error::Result, store::catalog::Seat};

static HOLD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("holds/hold.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("holds/release.lua")));
static CONFIRM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("holds/confirm.lua")));
static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("holds/claim.lua")));
static UNCLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("holds/unclaim.lua")));

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The session of a caller as Redis has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub active: bool,
}

fn session_active(expiry: Option<f64>, ticket: Option<String>, jti: TicketId, now: i64) -> bool {
    shared::session::Session::from_replies(expiry, ticket.as_deref()).is_active_for(jti, now)
}

/// Adds the session check of `user_id` to a pipeline (two replies).
fn add_session_check(pipe: &mut redis::Pipeline, k: &ConcertKeys, user_id: &str) {
    pipe.cmd("ZSCORE").arg(k.active()).arg(user_id);
    pipe.cmd("HGET").arg(k.sessions()).arg(user_id);
}

/// Whether the session is active, and the held-seat count of each schedule; one round trip.
pub async fn session_and_held_counts(
    redis: &Pool,
    keys: &Keys,
    concert_id: i64,
    user_id: &str,
    jti: TicketId,
    schedule_ids: &[i64],
) -> Result<(Session, Vec<u64>)> {
    let k = keys.concert(concert_id);
    let now = now_ms();
    let mut pipe = redis::pipe();
    add_session_check(&mut pipe, &k, user_id);
    for id in schedule_ids {
        pipe.cmd("ZCOUNT")
            .arg(k.held_seats(*id))
            .arg(format!("({now}"))
            .arg("+inf");
    }
    let mut conn = redis.get().await?;
    let (head, counts): ((Option<f64>, Option<String>), Vec<u64>) = {
        let values: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        let expiry: Option<f64> = redis::from_redis_value(&values[0])?;
        let ticket: Option<String> = redis::from_redis_value(&values[1])?;
        let counts = values[2..]
            .iter()
            .map(|v| redis::from_redis_value(v).unwrap_or(0))
            .collect();
        ((expiry, ticket), counts)
    };
    Ok((
        Session {
            active: session_active(head.0, head.1, jti, now),
        },
        counts,
    ))
}

/// The seats currently held in a schedule, with whether each is in the caller's own hold.
#[derive(Debug, Default)]
pub struct HeldSeats {
    pub held: HashMap<i64, bool>,
}

/// Whether the session is active and which seats of the schedule are held; one round trip.
pub async fn session_and_held_seats(
    redis: &Pool,
    keys: &Keys,
    concert_id: i64,
    user_id: &str,
    jti: TicketId,
    schedule_id: i64,
) -> Result<(Session, HeldSeats)> {
    let k = keys.concert(concert_id);
    let now = now_ms();
    let mut pipe = redis::pipe();
    add_session_check(&mut pipe, &k, user_id);
    pipe.cmd("ZRANGEBYSCORE")
        .arg(k.held_seats(schedule_id))
        .arg(format!("({now}"))
        .arg("+inf");
    pipe.cmd("GET").arg(k.user_hold(user_id));
    let mut conn = redis.get().await?;
    let (expiry, ticket, members, mine): (
        Option<f64>,
        Option<String>,
        Vec<String>,
        Option<String>,
    ) = pipe.query_async(&mut conn).await?;
    let mine = mine.unwrap_or_default();
    let held = members
        .iter()
        .filter_map(|m| {
            let (seat, reservation) = m.split_once(':')?;
            Some((seat.parse().ok()?, !mine.is_empty() && reservation == mine))
        })
        .collect();
    Ok((
        Session {
            active: session_active(expiry, ticket, jti, now),
        },
        HeldSeats { held },
    ))
}

/// What a hold attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    Held { expires_at_ms: i64 },
    SessionNotActive,
    HoldExists { reservation_id: String },
    SeatUnavailable { seat_id: i64 },
}

/// A hold to place.
#[derive(Debug)]
pub struct NewHold<'a> {
    pub concert_id: i64,
    pub schedule_id: i64,
    pub user_id: &'a str,
    pub ticket_id: TicketId,
    pub reservation_id: &'a str,
    pub seats: &'a [Seat],
    pub ttl_ms: u64,
}

/// The seats of a reservation as stored in its hash.
pub fn seats_json(seats: &[Seat]) -> String {
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

/// Holds every seat of `hold` or none, in one script call.
pub async fn hold_seats(redis: &Pool, keys: &Keys, hold: &NewHold<'_>) -> Result<HoldOutcome> {
    let k = keys.concert(hold.concert_id);
    let total: i64 = hold.seats.iter().map(|s| s.price).sum();
    let mut call = HOLD.prepare_invoke();
    call.key(k.active())
        .key(k.sessions())
        .key(k.user_hold(hold.user_id))
        .key(k.reservation(hold.reservation_id))
        .key(k.held_seats(hold.schedule_id));
    for s in hold.seats {
        call.key(k.seat_hold(hold.schedule_id, s.id));
    }
    call.arg(hold.user_id)
        .arg(hold.ticket_id)
        .arg(hold.reservation_id)
        .arg(hold.ttl_ms)
        .arg(hold.schedule_id)
        .arg(seats_json(hold.seats))
        .arg(total);
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
        _ => HoldOutcome::SeatUnavailable {
            seat_id: detail.parse().unwrap_or_default(),
        },
    })
}

/// A reservation as its Redis hash has it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldReservation {
    pub reservation_id: String,
    pub user_id: String,
    pub schedule_id: i64,
    pub seats: Vec<Seat>,
    pub total_price: i64,
    /// HELD, PAYING (claimed by a payment, see `claim.lua`), CANCELED or CONFIRMED as
    /// written; a HELD one past `expires_at_ms` has lapsed.
    pub status: String,
    pub expires_at_ms: i64,
    pub confirmed_at_ms: Option<i64>,
    /// While PAYING: when the payment's claim ends.
    pub paying_until_ms: Option<i64>,
}

impl HeldReservation {
    fn from_hash(reservation_id: &str, mut h: HashMap<String, String>) -> Option<Self> {
        Some(Self {
            reservation_id: reservation_id.to_owned(),
            user_id: h.remove("user")?,
            schedule_id: h.get("scheduleId")?.parse().ok()?,
            seats: parse_seats(h.get("seats")?),
            total_price: h.get("totalPrice")?.parse().ok()?,
            status: h.remove("status")?,
            expires_at_ms: h.get("expiresAt")?.parse().ok()?,
            confirmed_at_ms: h.get("confirmedAt").and_then(|v| v.parse().ok()),
            paying_until_ms: h.get("payingUntil").and_then(|v| v.parse().ok()),
        })
    }

    /// The status a client sees: a hold past its expiry is EXPIRED, unless a payment that
    /// claimed it in time is still running; a reservation being paid is still HELD.
    pub fn visible_status(&self, now_ms: i64) -> &str {
        let paying = self.status == "PAYING" && self.paying_until_ms.is_some_and(|t| t > now_ms);
        match self.status.as_str() {
            "HELD" | "PAYING" if self.expires_at_ms <= now_ms && !paying => "EXPIRED",
            "PAYING" => "HELD",
            status => status,
        }
    }
}

/// The reservation `reservation_id` of `user_id` in `concert_id`, if Redis has it.
pub async fn find_reservation(
    redis: &Pool,
    keys: &Keys,
    concert_id: i64,
    user_id: &str,
    reservation_id: &str,
) -> Result<Option<HeldReservation>> {
    let mut conn = redis.get().await?;
    let hash: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(keys.concert(concert_id).reservation(reservation_id))
        .query_async(&mut conn)
        .await?;
    Ok(HeldReservation::from_hash(reservation_id, hash).filter(|r| r.user_id == user_id))
}

/// Like [`find_reservation`], and whether the caller's session is active; one round trip.
pub async fn session_and_reservation(
    redis: &Pool,
    keys: &Keys,
    concert_id: i64,
    user_id: &str,
    jti: TicketId,
    reservation_id: &str,
) -> Result<(Session, Option<HeldReservation>)> {
    let k = keys.concert(concert_id);
    let now = now_ms();
    let mut pipe = redis::pipe();
    add_session_check(&mut pipe, &k, user_id);
    pipe.cmd("HGETALL").arg(k.reservation(reservation_id));
    let mut conn = redis.get().await?;
    let (expiry, ticket, hash): (Option<f64>, Option<String>, HashMap<String, String>) =
        pipe.query_async(&mut conn).await?;
    Ok((
        Session {
            active: session_active(expiry, ticket, jti, now),
        },
        HeldReservation::from_hash(reservation_id, hash).filter(|r| r.user_id == user_id),
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
    keys: &Keys,
    concert_id: i64,
    r: &HeldReservation,
) -> redis::ScriptInvocation<'static> {
    let k = keys.concert(concert_id);
    let mut call = script.prepare_invoke();
    call.key(k.reservation(&r.reservation_id))
        .key(k.user_hold(&r.user_id))
        .key(k.held_seats(r.schedule_id));
    for s in &r.seats {
        call.key(k.seat_hold(r.schedule_id, s.id));
    }
    call
}

/// Claims `r` for the payment `payment_id` for `claim_ms`, if every seat is still held by
/// it (the last check before the sale; see `claim.lua`).
pub async fn claim_for_payment(
    redis: &Pool,
    keys: &Keys,
    concert_id: i64,
    r: &HeldReservation,
    payment_id: &str,
    idempotency_key: &str,
    claim_ms: u64,
) -> Result<Claim> {
    let mut call = reservation_call(&CLAIM, keys, concert_id, r);
    call.arg(&r.reservation_id)
        .arg(&r.user_id)
        .arg(payment_id)
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
    concert_id: i64,
    r: &HeldReservation,
    payment_id: &str,
) -> Result<()> {
    let mut call = reservation_call(&UNCLAIM, keys, concert_id, r);
    call.arg(&r.reservation_id).arg(payment_id);
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
    concert_id: i64,
    r: &HeldReservation,
) -> Result<Released> {
    let mut call = reservation_call(&RELEASE, keys, concert_id, r);
    call.arg(&r.reservation_id).arg(&r.user_id);
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

/// After a payment committed: removes its holds, marks it confirmed, ends the session.
pub async fn confirm_reservation(
    redis: &Pool,
    keys: &Keys,
    concert_id: i64,
    r: &HeldReservation,
    ticket_id: TicketId,
    payment_id: &str,
    confirmed_at_ms: i64,
) -> Result<()> {
    let k = keys.concert(concert_id);
    let mut call = CONFIRM.prepare_invoke();
    call.key(k.reservation(&r.reservation_id))
        .key(k.user_hold(&r.user_id))
        .key(k.held_seats(r.schedule_id))
        .key(k.active())
        .key(k.sessions());
    for s in &r.seats {
        call.key(k.seat_hold(r.schedule_id, s.id));
    }
    call.arg(&r.reservation_id)
        .arg(&r.user_id)
        .arg(ticket_id)
        .arg(payment_id)
        .arg(confirmed_at_ms);
    for s in &r.seats {
        call.arg(s.id);
    }
    let mut conn = redis.get().await?;
    let _: i64 = call.invoke_async(&mut conn).await?;
    Ok(())
}
