//! The admission scheduler: per open concert, every `tickMillis`, one `admit.lua` call
//! (in `admission/`). Every gateway instance may run it; the script's tick claim makes the
//! instances admit exactly `admitPerTick` per tick between them. At a sale's opening the tick
//! says the pre-queue is due for its draw, and the scheduler draws it (`queue/draw.rs`); when
//! the queue has closed (sold out, or closed by the api) the scheduler takes it out of the set
//! of open concerts and stops.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock},
    time::Duration,
};

use redis::Script;
use shared::{ids::ConcertId, keys::Keys, redis_pool::Pool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    error::Result,
    live::Live,
    queue::{draw, view::LineViews},
};

static ADMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("admission/admit.lua")));

/// How long a closed queue's remaining keys (running sessions, the published draw) stay.
const CLOSED_KEYS_TTL_SECS: u64 = 24 * 3600;

/// What one call of the tick script did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// The concert has no queue (never opened, or Redis lost it).
    Missing,
    /// The queue has closed (sold out, or closed by the api): nobody is admitted any more.
    Closed,
    /// Another instance had claimed this tick.
    AlreadyClaimed {
        tick_millis: u32,
        /// Until the next tick starts, on Redis's clock.
        next_tick_in_ms: u64,
    },
    /// This instance ran the tick.
    Ran {
        admitted: u64,
        waiting: u64,
        active: u64,
        tick_millis: u32,
        /// Until the next tick starts, on Redis's clock.
        next_tick_in_ms: u64,
        /// The sale has opened and its pre-queue is not drawn yet: nobody is admitted until
        /// it is ([`draw::draw`]).
        draw_due: bool,
        /// Seats neither sold nor held; `None` while the api has not counted them.
        sellable: Option<u64>,
    },
}

/// Runs one admission tick of one concert: with `tick: None` the tick of Redis's clock now
/// (what the scheduler runs), with `Some(n)` tick number `n` (tests and benchmarks drive
/// ticks by number; a number at or below the last one claimed does nothing). A session
/// whose access token nobody picked up within `activation` of its admission ends at a later
/// tick (zero: never).
pub async fn admit_tick(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    tick: Option<u64>,
    activation: Duration,
) -> Result<Tick> {
    let k = keys.concert(concert_id.get());
    let mut conn = redis.get().await?;
    let (claimed, admitted, waiting, active, tick_millis, next_tick_in_ms, draw_due, sellable): (
        i64,
        u64,
        u64,
        u64,
        u32,
        u64,
        i64,
        i64,
    ) = ADMIT
        .key(k.config())
        .key(k.queue())
        .key(k.active())
        .key(k.sessions())
        .key(k.queue_gaps())
        .key(k.pending())
        .key(k.unsold())
        .key(k.pre_queue())
        .arg(tick.map(|t| t.to_string()).unwrap_or_default())
        .arg(activation.as_secs())
        .arg(k.prefix())
        .arg(CLOSED_KEYS_TTL_SECS)
        .invoke_async(&mut conn)
        .await?;
    Ok(match claimed {
        -1 => Tick::Missing,
        -2 => Tick::Closed,
        0 => Tick::AlreadyClaimed {
            tick_millis,
            next_tick_in_ms,
        },
        _ => Tick::Ran {
            admitted,
            waiting,
            active,
            tick_millis,
            next_tick_in_ms,
            draw_due: draw_due == 1,
            sellable: u64::try_from(sellable).ok(),
        },
    })
}

/// Takes a closed concert out of the set of open concerts (the schedulers' list).
async fn forget_closed(redis: &Pool, keys: &Keys, concert_id: ConcertId) -> Result<()> {
    let mut conn = redis.get().await?;
    redis::cmd("SREM")
        .arg(keys.open_concerts())
        .arg(concert_id.get())
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

/// Runs one concert's ticks until `stop` is cancelled or the queue closes: each call runs
/// the tick of Redis's clock (or finds it claimed by another instance) and says when the next
/// one starts, so every instance wakes on the same boundaries whatever its own clock says.
/// After each tick the concert's line view is dropped, so polls here see it, and the event
/// streams of the concert held here get the line as the tick left it ([`Live::refresh`]).
pub async fn run_concert(
    redis: Pool,
    keys: Keys,
    concert_id: ConcertId,
    views: Arc<LineViews>,
    live: Arc<Live>,
    activation: Duration,
    stop: CancellationToken,
) {
    let label = concert_id.to_string();
    let mut failures: u32 = 0;
    // The first call runs at once: a tick nobody has claimed yet admits.
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let tick = admit_tick(&redis, &keys, concert_id, None, activation).await;
        views.forget(concert_id);
        // Whoever claimed the tick, it has run: one read of the line for every stream here.
        if tick.as_ref().is_ok_and(|t| *t != Tick::Missing) {
            live.refresh(&redis, &keys, concert_id).await;
        }
        // Wake a millisecond past the next boundary, so the call lands in the new tick.
        let until_next = |ms: u64| Duration::from_millis(ms + 1);
        wait = match tick {
            Ok(Tick::Missing) => {
                tracing::info!(concert.id = concert_id.get(), "no queue; scheduler stops");
                return;
            }
            Ok(Tick::Closed) => match forget_closed(&redis, &keys, concert_id).await {
                Ok(()) => {
                    // A closed line has nobody waiting (its running sessions end by
                    // themselves); its series then drop off after the exporter's idle timeout.
                    metrics::gauge!("gateway_queue_waiting", "concert" => concert_id.to_string())
                        .set(0.0);
                    tracing::info!(
                        concert.id = concert_id.get(),
                        "queue closed; scheduler stops"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(concert.id = concert_id.get(), error = %e, "cannot take a closed queue out of the open set");
                    Duration::from_secs(1)
                }
            },
            Ok(Tick::AlreadyClaimed {
                next_tick_in_ms, ..
            }) => {
                failures = 0;
                until_next(next_tick_in_ms)
            }
            Ok(Tick::Ran {
                admitted,
                waiting,
                active,
                next_tick_in_ms,
                draw_due,
                sellable,
                ..
            }) => {
                failures = 0;
                if draw_due {
                    match draw::draw(&redis, &keys, concert_id).await {
                        Ok(Some(placed)) => {
                            tracing::info!(concert.id = concert_id.get(), placed, "pre-queue drawn")
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(concert.id = concert_id.get(), error = %e, "draw failed; retried next tick")
                        }
                    }
                    views.forget(concert_id);
                    live.refresh(&redis, &keys, concert_id).await;
                }
                if let Some(sellable) = sellable {
                    metrics::gauge!("gateway_sellable_seats", "concert" => label.clone())
                        .set(sellable as f64);
                }
                metrics::counter!("gateway_admitted_total", "concert" => label.clone())
                    .increment(admitted);
                metrics::gauge!("gateway_queue_waiting", "concert" => label.clone())
                    .set(waiting as f64);
                metrics::gauge!("gateway_active_sessions", "concert" => label.clone())
                    .set(active as f64);
                if admitted > 0 {
                    tracing::debug!(
                        concert.id = concert_id.get(),
                        admitted,
                        waiting,
                        active,
                        "admitted"
                    );
                }
                until_next(next_tick_in_ms)
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(50) {
                    tracing::warn!(concert.id = concert_id.get(), error = %e, failures, "admission tick failed");
                }
                Duration::from_millis((100 * u64::from(failures.min(20))).min(2_000))
            }
        };
    }
}

/// Watches the set of open concerts and keeps one tick loop per concert running until
/// `stop` is cancelled; survives Redis errors and picks up new concerts within a second.
pub async fn run(
    redis: Pool,
    keys: Keys,
    views: Arc<LineViews>,
    live: Arc<Live>,
    activation: Duration,
    stop: CancellationToken,
) {
    let mut loops: HashMap<ConcertId, JoinHandle<()>> = HashMap::new();
    loop {
        let open: Result<Vec<i64>> = async {
            let mut conn = redis.get().await?;
            Ok(redis::cmd("SMEMBERS")
                .arg(keys.open_concerts())
                .query_async(&mut conn)
                .await?)
        }
        .await;
        match open {
            Ok(ids) => {
                loops.retain(|_, handle| !handle.is_finished());
                // The api opens queues of valid concerts only; anything else is not run.
                for id in ids.into_iter().filter_map(|id| ConcertId::new(id).ok()) {
                    loops.entry(id).or_insert_with(|| {
                        tracing::info!(concert.id = id.get(), "admission loop started");
                        tokio::spawn(run_concert(
                            redis.clone(),
                            keys.clone(),
                            id,
                            views.clone(),
                            live.clone(),
                            activation,
                            stop.child_token(),
                        ))
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list open concerts"),
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    for (_, handle) in loops {
        let _ = handle.await;
    }
    tracing::info!("admission scheduler stopped");
}
