//! Balances and charges. A balance only changes inside SQL (`balance = balance + $n`),
//! never read into Rust and written back; every change has its ledger entry. Reads are
//! answered from an in-memory copy while the balance's version in Redis says it has not
//! changed ([`Balances`]).

use std::time::{Duration, Instant};

use shared::{ids::UserId, keys::Keys, redis_pool::Pool};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{domain::Amount, error::Result};

/// The in-memory copy of balances. Postgres is the truth: a copy is used only while the
/// user's wallet version in Redis ([`Keys::wallet_version`], set to a new random value after
/// every change of the balance commits) is the one it was read under, and for at most
/// [`BALANCE_MAX_AGE`], which bounds the damage of a change whose new version was lost (Redis
/// down right after the commit, the api killed). So a fan who charged or paid reads the new
/// balance at once, on any instance: the version changed before the answer went out.
#[derive(Debug)]
pub struct Balances {
    copies: quick_cache::sync::Cache<UserId, BalanceCopy>,
}

#[derive(Debug, Clone, Copy)]
struct BalanceCopy {
    version: i64,
    read_at: Instant,
    balance: i64,
}

const BALANCE_MAX_AGE: Duration = Duration::from_secs(5);
const BALANCES_CAPACITY: usize = 100_000;
/// How long a wallet version lives after it was set: a day without a change or a first read
/// costs one read of Postgres.
const WALLET_VERSION_TTL_SECONDS: u64 = 24 * 3600;

impl Default for Balances {
    fn default() -> Self {
        Self {
            copies: quick_cache::sync::Cache::new(BALANCES_CAPACITY),
        }
    }
}

impl Balances {
    /// The balance of `user` (0 for a user who never charged): from memory when the wallet
    /// version in Redis is the copy's, else from Postgres. Without Redis, from Postgres.
    pub async fn balance(
        &self,
        db: &PgPool,
        redis: &Pool,
        keys: &Keys,
        user: &UserId,
    ) -> Result<i64> {
        let key = keys.wallet_version(user.as_str());
        let version = match wallet_version(redis, &key).await {
            Ok(Some(version)) => version,
            Ok(None) => match start_wallet_version(redis, &key).await {
                Ok(Some(version)) => version,
                // Another reader started it first, or Redis failed: nothing is kept.
                _ => return find_balance(db, user).await,
            },
            Err(e) => {
                tracing::debug!(error = %e, "no wallet version: reading the balance from Postgres");
                return find_balance(db, user).await;
            }
        };
        if let Some(copy) = self.copies.get(user) {
            if copy.version == version && copy.read_at.elapsed() < BALANCE_MAX_AGE {
                return Ok(copy.balance);
            }
        }
        // Read after the version: every change whose new version came before it is in the
        // result (a change commits before it sets the version), so the copy is never older
        // than its version.
        let read_at = Instant::now();
        let balance = find_balance(db, user).await?;
        self.copies.insert(
            user.clone(),
            BalanceCopy {
                version,
                read_at,
                balance,
            },
        );
        Ok(balance)
    }
}

async fn wallet_version(redis: &Pool, key: &str) -> Result<Option<i64>> {
    let mut conn = redis.get().await?;
    Ok(redis::cmd("GET").arg(key).query_async(&mut conn).await?)
}

/// A new random version, in [0, 2^62): no copy read under an earlier one can match it.
fn new_wallet_version() -> i64 {
    (Uuid::new_v4().as_u64_pair().0 >> 2) as i64
}

/// Starts a missing wallet version: the new version when this call set it, `None` when
/// another did first.
async fn start_wallet_version(redis: &Pool, key: &str) -> Result<Option<i64>> {
    let version = new_wallet_version();
    let mut conn = redis.get().await?;
    let set: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(version)
        .arg("NX")
        .arg("EX")
        .arg(WALLET_VERSION_TTL_SECONDS)
        .query_async(&mut conn)
        .await?;
    Ok(set.map(|_| version))
}

/// After a change of `user`'s balance committed (before answering): a new wallet version, so
/// that no instance uses a copy read before the change. Best effort: when Redis fails, copies
/// end within [`BALANCE_MAX_AGE`].
pub async fn balance_changed(redis: &Pool, keys: &Keys, user: &UserId) {
    let set = async {
        let mut conn = redis.get().await?;
        let () = redis::cmd("SET")
            .arg(keys.wallet_version(user.as_str()))
            .arg(new_wallet_version())
            .arg("EX")
            .arg(WALLET_VERSION_TTL_SECONDS)
            .query_async(&mut conn)
            .await?;
        Result::<()>::Ok(())
    };
    if let Err(e) = set.await {
        tracing::warn!(error = %e, "balance changed but its version in Redis could not be set; copies of it end within seconds");
    }
}

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
