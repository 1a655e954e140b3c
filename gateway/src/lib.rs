//! The waiting room: per-concert Redis queues, the admission scheduler, access tokens.
//!
//! - [`config`]: `Settings::from_env`, every variable and its default.
//! - [`startup`]: builds the state and router, runs the server and the scheduler.
//! - [`error`]: the error type every handler returns, written as problem+json.
//! - [`routes`]: the HTTP adapter: queue, admin, JWKS, health and pages.
//! - [`queue`]: the queue store: join, status, leave, settings and stats (Lua in `queue/`).
//! - [`queue_token`]: sealing and opening the opaque queue tokens.
//! - [`admission`]: the scheduler loop that admits N per tick (Lua in `admission/`).
//! - [`rate_limit`]: the per-address join rate limit.
//! - [`web`]: the waiting-room and booking pages, embedded in the binary.

pub mod admission;
pub mod config;
pub mod error;
pub mod queue;
pub mod queue_token;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod web;
