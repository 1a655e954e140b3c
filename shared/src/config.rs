//! Environment parsing and the settings pieces both binaries share.

use std::{fmt, str::FromStr};

/// A setting that could not be read from the environment.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    pub name: String,
    pub message: String,
}

/// Reads `name` from the environment; an unset or empty variable gives `None`.
pub fn env_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads and parses `name`, or returns `default` when it is unset.
pub fn env_parse<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    match env_opt(name) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError {
            name: name.to_owned(),
            message: format!("cannot parse {raw:?}: {e}"),
        }),
    }
}

/// Like [`env_parse`], and the value must lie in `min..=max`.
pub fn env_ranged<T>(name: &str, default: T, min: T, max: T) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + fmt::Display + Copy,
    T::Err: fmt::Display,
{
    let value = env_parse(name, default)?;
    if value < min || value > max {
        return Err(ConfigError {
            name: name.to_owned(),
            message: format!("{value} is outside {min}..={max}"),
        });
    }
    Ok(value)
}

/// A secret string that never shows in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where Redis is and which part of its keyspace is ours.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `REDIS_URL`, default `redis://127.0.0.1:6379`.
    pub url: String,
    /// `REDIS_PREFIX`, default `tix:`.
    pub prefix: String,
    /// `REDIS_POOL_SIZE`, default 2: multiplexed connections per process (in the gateway, per
    /// server thread; fewer, fuller pipelines measured faster than more: 1 / 2 / 4 / 8 gave
    /// 24.9k / 24.1k / 22.7k / 21.8k joins/s).
    pub pool_size: usize,
}

impl RedisSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            url: env_opt("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            prefix: env_opt("REDIS_PREFIX").unwrap_or_else(|| "tix:".into()),
            pool_size: env_ranged("REDIS_POOL_SIZE", 2, 1, 64)?,
        })
    }
}

/// The queue settings a newly opened concert starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueSettings {
    /// `ADMIT_PER_TICK`, default 50.
    pub admit_per_tick: u32,
    /// `TICK_MILLIS`, default 1000.
    pub tick_millis: u32,
    /// `MAX_ACTIVE`, default 1000.
    pub max_active: u32,
    /// `SESSION_TTL_SECONDS`, default 600.
    pub session_ttl_seconds: u32,
    /// Paused queues admit nobody; a new queue is open.
    pub paused: bool,
}

impl QueueSettings {
    /// Bounds every source of queue settings (environment and admin endpoint) shares.
    pub const ADMIT_PER_TICK: (u32, u32) = (1, 100_000);
    pub const TICK_MILLIS: (u32, u32) = (10, 60_000);
    pub const MAX_ACTIVE: (u32, u32) = (1, 10_000_000);
    pub const SESSION_TTL_SECONDS: (u32, u32) = (1, 86_400);

    pub fn from_env() -> Result<Self, ConfigError> {
        let (a, b) = Self::ADMIT_PER_TICK;
        let admit_per_tick = env_ranged("ADMIT_PER_TICK", 50, a, b)?;
        let (a, b) = Self::TICK_MILLIS;
        let tick_millis = env_ranged("TICK_MILLIS", 1000, a, b)?;
        let (a, b) = Self::MAX_ACTIVE;
        let max_active = env_ranged("MAX_ACTIVE", 1000, a, b)?;
        let (a, b) = Self::SESSION_TTL_SECONDS;
        let session_ttl_seconds = env_ranged("SESSION_TTL_SECONDS", 600, a, b)?;
        Ok(Self {
            admit_per_tick,
            tick_millis,
            max_active,
            session_ttl_seconds,
            paused: false,
        })
    }

    /// Checks every field against its bounds; the message names the first field out of range.
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            ("admitPerTick", self.admit_per_tick, Self::ADMIT_PER_TICK),
            ("tickMillis", self.tick_millis, Self::TICK_MILLIS),
            ("maxActive", self.max_active, Self::MAX_ACTIVE),
            (
                "sessionTtlSeconds",
                self.session_ttl_seconds,
                Self::SESSION_TTL_SECONDS,
            ),
        ];
        for (name, value, (min, max)) in checks {
            if value < min || value > max {
                return Err(format!(
                    "{name} must be between {min} and {max}, got {value}"
                ));
            }
        }
        Ok(())
    }
}

/// How both binaries log: `RUST_LOG` filter and `LOG_FORMAT` (`json` or pretty).
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub filter: String,
    pub json: bool,
}

impl LogSettings {
    pub fn from_env(default_filter: &str) -> Self {
        Self {
            filter: env_opt("RUST_LOG").unwrap_or_else(|| default_filter.into()),
            json: env_opt("LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")),
        }
    }
}

/// Bounds on every HTTP request, shared by both binaries.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// `REQUEST_TIMEOUT_MS`, default 10000.
    pub request_timeout_ms: u64,
    /// `MAX_BODY_BYTES`, default 16384.
    pub max_body_bytes: usize,
    /// `MAX_IN_FLIGHT`, default 4096: requests past this are shed with 503.
    pub max_in_flight: usize,
}

impl HttpLimits {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            request_timeout_ms: env_ranged("REQUEST_TIMEOUT_MS", 10_000, 1, 600_000)?,
            max_body_bytes: env_ranged("MAX_BODY_BYTES", 16 * 1024, 64, 16 * 1024 * 1024)?,
            max_in_flight: env_ranged("MAX_IN_FLIGHT", 4096, 1, 1_000_000)?,
        })
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            request_timeout_ms: 10_000,
            max_body_bytes: 16 * 1024,
            max_in_flight: 4096,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_settings_validation_names_the_field() {
        let mut s = QueueSettings {
            admit_per_tick: 1,
            tick_millis: 100,
            max_active: 10,
            session_ttl_seconds: 60,
            paused: false,
        };
        assert!(s.validate().is_ok());
        s.tick_millis = 1;
        assert!(s.validate().unwrap_err().contains("tickMillis"));
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
