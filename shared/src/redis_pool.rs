//! Redis connections: a few multiplexed connections shared by every request. Concurrent
//! commands share a socket and are pipelined on it, which costs far fewer system calls than
//! a connection per request (measured in `docs/BENCHMARKS.md`). Each connection is a
//! `ConnectionManager`, which reconnects by itself after Redis restarts; while Redis is
//! unreachable, calls fail fast and handlers answer 503.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig},
    RedisResult,
};
use tokio::sync::OnceCell;

use crate::config::RedisSettings;

/// One multiplexed connection; cheap to clone, commands from clones share its socket.
pub type Connection = ConnectionManager;

/// A fixed set of lazily opened multiplexed connections, handed out round robin.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    config: ConnectionManagerConfig,
    slots: Vec<OnceCell<ConnectionManager>>,
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
        let result = slot
            .get_or_try_init(|| {
                ConnectionManager::new_with_config(
                    self.inner.client.clone(),
                    self.inner.config.clone(),
                )
            })
            .await;
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
    let client = redis::Client::open(settings.url.as_str())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_response_timeout(Duration::from_secs(2))
        .set_number_of_retries(1);
    Ok(Pool {
        inner: Arc::new(Inner {
            client,
            config,
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
/// loading, out of memory, busy with a script, refusing writes) rather than a bug (500: a
/// wrong reply type, a script error).
pub fn is_transient(e: &redis::RedisError) -> bool {
    use redis::ErrorKind::*;
    match e.kind() {
        ResponseError | TypeError | ClientError => false,
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
