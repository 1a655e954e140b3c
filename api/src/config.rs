//! Api settings from the environment.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use shared::{
    config::{
        env_opt, env_parse, env_ranged, HttpLimits, LogSettings, QueueSettings, RedisSettings,
        Secret,
    },
    token::{dev_key_pair, PublicKey},
};

/// Everything the api reads from the environment.
///
/// | variable | default |
/// | --- | --- |
/// | `API_ADDR` | `127.0.0.1:8081` |
/// | `DATABASE_URL` | `postgres://postgres:postgres@127.0.0.1:5432/ticketing` |
/// | `DATABASE_POOL_SIZE` | 32 |
/// | `REDIS_URL`, `REDIS_PREFIX`, `REDIS_POOL_SIZE` | see [`RedisSettings`] |
/// | `JWT_PUBLIC_KEYS` | comma-separated PEM paths; else the development pair's public key in `KEYS_DIR` |
/// | `KEYS_DIR` | `.data/keys` |
/// | `ADMIN_TOKEN` | `dev-admin-token` |
/// | `HOLD_TTL_SECONDS` | 300 |
/// | `MAX_SEATS_PER_RESERVATION` | 4 |
/// | `MAX_CHARGE` | 10000000 (won per charge) |
/// | `ADMIT_PER_TICK`, `TICK_MILLIS`, `MAX_ACTIVE`, `SESSION_TTL_SECONDS` | queue defaults of new concerts, see [`QueueSettings`] |
/// | `CORS_ORIGINS` | comma-separated; default `http://<GATEWAY_ADDR>` and `http://localhost:<port>` |
/// | `REQUEST_TIMEOUT_MS`, `MAX_BODY_BYTES`, `MAX_IN_FLIGHT` | see [`HttpLimits`] |
/// | `RUST_LOG`, `LOG_FORMAT` | `info`, pretty |
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    pub database_url: Secret,
    pub database_pool_size: u32,
    pub redis: RedisSettings,
    pub public_keys: Vec<PublicKey>,
    pub admin_token: Secret,
    pub hold_ttl_seconds: u32,
    pub max_seats_per_reservation: usize,
    pub max_charge: i64,
    pub queue_defaults: QueueSettings,
    pub cors_origins: Vec<String>,
    pub http: HttpLimits,
    pub log: LogSettings,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let keys_dir = PathBuf::from(env_opt("KEYS_DIR").unwrap_or_else(|| ".data/keys".into()));
        let public_keys = match env_opt("JWT_PUBLIC_KEYS") {
            Some(paths) => paths
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| PublicKey::from_pem_file(p.as_ref()))
                .collect::<Result<Vec<_>, _>>()
                .context("JWT_PUBLIC_KEYS")?,
            None => vec![dev_key_pair(&keys_dir)
                .context("development key pair")?
                .public_key()
                .clone()],
        };
        anyhow::ensure!(!public_keys.is_empty(), "JWT_PUBLIC_KEYS names no key");
        let gateway_addr: SocketAddr =
            env_parse("GATEWAY_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?;
        let cors_origins = match env_opt("CORS_ORIGINS") {
            Some(list) => list
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            None => vec![
                format!("http://{gateway_addr}"),
                format!("http://localhost:{}", gateway_addr.port()),
            ],
        };
        Ok(Self {
            addr: env_parse("API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8081)))?,
            database_url: Secret::new(
                env_opt("DATABASE_URL").unwrap_or_else(|| {
                    "postgres://postgres:postgres@127.0.0.1:5432/ticketing".into()
                }),
            ),
            database_pool_size: env_ranged("DATABASE_POOL_SIZE", 32, 1, 1000)?,
            redis: RedisSettings::from_env()?,
            public_keys,
            admin_token: Secret::new(
                env_opt("ADMIN_TOKEN").unwrap_or_else(|| "dev-admin-token".into()),
            ),
            hold_ttl_seconds: env_ranged("HOLD_TTL_SECONDS", 300, 1, 86_400)?,
            max_seats_per_reservation: env_ranged("MAX_SEATS_PER_RESERVATION", 4, 1, 100)?,
            max_charge: env_ranged("MAX_CHARGE", 10_000_000, 1, 1_000_000_000_000)?,
            queue_defaults: QueueSettings::from_env()?,
            cors_origins,
            http: HttpLimits::from_env()?,
            log: LogSettings::from_env("info,api=info,sqlx=warn"),
        })
    }
}
