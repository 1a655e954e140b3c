//! The use cases: each function is one thing a client asks for, told as the steps it takes
//! through the store. Handlers call exactly one of them.
//!
//! - [`concerts`]: schedules with their free seats, seat maps, creating and closing a concert.
//! - [`reservations`]: hold seats, read and release one's own reservation.
//! - [`checkout`]: pay a held reservation, from the session check to the confirmation.
//! - [`wallet`]: the balance and charging it.
//! - [`tickets`]: the caller's tickets.
//! - [`sales`]: a concert's sale in figures (the console), and counting holds created.
//!
//! [`sessions`] is a step the booking ones share: a session Redis lost comes back.

pub mod checkout;
pub mod concerts;
pub mod reservations;
pub mod sales;
pub mod sessions;
pub mod tickets;
pub mod wallet;
