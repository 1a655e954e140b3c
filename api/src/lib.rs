//! Booking: schedules, seats, holds, balance and payments. Postgres is the source of truth;
//! Redis holds seats and sessions.
//!
//! Imports point down the list of layers: routes → services → store → domain.
//!
//! - [`config`]: the settings, from the command line or the environment (`api --help`).
//! - [`startup`]: connects, migrates, builds the state and router, runs the server.
//! - [`state`]: `AppState`, what every handler shares.
//! - [`error`]: the problem codes and the error type every handler returns (problem+json).
//! - [`auth`]: the access-token extractor and the rule that a token books its own concert.
//! - [`routes`]: the HTTP adapter: concerts, reservations, payments, balance, admin, system.
//! - [`openapi`]: the OpenAPI document's fixed parts, problem codes per operation, limits.
//! - [`services`]: the use cases, each one's steps in order (`checkout` tells a payment).
//! - [`store`]: the SQL and the Redis scripts (Lua in `store/holds/`), typed results.
//! - [`domain`]: validated request types and pure rules.

pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod services;
pub mod startup;
pub mod state;
pub mod store;
