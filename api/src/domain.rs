//! Validated request types and pure rules ("parse, don't validate").
//!
//! - [`amount`]: a charge amount.
//! - [`concert`]: a new concert and its schedules, with the limits they keep.
//! - [`idempotency`]: the `Idempotency-Key`, the request hash, and a response stored for replay.
//! - [`reservation`]: a reservation's status, as Redis stores it and as clients see it.
//! - [`reservation_id`]: reservation ids that carry their concert.
//! - [`seat_selection`]: the seats of one hold.

pub mod amount;
pub mod concert;
pub mod idempotency;
pub mod reservation;
pub mod reservation_id;
pub mod seat_selection;

pub use amount::Amount;
pub use concert::{NewConcert, NewSchedule};
pub use idempotency::{IdempotencyKey, Prior, RequestHash, StoredResponse};
pub use reservation::{HoldState, ReservationStatus};
pub use seat_selection::SeatSelection;
