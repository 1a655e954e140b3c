//! The caller's tickets (account).

use crate::{
    auth::AccountCaller,
    error::Result,
    state::AppState,
    store::payments::{self, OwnedTicket},
};

/// Every ticket the caller bought, newest first.
pub async fn list(state: &AppState, caller: &AccountCaller) -> Result<Vec<OwnedTicket>> {
    payments::find_tickets(&state.db, caller.user()).await
}
