//! The queue store: every queue operation is one Redis round trip (one `EVALSHA`, or for a
//! status poll one `MULTI`/`EXEC` of reads), and most status polls none: `queue/view.rs`
//! answers them from a shared, short-lived view of the line.
//! The Lua scripts live in `queue/`; the pacing rules (estimated wait, poll interval) here.
//! Joins and status polls run as batches: `queue/batch.rs` coalesces concurrent requests of
//! one concert into one Redis call.

pub mod batch;
pub mod view;

use std::sync::LazyLock;

use redis::Script;
use shared::redis_pool::Pool;
use shared::{config::QueueSettings, keys::Keys};

use crate::error::Result;
use view::LineView;

static JOIN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue/join.lua")));
static LEAVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue/leave.lua")));
static STATS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue/stats.lua")));
static SETTINGS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("queue/settings.lua")));

/// How fast a queue moves: the measured admission rate and the configured pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Smoothed admissions per second, measured by the scheduler; `None` until the queue
    /// has run with people waiting.
    pub measured_per_second: Option<f64>,
    pub admit_per_tick: u32,
    pub tick_millis: u32,
    pub paused: bool,
}

impl Pace {
    fn from_parts(rate: &str, admit_per_tick: i64, tick_millis: i64, paused: i64) -> Self {
        Self {
            measured_per_second: rate.parse().ok().filter(|r: &f64| r.is_finite()),
            admit_per_tick: admit_per_tick.max(0) as u32,
            tick_millis: tick_millis.max(1) as u32,
            paused: paused != 0,
        }
    }

    /// Admissions per second: the measured rate, however low it falls while nobody is
    /// admitted (a full room); the configured one only until a measurement exists.
    pub fn per_second(&self) -> f64 {
        self.measured_per_second.unwrap_or_else(|| {
            f64::from(self.admit_per_tick) * 1000.0 / f64::from(self.tick_millis.max(1))
        })
    }

    /// Seconds until `position` is admitted at the current pace.
    pub fn estimated_wait_secs(&self, position: u64) -> u64 {
        if position == 0 {
            return 0;
        }
        (position as f64 / self.per_second().max(1e-3))
            .ceil()
            .min(86_400.0 * 7.0) as u64
    }

    /// When a waiting client should poll again: about ten polls over its wait, 1 s near
    /// the front (and for anyone the next two ticks admit, however slow the measured pace),
    /// at most 15 s at the back, spread by ticket so clients do not poll in step. While
    /// paused nothing moves: the front polls every 5 s to see the sale resume, the back less
    /// often (its wait at the configured pace), at most every 30 s.
    pub fn poll_after_ms(&self, position: u64, ticket_id: u64) -> u64 {
        let next_ticks = 2 * u64::from(self.admit_per_tick);
        let base = if self.paused {
            let configured =
                f64::from(self.admit_per_tick) * 1000.0 / f64::from(self.tick_millis.max(1));
            ((position as f64 / configured.max(1e-3)) * 100.0).clamp(5_000.0, 30_000.0) as u64
        } else if position <= next_ticks {
            1_000
        } else {
            (self.estimated_wait_secs(position) * 100).clamp(1_000, 15_000)
        };
        let spread = 90 + ticket_id % 21; // 90%..110%
        (base * spread / 100).clamp(1_000, 33_000)
    }
}

/// The answer to a join.
#[derive(Debug, Clone, PartialEq)]
pub enum Joined {
    UnknownConcert,
    Waiting {
        new: bool,
        ticket_id: u64,
        position: u64,
        pace: Pace,
    },
    Active {
        ticket_id: u64,
        expires_at_ms: i64,
    },
}

/// Where a ticket stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    Waiting { position: u64, pace: Pace },
    Active { expires_at_ms: i64 },
    Expired,
}

/// Joins `user_id` to the queue of `concert_id` (a batch of one; see [`join_batch`]).
pub async fn join(redis: &Pool, keys: &Keys, concert_id: i64, user_id: &str) -> Result<Joined> {
    let mut joined = join_batch(redis, keys, concert_id, &[user_id.to_owned()]).await?;
    Ok(joined.pop().unwrap_or(Joined::UnknownConcert))
}

/// Joins every user of `users` (in this order) to the queue of `concert_id` in one
/// `EVALSHA`; one answer per user, in the same order. A user named twice gets one place.
pub async fn join_batch(
    redis: &Pool,
    keys: &Keys,
    concert_id: i64,
    users: &[String],
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
                first_of.insert(user, unique.len());
                unique.push(user);
                (unique.len() - 1, false)
            }
        })
        .collect();
    let k = keys.concert(concert_id);
    let mut conn = redis.get().await?;
    let reply: Vec<redis::Value> = JOIN
        .key(k.config())
        .key(k.queue())
        .key(k.active())
        .key(k.sessions())
        .key(k.queue_gaps())
        .arg(&unique)
        .invoke_async(&mut conn)
        .await?;
    let Some(answers) = join_answers(&reply, unique.len())? else {
        return Ok(vec![Joined::UnknownConcert; users.len()]);
    };
    Ok(slots
        .into_iter()
        .map(|(at, repeat)| {
            let mut answer = answers[at].clone();
            if let Joined::Waiting { new, .. } = &mut answer {
                *new &= !repeat;
            }
            answer
        })
        .collect())
}

/// Where each `(user id, ticket id)` of one concert stands: one `MULTI`/`EXEC` of plain reads
/// (a status poll changes nothing, so it needs no script): the concert's [`LineView`] and
/// each ticket's place, session and expiry. One answer per ticket, in the same order; every
/// ticket of an unknown concert counts as expired. Polls the view can answer on its own do
/// not come here (see `queue/view.rs`).
pub async fn status_batch(
    redis: &Pool,
    keys: &Keys,
    concert_id: i64,
    tickets: &[(String, u64)],
) -> Result<Vec<Standing>> {
    let k = keys.concert(concert_id);
    let users: Vec<&str> = tickets.iter().map(|(user, _)| user.as_str()).collect();
    let mut pipe = redis::pipe();
    LineView::read(pipe.atomic(), &k);
    pipe.cmd("ZMSCORE")
        .arg(k.queue())
        .arg(&users)
        .cmd("HMGET")
        .arg(k.sessions())
        .arg(&users)
        .cmd("ZMSCORE")
        .arg(k.active())
        .arg(&users)
        .cmd("TIME");
    let mut conn = redis.get().await?;
    type Reads = (
        Vec<Option<String>>,
        Vec<String>,
        u64,
        Vec<u64>,
        Vec<Option<f64>>,
        Vec<Option<u64>>,
        Vec<Option<f64>>,
        (u64, u64),
    );
    let (cfg, head, length, gaps, seqs, sessions, expiries, time): Reads =
        pipe.query_async(&mut conn).await?;
    let Some(view) = LineView::from_reads((cfg, head, length, gaps))? else {
        return Ok(vec![Standing::Expired; tickets.len()]);
    };
    let now_ms = time.0 * 1000 + time.1 / 1000;
    let mut standings = Vec::with_capacity(tickets.len());
    let mut to_rank = Vec::new();
    for (i, (_, ticket)) in tickets.iter().enumerate() {
        let waiting = seqs.get(i).copied().flatten() == Some(*ticket as f64);
        let standing = if waiting {
            let position = view.position(*ticket);
            if position.is_none() {
                to_rank.push(i);
            }
            Standing::Waiting {
                position: position.unwrap_or(0),
                pace: view.pace,
            }
        } else {
            match (sessions.get(i), expiries.get(i)) {
                (Some(Some(t)), Some(Some(expiry))) if t == ticket && *expiry > now_ms as f64 => {
                    Standing::Active {
                        expires_at_ms: *expiry as i64,
                    }
                }
                _ => Standing::Expired,
            }
        };
        standings.push(standing);
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
            standings[i] = Standing::Waiting {
                position: rank.map_or(1, |r| r + 1),
                pace: view.pace,
            };
        }
    }
    Ok(standings)
}

/// One answer per user from `join.lua`'s reply (see the script for its layout); `None` for an
/// unknown concert (`{-1}`).
fn join_answers(reply: &[redis::Value], n: usize) -> Result<Option<Vec<Joined>>> {
    if reply.len() == 1 {
        return Ok(None);
    }
    let malformed = || anyhow::anyhow!("join.lua answered {} values for {n} users", reply.len());
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
                ticket_id: int(&row[2])?,
                expires_at_ms: int(&row[3])?,
            },
            (Some(row), Some(1)) => Joined::Waiting {
                new: false,
                ticket_id: int(&row[2])?,
                position: int(&row[3])?,
                pace,
            },
            (Some(_), _) => return Err(malformed().into()),
            (None, _) if first_seq == 0 || first_position == 0 => return Err(malformed().into()),
            (None, _) => {
                new += 1;
                Joined::Waiting {
                    new: true,
                    ticket_id: first_seq + new - 1,
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
    Ok(Some(answers))
}

fn int<T: redis::FromRedisValue>(v: &redis::Value) -> Result<T> {
    Ok(redis::from_redis_value(v)?)
}

/// Gives up the place or ends the session of a ticket; true when something was freed.
pub async fn leave(
    redis: &Pool,
    keys: &Keys,
    concert_id: i64,
    user_id: &str,
    ticket_id: u64,
) -> Result<bool> {
    let k = keys.concert(concert_id);
    let mut conn = redis.get().await?;
    let freed: i64 = LEAVE
        .key(k.queue())
        .key(k.active())
        .key(k.sessions())
        .key(k.queue_gaps())
        .arg(user_id)
        .arg(ticket_id)
        .invoke_async(&mut conn)
        .await?;
    Ok(freed != 0)
}

/// The numbers of one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStats {
    pub waiting: u64,
    pub active: u64,
    pub pace: Pace,
}

pub async fn stats(redis: &Pool, keys: &Keys, concert_id: i64) -> Result<Option<QueueStats>> {
    let k = keys.concert(concert_id);
    let mut conn = redis.get().await?;
    let (exists, waiting, active, rate, admit, tick, paused): (
        i64,
        u64,
        u64,
        String,
        i64,
        i64,
        i64,
    ) = STATS
        .key(k.config())
        .key(k.queue())
        .key(k.active())
        .invoke_async(&mut conn)
        .await?;
    Ok((exists == 1).then(|| QueueStats {
        waiting,
        active,
        pace: Pace::from_parts(&rate, admit, tick, paused),
    }))
}

/// Changes the settings of an open queue; false when the concert has none.
pub async fn update_settings(
    redis: &Pool,
    keys: &Keys,
    concert_id: i64,
    s: &QueueSettings,
) -> Result<bool> {
    let mut conn = redis.get().await?;
    let changed: i64 = SETTINGS
        .key(keys.concert(concert_id).config())
        .arg(s.admit_per_tick)
        .arg(s.tick_millis)
        .arg(s.max_active)
        .arg(s.session_ttl_seconds)
        .arg(u8::from(s.paused))
        .invoke_async(&mut conn)
        .await?;
    Ok(changed == 1)
}

/// An open concert as the index page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenConcert {
    pub concert_id: i64,
    pub name: String,
    pub paused: bool,
    pub waiting: u64,
    pub active: u64,
}

/// The open concerts (at most `limit`, lowest ids first), in two round trips.
pub async fn open_concerts(redis: &Pool, keys: &Keys, limit: usize) -> Result<Vec<OpenConcert>> {
    let mut conn = redis.get().await?;
    let mut ids: Vec<i64> = redis::cmd("SMEMBERS")
        .arg(keys.open_concerts())
        .query_async(&mut conn)
        .await?;
    ids.sort_unstable();
    ids.truncate(limit);
    let mut pipe = redis::pipe();
    for id in &ids {
        let k = keys.concert(*id);
        pipe.cmd("HMGET").arg(k.config()).arg("name").arg("paused");
        pipe.cmd("ZCARD").arg(k.queue());
        pipe.cmd("ZCARD").arg(k.active());
    }
    let rows: Vec<(Vec<Option<String>>, u64, u64)> = if ids.is_empty() {
        Vec::new()
    } else {
        let flat: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        flat.chunks(3)
            .map(|c| {
                let fields: Vec<Option<String>> =
                    redis::from_redis_value(&c[0]).unwrap_or_default();
                let waiting: u64 = redis::from_redis_value(&c[1]).unwrap_or(0);
                let active: u64 = redis::from_redis_value(&c[2]).unwrap_or(0);
                (fields, waiting, active)
            })
            .collect()
    };
    Ok(ids
        .into_iter()
        .zip(rows)
        .filter(|(_, (fields, _, _))| fields.first().is_some_and(Option::is_some))
        .map(|(concert_id, (fields, waiting, active))| OpenConcert {
            concert_id,
            name: fields.first().cloned().flatten().unwrap_or_default(),
            paused: fields.get(1).cloned().flatten().as_deref() == Some("1"),
            waiting,
            active,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(rate: Option<f64>) -> Pace {
        Pace {
            measured_per_second: rate,
            admit_per_tick: 10,
            tick_millis: 1000,
            paused: false,
        }
    }

    #[test]
    fn a_paused_line_polls_every_5_s_at_the_front_and_rarely_at_the_back() {
        let paused = Pace {
            paused: true,
            ..pace(Some(2.0))
        };
        assert_eq!(
            paused.poll_after_ms(1, 10),
            5_000,
            "the front sees a resume soon"
        );
        assert_eq!(
            paused.poll_after_ms(100_000, 10),
            30_000,
            "the back polls rarely"
        );
        assert!((27_000..=33_000).contains(&paused.poll_after_ms(100_000, 3)));
    }

    #[test]
    fn the_next_ticks_poll_every_second_even_when_the_room_stays_full() {
        let stalled = pace(Some(0.001));
        assert_eq!(
            stalled.poll_after_ms(20, 10),
            1_000,
            "admitted within two ticks of 10"
        );
        assert_eq!(
            stalled.poll_after_ms(21, 10),
            15_000,
            "further back: the slow pace"
        );
    }

    #[test]
    fn wait_uses_the_measured_rate_once_there_is_one() {
        assert_eq!(
            pace(None).estimated_wait_secs(100),
            10,
            "configured 10/s before any measurement"
        );
        assert_eq!(pace(Some(2.0)).estimated_wait_secs(100), 50, "measured 2/s");
        assert_eq!(pace(Some(2.0)).estimated_wait_secs(0), 0);
        assert_eq!(
            pace(Some(0.005)).estimated_wait_secs(2),
            400,
            "a room that stays full: the slow measured pace, not the configured 10/s"
        );
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
        let answers = join_answers(&reply, 4).unwrap().unwrap();
        let waiting = |new, ticket_id, position| Joined::Waiting {
            new,
            ticket_id,
            position,
            pace: Pace {
                measured_per_second: Some(0.5),
                admit_per_tick: 10,
                tick_millis: 1000,
                paused: false,
            },
        };
        assert_eq!(answers[0], waiting(true, 40, 7));
        assert_eq!(answers[1], waiting(false, 3, 2));
        assert_eq!(answers[2], waiting(true, 41, 8));
        assert_eq!(
            answers[3],
            Joined::Active {
                ticket_id: 1,
                expires_at_ms: 99_000
            }
        );
        assert_eq!(join_answers(&[redis::Value::Int(-1)], 4).unwrap(), None);
    }

    #[test]
    fn malformed_join_answers_are_errors() {
        for (values, n) in [
            (&[10, 1000, 0, 40, 7, 5, 1, 3, 2][..], 4), // index past the batch
            (&[10, 1000, 0, 40, 7, 2, 1, 3, 2, 1, 1, 3, 2][..], 4), // out of order
            (&[10, 1000, 0, 40, 7, 1, 3, 3, 2][..], 4), // unknown kind
            (&[10, 1000, 0, 0, 0][..], 1),              // a new place with no sequence
            (&[10, 1000, 0, 40][..], 1),                // too short
            (&[10, 1000, 0, 40, 7, 1, 1, 3][..], 1),    // a partial row
        ] {
            assert!(join_answers(&ints(values), n).is_err(), "{values:?}");
        }
    }

    #[test]
    fn poll_interval_grows_with_distance_from_the_head() {
        let p = pace(Some(10.0));
        let near = p.poll_after_ms(5, 0);
        let far = p.poll_after_ms(100_000, 0);
        assert!((900..=1100).contains(&near), "{near}");
        assert!(far >= 13_000, "{far}");
        assert!(p.poll_after_ms(1_000, 0) < far);
    }
}
