//! Redis connections: a few multiplexed connections shared by every request. Concurrent
//! commands share a socket and are pipelined on it, which costs far fewer system calls than
//! a connection per request (measured in `docs/BENCHMARKS.md`).
//!
//! Two shapes behind one [`Connection`]: a single Redis (`REDIS_URL`), where each connection is
//! a `ConnectionManager` that reconnects by itself after Redis restarts; or a Redis Cluster
//! (`REDIS_CLUSTER_URLS`), where each connection is redis-rs's cluster connection, which keeps
//! one multiplexed connection per node, routes each command, script and pipeline to the node
//! of its slot, follows `MOVED`/`ASK` and re-reads the topology after a failover. Every key of
//! a concert carries its hash tag (`shared::keys`), so a concert's scripts and pipelines stay
//! in one slot; the few keys outside a concert are only ever used alone. While Redis (or a
//! shard) is unreachable, calls fail fast and handlers answer 503.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use redis::{
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
    Cmd, Pipeline, RedisFuture, RedisResult, Value,
};
use tokio::sync::OnceCell;

use crate::config::RedisSettings;

/// One multiplexed connection to a single Redis or to a cluster; cheap to clone, commands
/// from clones share its sockets.
#[derive(Clone)]
pub enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// A fixed set of lazily opened multiplexed connections, handed out round robin.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

enum Client {
    Single(redis::Client, ConnectionManagerConfig),
    Cluster(ClusterClient),
}

impl Client {
    async fn connect(&self) -> RedisResult<Connection> {
        match self {
            Client::Single(client, config) => {
                ConnectionManager::new_with_config(client.clone(), config.clone())
                    .await
                    .map(Connection::Single)
            }
            Client::Cluster(client) => client.get_async_connection().await.map(Connection::Cluster),
        }
    }
}

struct Inner {
    client: Client,
    slots: Vec<OnceCell<Connection>>,
    next: AtomicUsize,
    last_failure: Mutex<Option<Instant>>,
}

/// After a failed connect, calls fail at once for this long instead of queueing on retries.
const FAIL_FAST: Duration = Duration::from_millis(500);

impl Pool {
    /// A connection; opens it on first use. Fails fast while Redis is unreachable.
    pub async fn get(&self) -> RedisResult<Connection> {
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.slots.len();
        let slot = &self.inner.slots[i];
        if let Some(conn) = slot.get() {
            return Ok(conn.clone());
        }
        let recently_failed = self
            .inner
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() < FAIL_FAST);
        if recently_failed {
            return Err(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "Redis is unreachable",
            )));
        }
        let result = slot.get_or_try_init(|| self.inner.client.connect()).await;
        match result {
            Ok(conn) => Ok(conn.clone()),
            Err(e) => {
                *self
                    .inner
                    .last_failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                Err(e)
            }
        }
    }
}

/// Builds the pool; connections open lazily, so this succeeds while Redis is down.
pub fn create_pool(settings: &RedisSettings) -> anyhow::Result<Pool> {
    let seeds: Vec<&str> = settings
        .cluster_urls
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    let client = if seeds.is_empty() {
        let client = redis::Client::open(settings.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(1);
        Client::Single(client, config)
    } else {
        // A failover takes the cluster's node timeout plus an election (a few seconds): a
        // request retries briefly (redirects and a topology refresh) and then fails with a
        // 503 and `Retry-After` rather than waiting it out past the request timeout.
        let client = ClusterClient::builder(seeds)
            .connection_timeout(Duration::from_secs(1))
            .response_timeout(Duration::from_secs(2))
            .retries(3)
            .min_retry_wait(50)
            .max_retry_wait(400)
            .build()?;
        Client::Cluster(client)
    };
    Ok(Pool {
        inner: Arc::new(Inner {
            client,
            slots: (0..settings.pool_size.max(1))
                .map(|_| OnceCell::new())
                .collect(),
            next: AtomicUsize::new(0),
            last_failure: Mutex::new(None),
        }),
    })
}

/// True when Redis answers PING within a second.
pub async fn is_ready(pool: &Pool) -> bool {
    let probe = async {
        let mut conn = pool.get().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), probe).await,
        Ok(Some(_))
    )
}

/// Whether a Redis error means "unavailable for now" (503: connection lost, timeout, Redis
/// loading, out of memory, busy with a script, refusing writes, a shard failing over) rather
/// than a bug (500: a wrong reply type, a script error, keys of two slots in one command).
pub fn is_transient(e: &redis::RedisError) -> bool {
    use redis::ErrorKind::*;
    match e.kind() {
        // A command across slots is a bug in the key layout, not an outage.
        ResponseError | TypeError | ClientError | CrossSlot => false,
        ExtensionError => matches!(
            e.code(),
            Some("OOM" | "BUSY" | "MISCONF" | "NOREPLICAS" | "MASTERDOWN")
        ),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::is_transient;
    use redis::{make_extension_error, ErrorKind, RedisError};

    #[test]
    fn overload_replies_are_transient_and_bugs_are_not() {
        for code in ["OOM", "BUSY", "MISCONF"] {
            assert!(
                is_transient(&make_extension_error(code.into(), None)),
                "{code}"
            );
        }
        assert!(!is_transient(&make_extension_error("ERR".into(), None)));
        assert!(!is_transient(&RedisError::from((
            ErrorKind::CrossSlot,
            "crossed slots"
        ))));
        assert!(is_transient(&RedisError::from((
            ErrorKind::ClusterDown,
            "failing over"
        ))));
        assert!(!is_transient(&RedisError::from((
            ErrorKind::TypeError,
            "wrong type"
        ))));
        assert!(is_transient(&RedisError::from((
            ErrorKind::IoError,
            "closed"
        ))));
        assert!(is_transient(&RedisError::from((
            ErrorKind::BusyLoadingError,
            "loading"
        ))));
    }
}
