//! Validated request types and pure rules ("parse, don't validate").

mod amount;
mod idempotency;
pub mod reservation_id;
mod seat_selection;

pub use amount::Amount;
pub use idempotency::{IdempotencyKey, RequestHash};
pub use seat_selection::SeatSelection;
