//! Booking: schedules, seats, holds, balance and payments. Postgres is the source of truth;
//! Redis holds seats and sessions.
//!
//! - [`config`]: `Settings::from_env`, every variable and its default.
//! - [`startup`]: connects, migrates, builds the state and router, runs the server.
//! - [`error`]: the error type every handler returns, written as problem+json.
//! - [`auth`]: the access-token extractor and the booking-session rules.
//! - [`routes`]: the HTTP adapter: concerts, reservations, payments, balance, admin.
//! - [`domain`]: validated request types and pure rules.
//! - [`store`]: the SQL and the Redis scripts (Lua in `store/holds/`).

pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod routes;
pub mod startup;
pub mod store;
