//! Coalescing of concurrent joins and status polls: requests of one concert that arrive while
//! an earlier batch is still in Redis go to Redis together, as one call (`join.lua` for joins,
//! one `MULTI`/`EXEC` of reads for polls). A request never waits for company: with nothing in
//! flight its batch is itself, so a quiet gateway answers as fast as before, and under load
//! Redis runs one call per batch instead of one per request (its fixed cost, the command
//! parsing and the socket writes are shared by the whole batch).
//!
//! One driver task per kind of call collects requests and runs one batch at a time (see
//! [`drive`]); whatever arrives meanwhile forms the next one.

use std::{future::Future, sync::Arc};

use shared::{
    ids::{ConcertId, TicketId, UserId},
    keys::Keys,
    redis_pool::Pool,
};
use tokio::sync::{mpsc, oneshot};

use super::{Joined, Standing};
use crate::error::{GatewayError, Result};

/// Requests per batch at most (a batch stays a short call for everyone else on Redis).
const MAX_BATCH: usize = 256;

/// A call that runs as one Redis round trip for many requests of one concert.
pub trait BatchCall: Send + Sync + 'static {
    type Input: Send + 'static;
    type Output: Send + 'static;

    /// Runs `inputs` (all of `concert_id`); one output per input, in the same order.
    fn run(
        redis: Pool,
        keys: Arc<Keys>,
        concert_id: ConcertId,
        inputs: Vec<Self::Input>,
    ) -> impl Future<Output = Result<Vec<Self::Output>>> + Send;
}

/// Joins: user id in, the place or session out.
pub struct JoinCall;

impl BatchCall for JoinCall {
    type Input = UserId;
    type Output = Joined;

    async fn run(
        redis: Pool,
        keys: Arc<Keys>,
        concert_id: ConcertId,
        users: Vec<UserId>,
    ) -> Result<Vec<Joined>> {
        let joined = super::store::join_batch(&redis, &keys, concert_id, &users).await?;
        let new = joined
            .iter()
            .filter(|j| matches!(j, Joined::Waiting { new: true, .. }))
            .count();
        if new > 0 {
            metrics::counter!("gateway_joins_total", "concert" => concert_id.to_string())
                .increment(new as u64);
        }
        Ok(joined)
    }
}

/// Status polls: (user id, ticket id) in, where the ticket stands out.
pub struct StatusCall;

impl BatchCall for StatusCall {
    type Input = (UserId, TicketId);
    type Output = Standing;

    async fn run(
        redis: Pool,
        keys: Arc<Keys>,
        concert_id: ConcertId,
        tickets: Vec<(UserId, TicketId)>,
    ) -> Result<Vec<Standing>> {
        super::store::status_batch(&redis, &keys, concert_id, &tickets).await
    }
}

struct Pending<C: BatchCall> {
    concert_id: ConcertId,
    input: C::Input,
    reply: oneshot::Sender<Result<C::Output>>,
}

/// The front of one kind of batched call.
pub struct Batcher<C: BatchCall> {
    tx: mpsc::UnboundedSender<Pending<C>>,
}

impl<C: BatchCall> Batcher<C> {
    /// Starts the driver task (on the current Tokio runtime); it ends when the batcher is
    /// dropped and the batch in flight has answered.
    pub fn start(redis: Pool, keys: Arc<Keys>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive::<C>(redis, keys, rx));
        Self { tx }
    }

    /// Runs `input` for `concert_id` in the next batch and waits for its answer.
    pub async fn call(&self, concert_id: ConcertId, input: C::Input) -> Result<C::Output> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending {
                concert_id,
                input,
                reply,
            })
            .map_err(|_| GatewayError::Unavailable("the queue batcher has stopped".into()))?;
        answer
            .await
            .map_err(|_| GatewayError::Unavailable("the queue batch was dropped".into()))?
    }
}

/// One batch in Redis at a time per kind of call: whatever arrives during its round trip
/// waits in the channel and leaves together as the next batch, so batches grow with the load
/// (two in flight made smaller batches, and cost Redis more per poll).
async fn drive<C: BatchCall>(
    redis: Pool,
    keys: Arc<Keys>,
    mut rx: mpsc::UnboundedReceiver<Pending<C>>,
) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        let batches = group_by_concert(buf.drain(..));
        join_all(
            batches
                .into_iter()
                .map(|batch| run_batch::<C>(&redis, &keys, batch)),
        )
        .await;
    }
}

/// Splits pending requests by concert, keeping arrival order within each concert.
fn group_by_concert<C: BatchCall>(
    pending: impl Iterator<Item = Pending<C>>,
) -> Vec<Vec<Pending<C>>> {
    let mut groups: Vec<Vec<Pending<C>>> = Vec::new();
    for p in pending {
        match groups.iter_mut().find(|g| g[0].concert_id == p.concert_id) {
            Some(g) => g.push(p),
            None => groups.push(vec![p]),
        }
    }
    groups
}

async fn run_batch<C: BatchCall>(redis: &Pool, keys: &Arc<Keys>, batch: Vec<Pending<C>>) {
    let Some(concert_id) = batch.first().map(|p| p.concert_id) else {
        return;
    };
    let (inputs, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.input, p.reply)).unzip();
    let n = inputs.len();
    match C::run(redis.clone(), keys.clone(), concert_id, inputs).await {
        Ok(outputs) if outputs.len() == n => {
            for (reply, output) in replies.into_iter().zip(outputs) {
                let _ = reply.send(Ok(output));
            }
        }
        Ok(outputs) => {
            tracing::error!(
                expected = n,
                got = outputs.len(),
                "queue batch answer count"
            );
            for reply in replies {
                let _ = reply.send(Err(GatewayError::Unexpected(anyhow::anyhow!(
                    "queue batch answered {} of {n}",
                    outputs.len()
                ))));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.replicate()));
            }
        }
    }
}

/// Polls every future to completion, concurrently (a drain rarely spans several concerts).
async fn join_all<F: Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set = Vec::from_iter(futures.map(Box::pin));
    std::future::poll_fn(|cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
