//! Live status for the line's event streams (`GET /api/v1/queue/events`): one read of a
//! concert's line per admission tick, shared by every stream of that concert on this gateway.
//!
//! Every instance runs every open concert's tick loop (one claims each tick, the others find
//! it claimed: `admission.rs`), so after each tick each instance reads the concert's
//! [`LineView`] once, when a stream of the concert is open here, and publishes it on a
//! `watch` channel ([`Live::refresh`]). A stream ([`Follow`]) works its status out of that
//! view, as a far-back poll does, and asks Redis (the status poll's path) only when the view
//! cannot tell: its place is no longer in the line it saw (admitted, or given up), the sale
//! moved on (drawn, closed, its opening moved), or at most every [`RECHECK`] while the view
//! still cannot tell (a running session, a line Redis partly lost). So Redis work is one read
//! per concert per tick, plus one status read per admitted place.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use shared::{ids::ConcertId, keys::Keys, redis_pool::Pool};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    error::Result,
    queue::{
        view::{LineView, Sale},
        Place, Standing,
    },
    waiting_room::{Answer, Status},
};

/// How often a stream asks Redis while the line's view cannot tell where it stands (an
/// active session, which ends by lapsing or leaving), and how stale the view may get before
/// a stream stops trusting it (no scheduler feeding this gateway).
pub const RECHECK: Duration = Duration::from_secs(5);

/// At most one `WAITING` event per stream in this long: positions change every tick, and a
/// fan needs them no more often than a few times a second. Further back the gap is half the
/// answer's `pollAfterMs` (about twenty updates over the wait, twice what polling gives):
/// a line of 20,000 moving every tick would otherwise cost an event per stream per tick.
/// Admission, the other states, and a pause or resume go out at once.
pub const MIN_WAITING_GAP: Duration = Duration::from_millis(500);

/// A `WAITING` event after the first goes out up to this long after the view it comes from,
/// at a moment set by the ticket, so that a view reaching 20,000 streams does not queue
/// 20,000 writes at once ahead of the admitted streams' reads.
pub const WAITING_SPREAD: Duration = Duration::from_millis(250);

/// The spread of a pause or resume (every stream's status changes at once): over a second,
/// which is sooner than the next position a fan far back would be sent.
pub const PAUSE_SPREAD: Duration = Duration::from_millis(1000);

/// The newest line view of each concert that has a stream open on this gateway.
#[derive(Default)]
pub struct Live {
    concerts: Mutex<HashMap<ConcertId, Arc<Channel>>>,
    /// What [`Live::refresh`] measures time from (its reads are stamped in ms since).
    epoch: Epoch,
    /// Cancelled when the gateway stops: streams end, so the drain does not wait on them
    /// (their clients reconnect, to another instance, with `Last-Event-ID`).
    closing: CancellationToken,
    /// The streams served by the gateway's own loop (`startup/streams.rs`) rather than
    /// through hyper: the stop waits for them to end.
    direct: watch::Sender<usize>,
}

/// One stream served by the gateway's own loop, counted for as long as it lives.
pub struct DirectStream(Arc<Live>);

impl Drop for DirectStream {
    fn drop(&mut self) {
        self.0.direct.send_modify(|n| *n -= 1);
    }
}

struct Epoch(Instant);

impl Default for Epoch {
    fn default() -> Self {
        Self(Instant::now())
    }
}

/// One concert's channel: the newest view, and when it was last read (ms since the epoch;
/// 0: never), so a stream can tell a line that does not move from one nobody reads.
struct Channel {
    view: watch::Sender<Option<Arc<LineView>>>,
    refreshed_ms: AtomicU64,
}

/// A stream's handle on its concert's views.
pub struct Subscription {
    views: watch::Receiver<Option<Arc<LineView>>>,
    channel: Arc<Channel>,
}

impl Live {
    /// Subscribes to a concert's views: the receiver sees each view that differs from the
    /// last (none until the next tick reads one).
    pub fn subscribe(&self, concert_id: ConcertId) -> Subscription {
        // Under the lock: a refresh that finds no receiver drops the channel.
        let mut concerts = self.concerts.lock().unwrap_or_else(PoisonError::into_inner);
        let channel = concerts
            .entry(concert_id)
            .or_insert_with(|| {
                Arc::new(Channel {
                    view: watch::Sender::new(None),
                    refreshed_ms: AtomicU64::new(0),
                })
            })
            .clone();
        Subscription {
            views: channel.view.subscribe(),
            channel,
        }
    }

    /// Called after each tick of a concert (whichever instance ran it): reads the concert's
    /// line once and wakes its streams if it changed. Nothing when no stream of the concert
    /// is open here; a failed read is skipped (streams fall back to asking after
    /// [`RECHECK`]).
    pub async fn refresh(&self, redis: &Pool, keys: &Keys, concert_id: ConcertId) {
        let channel = {
            let mut concerts = self.concerts.lock().unwrap_or_else(PoisonError::into_inner);
            match concerts.get(&concert_id) {
                Some(c) if c.view.receiver_count() > 0 => c.clone(),
                Some(_) => {
                    // The last stream ended: forget the concert until the next one.
                    concerts.remove(&concert_id);
                    return;
                }
                None => return,
            }
        };
        match LineView::fetch(redis, keys, concert_id).await {
            Ok(Some(view)) => {
                channel.refreshed_ms.store(self.now_ms(), Ordering::Relaxed);
                channel.view.send_if_modified(|current| {
                    if current.as_deref() == Some(&view) {
                        return false;
                    }
                    *current = Some(Arc::new(view));
                    true
                });
            }
            // A queue Redis no longer has: streams hear of it when they ask.
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(concert.id = concert_id.get(), error = %e, "live view not read")
            }
        }
    }

    /// Ends every stream (the gateway is stopping).
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Counts a stream served by the gateway's own loop until the handle is dropped.
    pub fn hold_direct(self: &Arc<Self>) -> DirectStream {
        self.direct.send_modify(|n| *n += 1);
        DirectStream(self.clone())
    }

    /// The streams the gateway's own loop serves now.
    pub fn direct_streams(&self) -> usize {
        *self.direct.borrow()
    }

    /// Resolves once the own loop serves no stream (after [`Live::close`], soon).
    pub async fn direct_streams_ended(&self) {
        let _ = self.direct.subscribe().wait_for(|n| *n == 0).await;
    }

    fn now_ms(&self) -> u64 {
        // Never 0, which means "never read".
        self.epoch.0.elapsed().as_millis() as u64 + 1
    }

    /// The channel's view was read within [`RECHECK`]: ticks are feeding it.
    fn is_fresh(&self, channel: &Channel) -> bool {
        let at = channel.refreshed_ms.load(Ordering::Relaxed);
        at != 0 && self.now_ms().saturating_sub(at) < RECHECK.as_millis() as u64
    }
}

/// Where `place` stands by `view`, when the view can tell: waiting (its position), given up,
/// or still in line when the queue closed. `None`: ask Redis.
pub fn read(view: &LineView, place: &Place) -> Option<Answer> {
    if let Some(closure) = view.sale.closed {
        return view
            .position(place.ticket_id)
            .map(|_| Answer::Closed(closure));
    }
    // The view is fresh from the tick: nobody nearer the front than the head can be admitted
    // before the next one, so no margin is kept (a poll's view keeps one: it lives longer).
    match view.standing(place.ticket_id, 0)? {
        Standing::Waiting { position, pace } => Some(Answer::Waiting {
            position,
            estimated_wait_secs: pace.estimated_wait_secs(position),
            poll_after_ms: pace.poll_after_ms(position, place.ticket_id),
            paused: pace.paused,
            waiting_for_seats: pace.waiting_for_seats,
        }),
        Standing::Expired => Some(Answer::Expired),
        _ => None,
    }
}

/// The event id of a status: a hash of what it says (an active session's access token aside,
/// which is signed anew on every read), the same on every instance, so a reconnect's
/// `Last-Event-ID` says which status the client has.
pub fn fingerprint(answer: &Answer) -> String {
    let said = match answer {
        Answer::Active { expires_at_ms, .. } => format!("ACTIVE {expires_at_ms}"),
        other => format!("{other:?}"),
    };
    let digest = Sha256::digest(said.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The status stream is over after these: nothing changes any more.
pub fn is_final(answer: &Answer) -> bool {
    matches!(answer, Answer::Expired | Answer::Closed(_))
}

/// What a stream reads its status from: the gateway's state (the waiting room and the live
/// views); a trait so this module needs nothing above it.
pub trait Source: Send + Sync + 'static {
    /// The live views of this gateway.
    fn live(&self) -> &Live;
    /// Where `place` stands now, read the status poll's way.
    fn status(&self, place: &Place) -> impl std::future::Future<Output = Result<Status>> + Send;
    /// The place a queue token names, if this gateway sealed it.
    fn open_queue_token(&self, token: &str) -> Option<Place>;
}

/// One stream's status, followed: the first status, then each change, until a final one.
pub struct Follow<S> {
    state: S,
    place: Place,
    sub: Subscription,
    /// The next event, when one is due (the first status; a `WAITING` held back by
    /// [`MIN_WAITING_GAP`]).
    due: Option<Status>,
    /// The id of the last status sent (or the client's `Last-Event-ID`).
    sent: Option<String>,
    /// When the last `WAITING` went out, the gap before the next, and its flags (paused,
    /// waiting for seats): a change of those is not held back.
    waiting_sent: Option<(Instant, Duration, (bool, bool))>,
    /// When the held-back `WAITING` in [`Self::due`] may go out.
    hold_until: Option<Instant>,
    /// The last `WAITING` sent, to skip an unchanged one without hashing it.
    sent_waiting: Option<Answer>,
    /// When the newest view arrived.
    view_at: Instant,
    /// The last answer came from a view, as a place in line: when the view no longer has the
    /// place, it may have been admitted, and Redis is asked at once.
    in_line: bool,
    sale: Option<Sale>,
    asked_at: Instant,
    over: bool,
}

impl<S: Source> Follow<S> {
    /// Follows `place` from `first` (just read the status poll's way); `last_event_id` is the
    /// client's, when it reconnects: the first status is not sent again if it is the one
    /// that id names.
    pub fn new(state: S, place: Place, first: Status, last_event_id: Option<&str>) -> Self {
        let sub = state.live().subscribe(place.concert_id);
        let in_line = matches!(first.answer, Answer::Waiting { .. });
        let mut follow = Self {
            state,
            place,
            sub,
            due: None,
            sent: last_event_id.map(str::to_owned),
            waiting_sent: None,
            hold_until: None,
            sent_waiting: None,
            view_at: Instant::now(),
            in_line,
            sale: None,
            asked_at: Instant::now(),
            over: false,
        };
        follow.offer(first);
        follow
    }

    /// The next status to send and its id; `None` once a final status was sent.
    pub async fn next(&mut self) -> Option<(Status, String)> {
        loop {
            if self.over {
                return None;
            }
            if let Some(status) = self.due.take() {
                if let Some(event) = self.release(status) {
                    return Some(event);
                }
            }
            let held_until = self.held_until();
            let recheck_at = self.asked_at + RECHECK;
            tokio::select! {
                _ = self.state.live().closing.cancelled() => return None,
                changed = self.sub.views.changed() => {
                    if changed.is_err() {
                        // The sender lives as long as the subscription holds its channel.
                        self.over = true;
                        continue;
                    }
                    let view = self.sub.views.borrow_and_update().clone();
                    if let Some(view) = view {
                        self.on_view(&view).await;
                    }
                }
                _ = tokio::time::sleep_until(held_until.unwrap_or(recheck_at).into()) => {
                    if held_until.is_none() {
                        self.on_quiet().await;
                    }
                }
            }
        }
    }

    /// A new view of the line (after a tick).
    async fn on_view(&mut self, view: &LineView) {
        self.view_at = Instant::now();
        // The first view counts as a move: the status it follows was read before it.
        let sale_moved = self.sale != Some(view.sale);
        self.sale = Some(view.sale);
        match read(view, &self.place) {
            Some(answer) => {
                self.in_line = matches!(answer, Answer::Waiting { .. });
                self.offer(Status {
                    answer,
                    queue_token: None,
                });
            }
            None if self.in_line || sale_moved || self.asked_at.elapsed() >= RECHECK => {
                self.ask().await
            }
            None => {}
        }
    }

    /// No view for [`RECHECK`]: from the newest view if ticks still read one (a line that
    /// does not move), else asked (no scheduler here, or a session to check on).
    async fn on_quiet(&mut self) {
        let view = self.sub.views.borrow().clone();
        let answer = view
            .filter(|_| self.state.live().is_fresh(&self.sub.channel))
            .and_then(|view| read(&view, &self.place));
        match answer {
            Some(answer) => {
                self.asked_at = Instant::now();
                self.offer(Status {
                    answer,
                    queue_token: None,
                });
            }
            None => self.ask().await,
        }
    }

    /// The status poll's path: the shared view when it can tell, else Redis (batched with
    /// the polls of the concert). Errors keep the stream open: the next ask may succeed.
    async fn ask(&mut self) {
        self.asked_at = Instant::now();
        metrics::counter!("gateway_event_stream_reads_total").increment(1);
        // Boxed: the status read is a large future, and every stream's would otherwise hold
        // room for it while it waits (most of the time).
        match Box::pin(self.state.status(&self.place)).await {
            Ok(status) => {
                // A pre-queue entry drawn into the line is that place from now on.
                if let Some(place) = status
                    .queue_token
                    .as_deref()
                    .and_then(|t| self.state.open_queue_token(t))
                {
                    self.place = place;
                }
                self.in_line = false;
                self.offer(status);
            }
            Err(e) => tracing::debug!(error = %e, "event stream: status not read"),
        }
    }

    /// Queues `status` to be sent if it differs from the last sent (the newest wins).
    fn offer(&mut self, status: Status) {
        let keeps_token = self.due.as_ref().and_then(|d| d.queue_token.clone());
        self.due = Some(Status {
            queue_token: status.queue_token.or(keeps_token),
            answer: status.answer,
        });
    }

    /// `status` as an event now; `None` when it says nothing new, or (held back in
    /// [`Self::due`]) when it is a `WAITING` before its time: within the gap after the last
    /// (unless paused or waiting for seats changed), or before its moment of the spread.
    fn release(&mut self, status: Status) -> Option<(Status, String)> {
        // Checked before any hashing: most views reach most streams inside their gap.
        if let Answer::Waiting {
            paused,
            waiting_for_seats,
            ..
        } = status.answer
        {
            if self.sent_waiting.as_ref() == Some(&status.answer) {
                return None;
            }
            if let Some((at, gap, sent_flags)) = self.waiting_sent {
                let same_flags = sent_flags == (paused, waiting_for_seats);
                let spread = if same_flags {
                    WAITING_SPREAD
                } else {
                    PAUSE_SPREAD
                };
                let moment = self.view_at
                    + Duration::from_millis(self.place.ticket_id.get() % spread.as_millis() as u64);
                // Once held, the moment stays: newer views (every tick) do not push it on.
                let not_before = if same_flags {
                    self.hold_until.unwrap_or(moment.max(at + gap))
                } else {
                    self.hold_until.map_or(moment, |h| h.min(moment))
                };
                if Instant::now() < not_before {
                    self.hold_until = Some(not_before);
                    self.due = Some(status);
                    return None;
                }
            }
        }
        self.hold_until = None;
        let id = fingerprint(&status.answer);
        if self.sent.as_deref() == Some(&id) && status.queue_token.is_none() {
            return None;
        }
        if let Answer::Waiting {
            poll_after_ms,
            paused,
            waiting_for_seats,
            ..
        } = status.answer
        {
            let gap = Duration::from_millis(poll_after_ms / 2).max(MIN_WAITING_GAP);
            self.waiting_sent = Some((Instant::now(), gap, (paused, waiting_for_seats)));
            self.sent_waiting = Some(status.answer.clone());
        }
        self.over = is_final(&status.answer);
        self.sent = Some(id.clone());
        Some((status, id))
    }

    /// When a held-back `WAITING` may go out.
    fn held_until(&self) -> Option<Instant> {
        self.due.as_ref().and(self.hold_until)
    }
}

#[cfg(test)]
mod tests {
    use shared::ids::{TicketId, UserId};

    use super::*;
    use crate::queue::Closure;

    fn place(ticket: u64) -> Place {
        Place {
            concert_id: ConcertId::new(1).unwrap(),
            ticket_id: TicketId::new(ticket),
            user_id: UserId::parse("ann").unwrap(),
        }
    }

    /// Sequences 1..=10 handed out, 1..=4 admitted, 7 given up: 5 (head), 6, 8, 9, 10.
    fn view(closed: Option<Closure>) -> LineView {
        let mut cfg = ["2", "100", "0", "", "10", "0", "0", "0", "", "", "", "", ""]
            .map(|f| (!f.is_empty()).then(|| f.to_owned()))
            .to_vec();
        cfg[8] = closed.map(|c| match c {
            Closure::SoldOut => "SOLD_OUT".to_owned(),
            Closure::Closed => "CLOSED".to_owned(),
        });
        LineView::from_reads((cfg, vec!["a".into(), "5".into()], 5, vec![7]))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_fresh_view_answers_for_every_place_in_line_even_at_the_front() {
        let v = view(None);
        assert!(matches!(
            read(&v, &place(5)),
            Some(Answer::Waiting { position: 1, .. })
        ));
        assert!(matches!(
            read(&v, &place(8)),
            Some(Answer::Waiting { position: 3, .. })
        ));
        assert_eq!(read(&v, &place(7)), Some(Answer::Expired), "given up");
        assert_eq!(
            read(&v, &place(4)),
            None,
            "below the head: admitted or gone, ask"
        );
        assert_eq!(read(&v, &place(11)), None, "joined after the read: ask");
    }

    #[test]
    fn places_in_line_when_the_queue_closed_are_told_so_and_the_rest_ask() {
        let v = view(Some(Closure::SoldOut));
        assert_eq!(read(&v, &place(6)), Some(Answer::Closed(Closure::SoldOut)));
        assert_eq!(read(&v, &place(3)), None, "may hold a session: ask");
    }

    #[test]
    fn ids_name_what_a_status_says_not_its_freshly_signed_token() {
        let active = |token: &str, expires_at_ms| Answer::Active {
            access_token: token.into(),
            expires_at_ms,
        };
        assert_eq!(fingerprint(&active("a", 10)), fingerprint(&active("b", 10)));
        assert_ne!(fingerprint(&active("a", 10)), fingerprint(&active("a", 11)));
        assert_ne!(
            fingerprint(&Answer::Expired),
            fingerprint(&Answer::Closed(Closure::Closed))
        );
        assert_eq!(fingerprint(&Answer::Expired).len(), 16);
    }
}
