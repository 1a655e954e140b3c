//! Api integration tests against real Postgres (`#[sqlx::test]`: a database per test) and
//! real Redis (a key prefix per test).

mod admin;
mod booking;
mod guards;
mod helpers;
mod identity;
mod money;
mod openapi;
mod recovery;
mod sale;
mod system;
