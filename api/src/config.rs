//! The api's settings: one command line, every option also read from its environment
//! variable; `api --help` lists them all with their defaults.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use shared::{
    config::{
        in_range, HttpLimits, IdentitySettings, LogSettings, QueueSettings, RedisSettings, Secret,
    },
    token::{dev_key_pair, PublicKey},
};

/// What the api was started with: a command and every setting, each option also read from the
/// environment variable of the same name (`--api-addr` or `API_ADDR`).
#[derive(Debug, Parser)]
#[command(
    name = "api",
    version,
    about = "The booking api: concerts, seats, holds, balance and payments, with Postgres as \
             the source of truth.",
    after_help = "Each option may be given as its environment variable instead; a variable set to \
                  an empty value counts as unset."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address the api listens on.
    #[arg(long, env = "API_ADDR", default_value = "127.0.0.1:8081")]
    pub api_addr: SocketAddr,
    /// Servers sharing the port, each a thread with its own runtime and its own Redis and
    /// Postgres connections [default: the number of CPUs].
    #[arg(long, env = "API_THREADS", value_parser = in_range::<usize>(1..=256))]
    pub api_threads: Option<usize>,
    /// Postgres URL, `postgres://user:password@host:port/database`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres:postgres@127.0.0.1:5432/ticketing",
        hide_env_values = true
    )]
    pub database_url: Secret,
    /// Postgres connections of the servers, shared out among them (each server has its own
    /// pool); the background loops have one more connection of their own.
    #[arg(
        long,
        env = "DATABASE_POOL_SIZE",
        default_value_t = 32,
        value_parser = in_range::<u32>(1..=1000)
    )]
    pub database_pool_size: u32,
    /// Bearer token of the admin endpoints (creating concerts).
    #[arg(
        long,
        env = "ADMIN_TOKEN",
        default_value = DEV_ADMIN_TOKEN,
        hide_env_values = true
    )]
    pub admin_token: Secret,
    /// Seconds a seat hold lasts before the seats go back on sale.
    #[arg(
        long,
        env = "HOLD_TTL_SECONDS",
        default_value_t = 300,
        value_parser = in_range::<u32>(1..=86_400)
    )]
    pub hold_ttl_seconds: u32,
    /// Most seats one reservation may hold.
    #[arg(
        long,
        env = "MAX_SEATS_PER_RESERVATION",
        default_value_t = 4,
        value_parser = in_range::<usize>(1..=100)
    )]
    pub max_seats_per_reservation: usize,
    /// Most tickets one user may buy of one concert, across sessions (checked in the payment's
    /// transaction).
    #[arg(
        long,
        env = "MAX_TICKETS_PER_USER",
        default_value_t = 4,
        value_parser = in_range::<u32>(1..=1000)
    )]
    pub max_tickets_per_user: u32,
    /// Largest amount one balance charge may add, in won.
    #[arg(
        long,
        env = "MAX_CHARGE",
        default_value_t = 10_000_000,
        value_parser = in_range::<i64>(1..=1_000_000_000_000)
    )]
    pub max_charge: i64,
    /// Origins allowed to call the api from a browser, comma-separated [default: the
    /// gateway's, http://<GATEWAY_ADDR> and http://localhost:<its port>].
    #[arg(long, env = "CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Where the gateway listens; only the default CORS_ORIGINS uses it.
    #[arg(long, env = "GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    pub gateway_addr: SocketAddr,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub identity: IdentitySettings,
    #[command(flatten)]
    pub queue_defaults: QueueSettings,
    #[command(flatten)]
    pub redis: RedisSettings,
    #[command(flatten)]
    pub http: HttpLimits,
    #[command(flatten)]
    pub log: LogSettings,
}

/// Where the api finds the public keys that verify access tokens.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Keys")]
pub struct KeyArgs {
    /// PEM files of the public keys that verify access tokens, comma-separated: the gateway's
    /// signing key, and during a rotation the next one [default: the development key pair's
    /// public key in KEYS_DIR, created if missing].
    #[arg(long, env = "JWT_PUBLIC_KEYS", value_name = "JWT_PUBLIC_KEYS")]
    pub jwt_public_keys: Option<String>,
    /// Directory of the development key pairs: the access tokens' when JWT_PUBLIC_KEYS is
    /// unset, and the development login's when DEV_LOGIN is on.
    #[arg(long, env = "KEYS_DIR", default_value = ".data/keys")]
    pub keys_dir: PathBuf,
}

/// What the api does once its settings are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the api until SIGTERM or Ctrl-C (the default).
    #[default]
    Serve,
    /// Apply the database migrations, then exit.
    Migrate,
    /// Create the demo concert and open its queue, unless the database has concerts already.
    SeedDemo,
}

/// Everything the api runs with: [`Cli`] with its files read and its defaults derived. Run
/// `api --help` for every variable, its default and its meaning.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    /// Servers on `addr`, one thread and one single-threaded runtime each.
    pub threads: usize,
    pub database_url: Secret,
    pub database_pool_size: u32,
    pub redis: RedisSettings,
    pub public_keys: Vec<PublicKey>,
    /// Who signs the identity tokens the account endpoints accept.
    pub identity: IdentitySettings,
    /// Where the development login's key pair is (with `DEV_LOGIN`).
    pub keys_dir: PathBuf,
    pub admin_token: Secret,
    pub hold_ttl_seconds: u32,
    pub max_seats_per_reservation: usize,
    pub max_tickets_per_user: u32,
    pub max_charge: i64,
    pub queue_defaults: QueueSettings,
    pub cors_origins: Vec<String>,
    pub http: HttpLimits,
    pub log: LogSettings,
}

pub use shared::config::DEV_ADMIN_TOKEN;

impl Settings {
    /// Reads the settings from the environment alone (the process's arguments are ignored).
    pub fn from_env() -> anyhow::Result<Self> {
        let cli: Cli = shared::config::try_parse_from(["api"])?;
        Self::try_from(cli)
    }

    /// Refuses the public development admin token off loopback (see
    /// [`shared::config::check_admin_token`]).
    pub fn check_admin_token(&self) -> anyhow::Result<()> {
        shared::config::check_admin_token(&self.admin_token, self.addr, "API_ADDR")
            .map_err(anyhow::Error::msg)?;
        if self.admin_token.expose() == DEV_ADMIN_TOKEN {
            tracing::warn!("ADMIN_TOKEN is unset: using the public development admin token");
        }
        Ok(())
    }
}

impl TryFrom<Cli> for Settings {
    type Error = anyhow::Error;

    fn try_from(cli: Cli) -> anyhow::Result<Self> {
        Ok(Self {
            addr: cli.api_addr,
            threads: cli
                .api_threads
                .unwrap_or_else(shared::per_core::default_threads),
            database_url: cli.database_url,
            database_pool_size: cli.database_pool_size,
            redis: cli.redis,
            public_keys: cli.keys.public_keys()?,
            identity: cli.identity,
            keys_dir: cli.keys.keys_dir,
            admin_token: cli.admin_token,
            hold_ttl_seconds: cli.hold_ttl_seconds,
            max_seats_per_reservation: cli.max_seats_per_reservation,
            max_tickets_per_user: cli.max_tickets_per_user,
            max_charge: cli.max_charge,
            queue_defaults: cli.queue_defaults,
            cors_origins: cors_origins(cli.cors_origins.as_deref(), cli.gateway_addr),
            http: cli.http,
            log: cli.log,
        })
    }
}

impl KeyArgs {
    /// Reads the configured public keys, or the development pair's (creating it if missing,
    /// which is how `api migrate` provisions the pair in docker-compose).
    fn public_keys(&self) -> anyhow::Result<Vec<PublicKey>> {
        let keys = match &self.jwt_public_keys {
            Some(paths) => paths
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| PublicKey::from_pem_file(p.as_ref()))
                .collect::<Result<Vec<_>, _>>()
                .context("JWT_PUBLIC_KEYS")?,
            None => vec![dev_key_pair(&self.keys_dir)
                .with_context(|| {
                    format!(
                        "KEYS_DIR: the development key pair in {}",
                        self.keys_dir.display()
                    )
                })?
                .public_key()
                .clone()],
        };
        anyhow::ensure!(!keys.is_empty(), "JWT_PUBLIC_KEYS names no key");
        Ok(keys)
    }
}

/// The configured origins without trailing slashes, or the gateway's own by default.
fn cors_origins(configured: Option<&str>, gateway_addr: SocketAddr) -> Vec<String> {
    match configured {
        Some(list) => list
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect(),
        None => vec![
            format!("http://{gateway_addr}"),
            format!("http://localhost:{}", gateway_addr.port()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_option_is_named_after_its_variable() {
        for arg in Cli::command().get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let env = env.to_str().unwrap();
            assert_eq!(arg.get_value_names().unwrap(), [env]);
            assert_eq!(
                arg.get_long().unwrap(),
                env.to_lowercase().replace('_', "-")
            );
        }
    }

    #[test]
    fn cors_origins_default_to_the_gateway() {
        let gateway = SocketAddr::from(([127, 0, 0, 1], 9090));
        assert_eq!(
            cors_origins(None, gateway),
            ["http://127.0.0.1:9090", "http://localhost:9090"]
        );
        assert_eq!(
            cors_origins(Some("https://a.example/, ,https://b.example"), gateway),
            ["https://a.example", "https://b.example"]
        );
    }
}
