//! The SQL and Redis I/O, one module per kind of data. Functions take the pools and keys they
//! use and return typed values; what an outcome means to a client is decided above.
//!
//! - [`catalog`]: concerts, schedules and seats (SQL; an in-memory copy of seat rows), and
//!   their queues in Redis.
//! - [`holds`]: seat holds and held reservations in Redis (Lua in `store/holds/`).
//! - [`wallet`]: balances and charges (SQL).
//! - [`payments`]: the sale statement and confirmed reservations (SQL, fenced by
//!   `tickets_schedule_seat_key`).
//! - [`idempotency`]: stored responses per `Idempotency-Key` (SQL, advisory locks).
//! - [`sales`]: a concert's sale in figures for the console (SQL, and Redis's holds).

use std::time::Duration;

pub mod catalog;
pub mod holds;
pub mod idempotency;
pub mod payments;
pub mod sales;
pub mod wallet;

/// How long a request waits for a Postgres connection before it is a 503 (the pool's acquire
/// timeout); a payment's claim outlasts it (see `services/checkout.rs`).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
