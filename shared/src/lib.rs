//! The contract between the gateway and the api.
//!
//! - [`identity`]: identity tokens of the promoter's login (JWKS), and the development login.
//! - [`ids`]: user, concert and ticket ids, each validated once.
//! - [`session`]: the session rule (who may book), in Rust and in Lua.
//! - [`draw`]: the pre-queue draw: seed, commitment, entrant ids and the order anyone can check.
//! - [`keys`]: the Redis key layout (prefix, per-concert hash tags).
//! - [`queue_config`]: opening a concert's queue (the config hash both binaries use).
//! - [`token`]: access-token claims, the Ed25519 signer and the verifier both sides use.
//! - [`config`]: environment parsing and the settings pieces both binaries share.
//! - [`telemetry`]: tracing set-up and the Prometheus recorder.
//! - [`shutdown`]: the signal both binaries and their background loops stop on.
//! - [`per_core`]: one server per core on one port, as both binaries run.
//! - [`docs`]: `GET /docs`, the API reference (embedded Swagger UI) of either binary.
//! - [`http`]: problem+json errors, the JSON extractor, health, metrics and common layers.
//! - [`redis_pool`]: the Redis connection pool and readiness probe.

pub mod config;
pub mod docs;
pub mod draw;
pub mod http;
pub mod identity;
pub mod ids;
pub mod keys;
pub mod per_core;
pub mod queue_config;
pub mod redis_pool;
pub mod session;
pub mod shutdown;
pub mod telemetry;
pub mod token;
