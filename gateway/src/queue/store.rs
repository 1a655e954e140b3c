//! The line in Redis: join, status, leave, stats, settings, open concerts; one round trip each.
//!
//! One `EVALSHA`, or for a status poll one `MULTI`/`EXEC` of reads. The Lua scripts live beside
//! this file.

use std::sync::LazyLock;

use redis::{Script, ScriptInvocation};
use shared::{
    config::QueueSettings,
    ids::{ConcertId, TicketId, UserId},
    keys::{ConcertKeys, Keys},
    redis_pool::Pool,
    session::{self, Session},
};

use super::{
    is_pre_queue, view::LineView, Closure, Joined, OpenConcert, Pace, Place, QueueStats, Standing,
    PRE_QUEUE_TICKETS,
};
use crate::error::{GatewayError, Result};

static JOIN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("join.lua")));
static LEAVE: LazyLock<Script> = LazyLock::new(|| session::script(include_str!("leave.lua")));
static STATS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("stats.lua")));
static SETTINGS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("settings.lua")));
static OPENING: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("opening.lua")));
static HEAL: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("heal.lua")));

/// Joins `user_id` to the queue of `concert_id` (a batch of one; see [`join_batch`]).
pub async fn join(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    user_id: &UserId,
) -> Result<Joined> {
    let mut joined = join_batch(redis, keys, concert_id, std::slice::from_ref(user_id)).await?;
    Ok(joined.pop().unwrap_or(Joined::UnknownConcert))
}

/// Joins every user of `users` (in this order) to the queue of `concert_id` in one
/// `EVALSHA`; one answer per user, in the same order. A user named twice gets one place.
pub async fn join_batch(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    users: &[UserId],
) -> Result<Vec<Joined>> {
    // The script takes each user once: a repeat gets its first occurrence's answer.
    let mut first_of: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(users.len());
    let mut unique: Vec<&str> = Vec::with_capacity(users.len());
    let slots: Vec<(usize, bool)> = users
        .iter()
        .map(|user| match first_of.get(user.as_str()) {
            Some(&at) => (at, true),
            None => {
                first_of.insert(user.as_str(), unique.len());
                unique.push(user.as_str());
                (unique.len() - 1, false)
            }
        })
        .collect();
    let k = keys.concert(concert_id.get());
    let mut conn = redis.get().await?;
    let reply: Vec<redis::Value> = JOIN
        .key(k.config())
        .key(k.queue())
        .key(k.active())
        .key(k.sessions())
        .key(k.queue_gaps())
        .key(k.pre_queue())
        .arg(&unique)
        .invoke_async(&mut conn)
        .await?;
    let answers = join_answers(&reply, unique.len())?;
    Ok(slots
        .into_iter()
        .map(|(at, repeat)| {
            let mut answer = answers[at].clone();
            if let Joined::Waiting { new, .. } | Joined::PreQueue { new, .. } = &mut answer {
                *new &= !repeat;
            }
            answer
        })
        .collect())
}

/// Where each `(user id, ticket id)` of one concert stands: one `MULTI`/`EXEC` of plain reads
/// (a status poll changes nothing, so it needs no script): the concert's [`LineView`] and
/// each ticket's place, pre-queue entry, session (read by the session rule,
/// [`shared::session`]) and pending activation. One answer per ticket, in the same order; a
/// concert with no queue in Redis is [`GatewayError::Restoring`] for all (lost, not closed). Polls the view can answer on its own
/// do not come here (see `queue/view.rs`).
pub async fn status_batch(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    tickets: &[(UserId, TicketId)],
) -> Result<Vec<Standing>> {
    let k = keys.concert(concert_id.get());
    let users: Vec<&str> = tickets.iter().map(|(user, _)| user.as_str()).collect();
    let mut pipe = redis::pipe();
    LineView::read(pipe.atomic(), &k);
    pipe.cmd("ZMSCORE").arg(k.queue()).arg(&users);
    session::read_many(&mut pipe, &k, &users);
    pipe.cmd("ZMSCORE").arg(k.pre_queue()).arg(&users);
    pipe.cmd("ZMSCORE").arg(k.pending()).arg(&users);
    pipe.cmd("TIME");
    let mut conn = redis.get().await?;
    type Reads = (
        Vec<Option<String>>,
        Vec<String>,
        u64,
        Vec<u64>,
        Vec<Option<f64>>,
        Vec<Option<f64>>,
        Vec<redis::Value>,
        Vec<Option<f64>>,
        Vec<Option<f64>>,
        (u64, u64),
    );
    let (cfg, head, length, gaps, seqs, expiries, sessions, entries, pending, time): Reads =
        pipe.query_async(&mut conn).await?;
    let Some(view) = LineView::from_reads((cfg, head, length, gaps))? else {
        // Lost with Redis's data (a closed queue keeps its config): opened again shortly.
        return Err(GatewayError::Restoring);
    };
    let now_ms = (time.0 * 1000 + time.1 / 1000) as i64;
    let sale = view.sale;
    let gone = || sale.closed.map_or(Standing::Expired, Standing::Closed);
    let mut standings = Vec::with_capacity(tickets.len());
    let mut to_rank = Vec::new();
    let mut to_heal = Vec::new();
    for (i, (_, ticket)) in tickets.iter().enumerate() {
        let seq = seqs.get(i).copied().flatten().map(|s| s as u64);
        let session = Session::from_replies(
            expiries.get(i).copied().flatten(),
            sessions.get(i).and_then(bulk_str),
        );
        // Where the place or session of sequence `ticket` stands.
        let of_place = |ticket: TicketId, to_rank: &mut Vec<usize>| {
            if seq == Some(ticket.get()) {
                if let Some(closure) = sale.closed {
                    return Standing::Closed(closure);
                }
                let position = view.position(ticket);
                if position.is_none() {
                    to_rank.push(i);
                }
                return Standing::Waiting {
                    position: position.unwrap_or(0),
                    pace: view.pace,
                };
            }
            match session.expires_at_ms {
                Some(expires_at_ms) if session.is_active_for(ticket, now_ms) => Standing::Active {
                    expires_at_ms,
                    pending: pending.get(i).copied().flatten().is_some(),
                },
                _ => gone(),
            }
        };
        let standing = if !is_pre_queue(*ticket) {
            let standing = of_place(*ticket, &mut to_rank);
            // A place from before Redis lost the line, neither in line nor in session now:
            // it may come back (heal.lua decides, for one admitted before the loss too).
            if standing == Standing::Expired && ticket.get() < sale.lost_below {
                to_heal.push(i);
            }
            standing
        } else if !sale.drawn {
            let entry = entries.get(i).copied().flatten().map(|e| e as u64);
            let number = ticket.get() - PRE_QUEUE_TICKETS;
            match sale.closed {
                Some(closure) => Standing::Closed(closure),
                None if entry == Some(number) => Standing::PreQueue {
                    opens_at_ms: sale.opens_at_ms,
                },
                None => {
                    // An entry from before Redis lost the pre-queue may come back.
                    if number < sale.lost_below {
                        to_heal.push(i);
                    }
                    Standing::Expired
                }
            }
        } else {
            // Drawn: the user's place (or the session it became) among the drawn places.
            let drawn =
                |t: u64| (sale.drawn_first..sale.drawn_first + sale.drawn_count).contains(&t);
            match seq
                .filter(|s| drawn(*s))
                .or(session.ticket.map(|t| t.get()).filter(|t| drawn(*t)))
            {
                Some(place) => Standing::Drawn {
                    ticket_id: TicketId::new(place),
                    standing: Box::new(of_place(TicketId::new(place), &mut to_rank)),
                },
                // An entry from before Redis lost the line, whose holder never polled between
                // the draw and the loss: its place is in the draw.
                None if sale.closed.is_none()
                    && ticket.get() - PRE_QUEUE_TICKETS < sale.lost_below =>
                {
                    Standing::DrawnPlaceLost
                }
                None => gone(),
            }
        };
        standings.push(standing);
    }
    if !to_heal.is_empty() {
        let mut call = heal_call(&k);
        for i in &to_heal {
            let ticket = tickets[*i].1;
            match is_pre_queue(ticket) {
                true => call
                    .arg(users[*i])
                    .arg(ticket.get() - PRE_QUEUE_TICKETS)
                    .arg("p"),
                false => call.arg(users[*i]).arg(ticket).arg("q"),
            };
        }
        let back: Vec<i64> = call.invoke_async(&mut conn).await?;
        for (i, back) in to_heal.into_iter().zip(back) {
            if back != 1 {
                continue;
            }
            tracing::debug!(concert.id = concert_id.get(), ticket = %tickets[i].1, "a place Redis lost came back");
            if is_pre_queue(tickets[i].1) {
                standings[i] = Standing::PreQueue {
                    opens_at_ms: sale.opens_at_ms,
                };
            } else {
                to_rank.push(i);
            }
        }
    }
    if !to_rank.is_empty() {
        let mut pipe = redis::pipe();
        for i in &to_rank {
            pipe.cmd("ZRANK").arg(k.queue()).arg(users[*i]);
        }
        let ranks: Vec<Option<u64>> = pipe.query_async(&mut conn).await?;
        for (i, rank) in to_rank.into_iter().zip(ranks) {
            // Not in line any more: admitted (or gone) since the read; it was at the front,
            // and the next poll says which.
            let waiting = Standing::Waiting {
                position: rank.map_or(1, |r| r + 1),
                pace: view.pace,
            };
            match &mut standings[i] {
                Standing::Drawn { standing, .. } => **standing = waiting,
                other => *other = waiting,
            }
        }
    }
    Ok(standings)
}

/// A `heal.lua` call with its keys; the caller adds the (user, number, kind) triples.
fn heal_call(k: &ConcertKeys) -> ScriptInvocation<'static> {
    let mut call = HEAL.key(k.config());
    call.key(k.queue())
        .key(k.sessions())
        .key(k.healed())
        .key(k.pre_queue());
    call
}

/// Brings back the place `ticket` of `user` that Redis lost (`heal.lua`'s rules: from
/// before the loss, once, not while the user has a place or session); whether it came back.
pub async fn heal_place(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    user: &UserId,
    ticket: TicketId,
) -> Result<bool> {
    let k = keys.concert(concert_id.get());
    let mut conn = redis.get().await?;
    let back: Vec<i64> = heal_call(&k)
        .arg(user.as_str())
        .arg(ticket)
        .arg("q")
        .invoke_async(&mut conn)
        .await?;
    Ok(back.first() == Some(&1))
}

/// Marks the sessions of `users` as picked up (their access token handed out), so the
/// activation deadline no longer ends them.
pub async fn activate(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    users: &[&str],
) -> Result<()> {
    let mut conn = redis.get().await?;
    redis::cmd("ZREM")
        .arg(keys.concert(concert_id.get()).pending())
        .arg(users)
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

/// One answer per user from `join.lua`'s reply (see the script for its layout).
fn join_answers(reply: &[redis::Value], n: usize) -> Result<Vec<Joined>> {
    let malformed = || anyhow::anyhow!("join.lua answered {} values for {n} users", reply.len());
    // The first value of a batch that joined is `rate`, a string: it is read as a number only
    // when it is one, since a conversion error would capture a backtrace (with RUST_BACKTRACE
    // set) on every batch.
    let sentinel = match reply.first() {
        Some(redis::Value::Int(code)) => Some(*code),
        _ => None,
    };
    match sentinel {
        Some(-1) if reply.len() == 1 => return Ok(vec![Joined::UnknownConcert; n]),
        Some(-4) if reply.len() == 1 => {
            return Err(GatewayError::Unavailable(
                "the queue's arrival counter is being extended".into(),
            ))
        }
        Some(-2) if reply.len() == 2 => {
            let reason: String = redis::from_redis_value(&reply[1])?;
            return Ok(vec![Joined::Closed(Closure::parse(&reason)); n]);
        }
        Some(-3) if reply.len() >= 3 && (reply.len() - 3).is_multiple_of(2) => {
            return pre_queue_answers(int(&reply[1])?, int(&reply[2])?, &reply[3..], n)
                .ok_or_else(|| malformed().into());
        }
        _ => {}
    }
    let (Some(head), Some(listed)) = (reply.get(..6), reply.get(6..)) else {
        return Err(malformed().into());
    };
    if listed.len() % 4 != 0 || listed.len() / 4 > n {
        return Err(malformed().into());
    }
    let rate: String = redis::from_redis_value(&head[0])?;
    let pace = Pace::from_parts(&rate, int(&head[1])?, int(&head[2])?, int(&head[3])?);
    let (first_seq, first_position): (u64, u64) = (int(&head[4])?, int(&head[5])?);
    let mut listed = listed.chunks_exact(4).peekable();
    let mut new = 0;
    let mut answers = Vec::with_capacity(n);
    for i in 1..=n {
        let row = listed.next_if(|row| int::<usize>(&row[0]).is_ok_and(|at| at == i));
        let answer = match (row, row.map(|r| int::<i64>(&r[1])).transpose()?) {
            (Some(row), Some(2)) => Joined::Active {
                ticket_id: TicketId::new(int(&row[2])?),
                expires_at_ms: int(&row[3])?,
            },
            (Some(row), Some(1)) => Joined::Waiting {
                new: false,
                ticket_id: TicketId::new(int(&row[2])?),
                position: int(&row[3])?,
                pace,
            },
            (Some(row), Some(3)) => Joined::PreQueue {
                new: false,
                ticket_id: TicketId::new(PRE_QUEUE_TICKETS + int::<u64>(&row[2])?),
                opens_at_ms: int(&row[3])?,
            },
            (Some(_), _) => return Err(malformed().into()),
            (None, _) if first_seq == 0 || first_position == 0 => return Err(malformed().into()),
            (None, _) => {
                new += 1;
                Joined::Waiting {
                    new: true,
                    ticket_id: TicketId::new(first_seq + new - 1),
                    position: first_position + new - 1,
                    pace,
                }
            }
        };
        answers.push(answer);
    }
    if listed.next().is_some() {
        return Err(malformed().into());
    }
    Ok(answers)
}

/// The answers of a join before the opening: `listed` pairs (index, entry number) for users
/// already in the pre-queue; every other user got the next new entry from `first_entry` on.
fn pre_queue_answers(
    opens_at_ms: i64,
    first_entry: u64,
    listed: &[redis::Value],
    n: usize,
) -> Option<Vec<Joined>> {
    let mut listed = listed.chunks_exact(2).peekable();
    let mut new = 0;
    let mut answers = Vec::with_capacity(n);
    for i in 1..=n {
        let row = listed.next_if(|row| int::<usize>(&row[0]).is_ok_and(|at| at == i));
        let (entry, is_new) = match row {
            Some(row) => (int::<u64>(&row[1]).ok()?, false),
            None if first_entry == 0 => return None,
            None => {
                new += 1;
                (first_entry + new - 1, true)
            }
        };
        answers.push(Joined::PreQueue {
            new: is_new,
            ticket_id: TicketId::new(PRE_QUEUE_TICKETS + entry),
            opens_at_ms,
        });
    }
    listed.next().is_none().then_some(answers)
}

/// A bulk string reply as text, borrowed (a poll batch's session tickets are read without
/// allocating one string each).
fn bulk_str(v: &redis::Value) -> Option<&str> {
    match v {
        redis::Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

fn int<T: redis::FromRedisValue>(v: &redis::Value) -> Result<T> {
    Ok(redis::from_redis_value(v)?)
}

/// Gives up the place or ends the session of a ticket; true when something was freed.
pub async fn leave(redis: &Pool, keys: &Keys, place: &Place) -> Result<bool> {
    let k = keys.concert(place.concert_id.get());
    let mut conn = redis.get().await?;
    let freed: i64 = LEAVE
        .key(k.queue())
        .key(k.active())
        .key(k.sessions())
        .key(k.queue_gaps())
        .key(k.user_hold(place.user_id.as_str()))
        .key(k.pre_queue())
        .key(k.config())
        .arg(&place.user_id)
        .arg(place.ticket_id)
        .arg(k.prefix())
        .arg(PRE_QUEUE_TICKETS)
        .invoke_async(&mut conn)
        .await?;
    Ok(freed != 0)
}

/// The numbers of a concert's queue; `None` when it has no queue.
pub async fn stats(redis: &Pool, keys: &Keys, concert_id: ConcertId) -> Result<Option<QueueStats>> {
    let k = keys.concert(concert_id.get());
    let mut conn = redis.get().await?;
    type Reply = (i64, u64, u64, String, i64, i64, i64, i64, i64, String, i64);
    let (exists, waiting, active, rate, admit, tick, paused, opens_at, drawn, closed, sellable): Reply =
        STATS
            .key(k.config())
            .key(k.queue())
            .key(k.active())
            .key(k.pre_queue())
            .invoke_async(&mut conn)
            .await?;
    Ok((exists == 1).then(|| QueueStats {
        waiting,
        active,
        pace: Pace::from_parts(&rate, admit, tick, paused),
        opens_at_ms: (opens_at > 0).then_some(opens_at),
        drawn: opens_at <= 0 || drawn == 1,
        closed: (!closed.is_empty()).then(|| Closure::parse(&closed)),
        sellable: u64::try_from(sellable).ok(),
    }))
}

/// Moves the opening of a sale to `opens_at_ms`: `Some(true)` moved, `Some(false)` refused (it
/// has opened, or the new time has passed), `None` no such queue.
pub async fn change_opening(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    opens_at_ms: i64,
) -> Result<Option<bool>> {
    let mut conn = redis.get().await?;
    let moved: i64 = OPENING
        .key(keys.concert(concert_id.get()).config())
        .arg(opens_at_ms)
        .invoke_async(&mut conn)
        .await?;
    Ok((moved >= 0).then_some(moved == 1))
}

/// Changes the settings of an open queue; false when the concert has none.
pub async fn update_settings(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    s: &QueueSettings,
) -> Result<bool> {
    let mut conn = redis.get().await?;
    let changed: i64 = SETTINGS
        .key(keys.concert(concert_id.get()).config())
        .arg(s.admit_per_tick)
        .arg(s.tick_millis)
        .arg(s.max_active)
        .arg(s.session_ttl_seconds)
        .arg(u8::from(s.paused))
        .invoke_async(&mut conn)
        .await?;
    Ok(changed == 1)
}

/// The settings in force of a concert's queue and how many it has admitted in all; `None`
/// when it has none. One round trip.
pub async fn settings(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
) -> Result<Option<(QueueSettings, u64)>> {
    let mut conn = redis.get().await?;
    type Reply = (
        Option<u32>,
        Option<u32>,
        Option<u32>,
        Option<u32>,
        Option<String>,
        Option<u64>,
    );
    let (admit, tick, max_active, ttl, paused, admitted): Reply = redis::cmd("HMGET")
        .arg(keys.concert(concert_id.get()).config())
        .arg(&[
            "admitPerTick",
            "tickMillis",
            "maxActive",
            "sessionTtl",
            "paused",
            "admitted",
        ])
        .query_async(&mut conn)
        .await?;
    let (Some(admit_per_tick), Some(tick_millis), Some(max_active), Some(session_ttl_seconds)) =
        (admit, tick, max_active, ttl)
    else {
        return Ok(None);
    };
    Ok(Some((
        QueueSettings {
            admit_per_tick,
            tick_millis,
            max_active,
            session_ttl_seconds,
            paused: paused.as_deref() == Some("1"),
        },
        admitted.unwrap_or(0),
    )))
}

/// The open concerts (at most `limit`, lowest ids first), in two round trips.
pub async fn open_concerts(redis: &Pool, keys: &Keys, limit: usize) -> Result<Vec<OpenConcert>> {
    let mut conn = redis.get().await?;
    let ids: Vec<i64> = redis::cmd("SMEMBERS")
        .arg(keys.open_concerts())
        .query_async(&mut conn)
        .await?;
    // The api opens queues of valid concerts only; anything else in the set is not listed.
    let mut ids: Vec<ConcertId> = ids
        .into_iter()
        .filter_map(|id| ConcertId::new(id).ok())
        .collect();
    ids.sort_unstable();
    ids.truncate(limit);
    // One pipeline per concert (each in its own cluster slot), sent together.
    let rows: Vec<(Vec<Option<String>>, u64, u64)> =
        futures::future::try_join_all(ids.iter().map(|id| {
            let k = keys.concert(id.get());
            let mut conn = conn.clone();
            async move {
                redis::pipe()
                    .cmd("HMGET")
                    .arg(k.config())
                    .arg(&["name", "paused", "opensAt", "drawn", "closed"])
                    .cmd("ZCARD")
                    .arg(k.queue())
                    .cmd("ZCARD")
                    .arg(k.active())
                    .query_async::<(Vec<Option<String>>, u64, u64)>(&mut conn)
                    .await
            }
        }))
        .await?;
    Ok(ids
        .into_iter()
        .zip(rows)
        .filter(|(_, (fields, _, _))| fields.first().is_some_and(Option::is_some))
        .map(|(concert_id, (fields, waiting, active))| {
            let field = |i: usize| fields.get(i).cloned().flatten();
            let opens_at_ms = field(2)
                .and_then(|o| o.parse::<i64>().ok())
                .filter(|o| *o > 0);
            OpenConcert {
                concert_id,
                name: field(0).unwrap_or_default(),
                paused: field(1).as_deref() == Some("1"),
                waiting,
                active,
                opens_at_ms,
                drawn: opens_at_ms.is_none() || field(3).as_deref() == Some("1"),
                closed: field(4).as_deref().map(Closure::parse),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Pace;

    #[test]
    fn leave_names_a_holds_keys_as_the_key_layout_does() {
        let k = Keys::new("tix:").concert(7);
        let base = k.prefix();
        assert_eq!(format!("{base}r:abc"), k.reservation("abc"));
        assert_eq!(format!("{base}held:3"), k.held_seats(3));
        assert_eq!(format!("{base}h:3:41"), k.seat_hold(3, 41));
        assert_eq!(format!("{base}uh:ann"), k.user_hold("ann"));
    }

    fn ints(values: &[i64]) -> Vec<redis::Value> {
        let mut reply = vec![redis::Value::BulkString(b"0.5".to_vec())];
        reply.extend(values.iter().map(|v| redis::Value::Int(*v)));
        reply
    }

    #[test]
    fn join_answers_give_new_places_in_order_and_list_the_rest() {
        // Four users: new, already waiting (ticket 3 at 2), new, active (ticket 1).
        let reply = ints(&[10, 1000, 0, 40, 7, 2, 1, 3, 2, 4, 2, 1, 99_000]);
        let answers = join_answers(&reply, 4).unwrap();
        let waiting = |new, ticket_id, position| Joined::Waiting {
            new,
            ticket_id: TicketId::new(ticket_id),
            position,
            pace: Pace {
                measured_per_second: Some(0.5),
                admit_per_tick: 10,
                tick_millis: 1000,
                paused: false,
                waiting_for_seats: false,
            },
        };
        assert_eq!(answers[0], waiting(true, 40, 7));
        assert_eq!(answers[1], waiting(false, 3, 2));
        assert_eq!(answers[2], waiting(true, 41, 8));
        assert_eq!(
            answers[3],
            Joined::Active {
                ticket_id: TicketId::new(1),
                expires_at_ms: 99_000
            }
        );
        assert_eq!(
            join_answers(&[redis::Value::Int(-1)], 2).unwrap(),
            vec![Joined::UnknownConcert; 2]
        );
        let closed = [
            redis::Value::Int(-2),
            redis::Value::BulkString(b"SOLD_OUT".to_vec()),
        ];
        assert_eq!(
            join_answers(&closed, 1).unwrap(),
            vec![Joined::Closed(Closure::SoldOut)]
        );
    }

    #[test]
    fn pre_queue_joins_get_entries_in_order_and_keep_theirs() {
        // Three users before the opening: new, already entry 4, new (entries from 9).
        let reply: Vec<redis::Value> = [-3, 5_000, 9, 2, 4]
            .into_iter()
            .map(redis::Value::Int)
            .collect();
        let entry = |new, n| Joined::PreQueue {
            new,
            ticket_id: TicketId::new(PRE_QUEUE_TICKETS + n),
            opens_at_ms: 5_000,
        };
        assert_eq!(
            join_answers(&reply, 3).unwrap(),
            vec![entry(true, 9), entry(false, 4), entry(true, 10)]
        );
        assert!(join_answers(&reply[..4], 3).is_err(), "a partial row");
    }

    #[test]
    fn malformed_join_answers_are_errors() {
        for (values, n) in [
            (&[10, 1000, 0, 40, 7, 5, 1, 3, 2][..], 4), // index past the batch
            (&[10, 1000, 0, 40, 7, 2, 1, 3, 2, 1, 1, 3, 2][..], 4), // out of order
            (&[10, 1000, 0, 40, 7, 1, 4, 3, 2][..], 4), // unknown kind
            (&[10, 1000, 0, 0, 0][..], 1),              // a new place with no sequence
            (&[10, 1000, 0, 40][..], 1),                // too short
            (&[10, 1000, 0, 40, 7, 1, 1, 3][..], 1),    // a partial row
        ] {
            assert!(join_answers(&ints(values), n).is_err(), "{values:?}");
        }
    }
}
