//! The Redis connection pool, with short timeouts so an unreachable Redis answers 503 fast.

use std::time::Duration;

use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};

use crate::config::RedisSettings;

/// Builds the pool; connections are made lazily, so this succeeds while Redis is down.
pub fn create_pool(settings: &RedisSettings) -> anyhow::Result<Pool> {
    let mut cfg = Config::from_url(settings.url.clone());
    cfg.pool = Some(PoolConfig {
        max_size: settings.pool_size,
        timeouts: Timeouts {
            wait: Some(Duration::from_secs(2)),
            create: Some(Duration::from_secs(1)),
            recycle: Some(Duration::from_secs(1)),
        },
        ..PoolConfig::default()
    });
    Ok(cfg.create_pool(Some(Runtime::Tokio1))?)
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
