//! Gateway integration tests against real Redis (`REDIS_URL`), each in its own key prefix.

mod admission;
mod events;
mod helpers;
mod identity;
mod openapi;
mod queue;
mod recovery;
mod sale;
mod system;
mod tokens;
