//! Balances and charges. A balance only changes inside SQL (`balance = balance + $n`),
//! never read into Rust and written back; every change has its ledger entry.

use shared::ids::UserId;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{domain::Amount, error::Result};

/// The balance of `user`; 0 for a user who never charged.
pub async fn find_balance(db: &PgPool, user: &UserId) -> Result<i64> {
    let balance: Option<i64> = sqlx::query_scalar("SELECT balance FROM wallets WHERE user_id = $1")
        .bind(user.as_str())
        .fetch_optional(db)
        .await?;
    Ok(balance.unwrap_or(0))
}

/// Adds `amount` to the wallet of `user` (creating it) with its ledger entry: the new
/// balance, or `None` when it would exceed the largest a balance can be (nothing written).
pub async fn credit_wallet(
    conn: &mut PgConnection,
    user: &UserId,
    amount: Amount,
) -> Result<Option<i64>> {
    let credited = sqlx::query_scalar(
        "WITH credit AS (
             INSERT INTO wallets (user_id, balance) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET balance = wallets.balance + EXCLUDED.balance, updated_at = now()
             RETURNING balance
         ), entry AS (
             INSERT INTO ledger (user_id, kind, amount, charge_id) VALUES ($1, 'CHARGE', $2, $3)
         )
         SELECT balance FROM credit",
    )
    .bind(user.as_str())
    .bind(amount.get())
    .bind(Uuid::now_v7())
    .fetch_one(conn)
    .await;
    match credited {
        Ok(balance) => Ok(Some(balance)),
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("22003") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Creates the wallet of `user` if it has none (a free payment needs one to debit).
pub async fn ensure_wallet(conn: &mut PgConnection, user: &UserId) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO wallets (user_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(user.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
