//! The SQL and Redis I/O, one module per kind of data.
//!
//! - [`catalog`]: concerts, schedules and seats (SQL; an in-memory copy of seat rows).
//! - [`holds`]: seat holds and held reservations in Redis (Lua in `store/holds/`).
//! - [`wallet`]: balances and charges (SQL).
//! - [`payments`]: the payment transaction (SQL, fenced by `tickets_schedule_seat_key`).
//! - [`idempotency`]: stored responses per `Idempotency-Key` (SQL, advisory locks).

pub mod catalog;
pub mod holds;
pub mod idempotency;
pub mod payments;
pub mod wallet;
