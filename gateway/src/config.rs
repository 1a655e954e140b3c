//! Gateway settings from the environment.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use shared::{
    config::{env_opt, env_parse, env_ranged, HttpLimits, LogSettings, RedisSettings, Secret},
    token::{dev_key_pair, PublicKey, SigningKey},
};

/// Everything the gateway reads from the environment.
///
/// | variable | default |
/// | --- | --- |
/// | `GATEWAY_ADDR` | `127.0.0.1:8080` |
/// | `GATEWAY_THREADS` | the number of CPUs: servers (threads) sharing the port, see `startup.rs` |
/// | `REDIS_URL`, `REDIS_PREFIX`, `REDIS_POOL_SIZE` | see [`RedisSettings`] |
/// | `ADMIN_TOKEN` | `dev-admin-token` (a warning is logged) |
/// | `JWT_SIGNING_KEY` | PEM path of the Ed25519 key; else the development pair in `KEYS_DIR` |
/// | `JWT_PUBLIC_KEYS` | comma-separated PEM paths of further public keys to publish (rotation) |
/// | `QUEUE_TOKEN_SECRET` | derived from the signing key: the queue tokens' HMAC secret (32+ bytes; set it so a signing-key rotation keeps waiting users' tokens valid) |
/// | `KEYS_DIR` | `.data/keys` |
/// | `JOIN_RATE_PER_SECOND` | `0` (off): joins per second per client address |
/// | `API_PUBLIC_URL` | `http://<API_ADDR>`: where the pages find the api |
/// | `SCHEDULER` | `on`; `off` runs no admission loop in this instance |
/// | `STATUS_VIEW_MS` | `100`: how long a concert's line view answers status polls (`0`: every poll reads Redis) |
/// | `REQUEST_TIMEOUT_MS`, `MAX_BODY_BYTES`, `MAX_IN_FLIGHT` | see [`HttpLimits`] |
/// | `RUST_LOG`, `LOG_FORMAT` | `info`, pretty |
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    /// Servers on `addr`, one thread and one single-threaded runtime each.
    pub threads: usize,
    pub redis: RedisSettings,
    pub admin_token: Secret,
    pub signing_key: SigningKey,
    pub extra_public_keys: Vec<PublicKey>,
    /// The key that seals queue tokens (see `queue_token.rs`).
    pub queue_token_key: [u8; 32],
    pub join_rate_per_second: u32,
    pub api_public_url: String,
    pub scheduler: bool,
    /// How long a line view answers status polls (see `queue/view.rs`); zero: never.
    pub status_view: Duration,
    pub http: HttpLimits,
    pub log: LogSettings,
}

/// The admin token used when `ADMIN_TOKEN` is unset (development only).
pub const DEV_ADMIN_TOKEN: &str = "dev-admin-token";

impl Settings {
    /// Logs the start-up warnings these settings call for (once per gateway).
    pub fn warn_if_unsafe(&self) {
        if self.admin_token.expose() == DEV_ADMIN_TOKEN {
            tracing::warn!("ADMIN_TOKEN is unset: using the development admin token");
        }
    }

    pub fn from_env() -> anyhow::Result<Self> {
        let addr: SocketAddr = env_parse("GATEWAY_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?;
        let api_addr = env_opt("API_ADDR").unwrap_or_else(|| "127.0.0.1:8081".into());
        let keys_dir = PathBuf::from(env_opt("KEYS_DIR").unwrap_or_else(|| ".data/keys".into()));
        let signing_key = match env_opt("JWT_SIGNING_KEY") {
            Some(path) => SigningKey::from_pem_file(path.as_ref()).context("JWT_SIGNING_KEY")?,
            None => dev_key_pair(&keys_dir).context("development signing key")?,
        };
        let extra_public_keys = env_opt("JWT_PUBLIC_KEYS")
            .map(|paths| {
                paths
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| PublicKey::from_pem_file(p.as_ref()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .context("JWT_PUBLIC_KEYS")?
            .unwrap_or_default();
        Ok(Self {
            addr,
            threads: env_ranged("GATEWAY_THREADS", default_threads(), 1, 256)?,
            redis: RedisSettings::from_env()?,
            admin_token: Secret::new(
                env_opt("ADMIN_TOKEN").unwrap_or_else(|| DEV_ADMIN_TOKEN.into()),
            ),
            queue_token_key: match env_opt("QUEUE_TOKEN_SECRET") {
                Some(secret) if secret.len() >= 32 => queue_token_key(&secret),
                Some(_) => anyhow::bail!("QUEUE_TOKEN_SECRET must be at least 32 bytes"),
                None => signing_key.derive_secret("queue-token"),
            },
            signing_key,
            extra_public_keys,
            join_rate_per_second: env_ranged("JOIN_RATE_PER_SECOND", 0, 0, 1_000_000)?,
            api_public_url: env_opt("API_PUBLIC_URL")
                .unwrap_or_else(|| format!("http://{api_addr}")),
            scheduler: env_opt("SCHEDULER").is_none_or(|v| v != "off" && v != "0" && v != "false"),
            status_view: Duration::from_millis(env_ranged("STATUS_VIEW_MS", 100, 0, 10_000)?),
            http: HttpLimits::from_env()?,
            log: LogSettings::from_env("info,gateway=info"),
        })
    }
}

/// The queue-token key of a configured secret (domain-separated like the derived one).
fn queue_token_key(secret: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"ticketing/queue-token/v1/");
    h.update(secret.as_bytes());
    h.finalize().into()
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
