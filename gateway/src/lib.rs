//! The waiting room: per-concert Redis queues, the admission scheduler, access tokens.
//!
//! - [`config`]: the settings, from the command line or the environment (`gateway --help`).
//! - [`startup`]: builds the state and router, runs the server and the scheduler.
//! - [`state`]: `AppState`, what every handler shares.
//! - [`error`]: every problem code, and the error type every handler returns.
//! - [`routes`]: the HTTP adapter: every API route with its OpenAPI description.
//! - [`waiting_room`]: the use cases: join, status, leave, stats, settings (the steps between
//!   a handler and the queue store).
//! - [`queue`]: the waiting line: what joins and polls answer and the pacing rules; its Redis
//!   store (Lua in `queue/`), the shared line views and the batching of joins and polls.
//! - [`queue_token`]: sealing and opening the opaque queue tokens.
//! - [`admission`]: the scheduler loop that admits N per tick (Lua in `admission/`).
//! - [`live`]: the line views the event streams follow, one read per concert per tick.
//! - [`rate_limit`]: the per-address join rate limit.
//! - [`web`]: the pages for people (waiting room, booking, `/docs`), outside the API document.

pub mod admission;
pub mod config;
pub mod error;
pub mod live;
pub mod queue;
pub mod queue_token;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod state;
pub mod waiting_room;
pub mod web;
