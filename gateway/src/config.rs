//! The gateway's settings: one command line, every option also read from its environment
//! variable; `gateway --help` lists them all with their defaults.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{builder::BoolishValueParser, ArgAction, Parser};
use shared::{
    config::{in_range, HttpLimits, IdentitySettings, LogSettings, RedisSettings, Secret},
    token::{dev_key_pair, PublicKey, SigningKey},
};

/// What the gateway was started with, each option also read from the environment variable of
/// the same name (`--gateway-addr` or `GATEWAY_ADDR`).
#[derive(Debug, Parser)]
#[command(
    name = "gateway",
    version,
    about = "The waiting room: per-concert queues in Redis, the admission scheduler and the \
             access tokens.",
    after_help = "Each option may be given as its environment variable instead; a variable set to \
                  an empty value counts as unset."
)]
pub struct Cli {
    /// Address the gateway listens on.
    #[arg(long, env = "GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    pub gateway_addr: SocketAddr,
    /// Servers sharing the port, each a thread with its own runtime [default: the number of
    /// CPUs].
    #[arg(
        long,
        env = "GATEWAY_THREADS",
        value_parser = in_range::<usize>(1..=256)
    )]
    pub gateway_threads: Option<usize>,
    /// Bearer token of the admin endpoints. The default is refused unless GATEWAY_ADDR is a
    /// loopback address, and warned about there.
    #[arg(
        long,
        env = "ADMIN_TOKEN",
        default_value = DEV_ADMIN_TOKEN,
        hide_env_values = true
    )]
    pub admin_token: Secret,
    /// Joins per second allowed from one client address; 0 turns the limit off.
    #[arg(
        long,
        env = "JOIN_RATE_PER_SECOND",
        default_value_t = 0,
        value_parser = in_range::<u32>(0..=1_000_000)
    )]
    pub join_rate_per_second: u32,
    /// Where the api listens; only the default API_PUBLIC_URL uses it.
    #[arg(long, env = "API_ADDR", default_value = "127.0.0.1:8081")]
    pub api_addr: String,
    /// Where browsers find the api, as served to the pages [default: http://<API_ADDR>].
    #[arg(long, env = "API_PUBLIC_URL")]
    pub api_public_url: Option<String>,
    /// Whether this instance runs the admission scheduler (`on` or `off`); with several
    /// gateways, any number may run it.
    #[arg(
        long,
        env = "SCHEDULER",
        default_value = "on",
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        hide_possible_values = true
    )]
    pub scheduler: bool,
    /// Milliseconds a concert's line view answers status polls before it is read again from
    /// Redis; 0 reads Redis on every poll.
    #[arg(
        long,
        env = "STATUS_VIEW_MS",
        default_value_t = 100,
        value_parser = in_range::<u64>(0..=10_000)
    )]
    pub status_view_ms: u64,
    /// Seconds an admitted fan has to pick up the access token (a status poll or a join
    /// that answers ACTIVE); a session nobody picked up by then ends and its room goes to the
    /// next in line. 0: no limit.
    #[arg(
        long,
        env = "ACTIVATION_SECONDS",
        default_value_t = 60,
        value_parser = in_range::<u64>(0..=3_600)
    )]
    pub activation_seconds: u64,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub identity: IdentitySettings,
    #[command(flatten)]
    pub redis: RedisSettings,
    #[command(flatten)]
    pub http: HttpLimits,
    #[command(flatten)]
    pub log: LogSettings,
}

/// The keys that sign access tokens and seal queue tokens.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Keys")]
pub struct KeyArgs {
    /// PEM file of the Ed25519 key that signs access tokens [default: the development key
    /// pair in KEYS_DIR, created if missing].
    #[arg(long, env = "JWT_SIGNING_KEY")]
    pub jwt_signing_key: Option<PathBuf>,
    /// PEM files of further public keys to publish beside the signing key's, comma-separated
    /// (a rotation's next or previous key).
    #[arg(long, env = "JWT_PUBLIC_KEYS")]
    pub jwt_public_keys: Option<String>,
    /// Secret of at least 32 bytes that seals queue tokens. Set it so that rotating the
    /// signing key keeps waiting fans' tokens valid [default: derived from the signing key].
    #[arg(long, env = "QUEUE_TOKEN_SECRET", hide_env_values = true)]
    pub queue_token_secret: Option<Secret>,
    /// Directory of the development key pair, used when JWT_SIGNING_KEY is unset.
    #[arg(long, env = "KEYS_DIR", default_value = ".data/keys")]
    pub keys_dir: PathBuf,
}

/// Everything the gateway runs with: [`Cli`] with its files read and its defaults derived.
/// Run `gateway --help` for every variable, its default and its meaning.
#[derive(Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    /// Servers on `addr`, one thread and one single-threaded runtime each.
    pub threads: usize,
    pub redis: RedisSettings,
    pub admin_token: Secret,
    pub signing_key: SigningKey,
    pub extra_public_keys: Vec<PublicKey>,
    /// The key that seals queue tokens (see `queue_token.rs`).
    pub queue_token_key: [u8; 32],
    /// Who signs identity tokens (the provider's JWKS, the development login).
    pub identity: IdentitySettings,
    /// Where the development key pairs live (access tokens, the development login).
    pub keys_dir: PathBuf,
    pub join_rate_per_second: u32,
    pub api_public_url: String,
    pub scheduler: bool,
    /// How long a line view answers status polls (see `queue/view.rs`); zero: never.
    pub status_view: Duration,
    /// How long an admitted fan has to pick up the access token; zero: no limit.
    pub activation: Duration,
    pub http: HttpLimits,
    pub log: LogSettings,
}

pub use shared::config::DEV_ADMIN_TOKEN;

impl Settings {
    /// Reads the settings from the environment alone (the process's arguments are ignored).
    pub fn from_env() -> anyhow::Result<Self> {
        let cli: Cli = shared::config::try_parse_from(["gateway"])?;
        Self::try_from(cli)
    }

    /// Logs the start-up warnings these settings call for (once per gateway).
    pub fn warn_if_unsafe(&self) {
        if self.admin_token.expose() == DEV_ADMIN_TOKEN {
            tracing::warn!("ADMIN_TOKEN is unset: using the public development admin token");
        }
    }
}

impl TryFrom<Cli> for Settings {
    type Error = anyhow::Error;

    fn try_from(cli: Cli) -> anyhow::Result<Self> {
        shared::config::check_admin_token(&cli.admin_token, cli.gateway_addr, "GATEWAY_ADDR")
            .map_err(anyhow::Error::msg)?;
        let signing_key = cli.keys.signing_key()?;
        Ok(Self {
            addr: cli.gateway_addr,
            threads: cli
                .gateway_threads
                .unwrap_or_else(shared::per_core::default_threads),
            redis: cli.redis,
            admin_token: cli.admin_token,
            queue_token_key: cli.keys.queue_token_key(&signing_key)?,
            extra_public_keys: cli.keys.extra_public_keys()?,
            signing_key,
            identity: cli.identity,
            keys_dir: cli.keys.keys_dir,
            join_rate_per_second: cli.join_rate_per_second,
            api_public_url: cli
                .api_public_url
                .unwrap_or_else(|| format!("http://{}", cli.api_addr)),
            scheduler: cli.scheduler,
            status_view: Duration::from_millis(cli.status_view_ms),
            activation: Duration::from_secs(cli.activation_seconds),
            http: cli.http,
            log: cli.log,
        })
    }
}

/// Like a derived `Debug`, without the queue-token key.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("threads", &self.threads)
            .field("redis", &self.redis)
            .field("admin_token", &self.admin_token)
            .field("signing_key", &self.signing_key)
            .field("extra_public_keys", &self.extra_public_keys)
            .field("queue_token_key", &"***")
            .field("identity", &self.identity)
            .field("keys_dir", &self.keys_dir)
            .field("join_rate_per_second", &self.join_rate_per_second)
            .field("api_public_url", &self.api_public_url)
            .field("scheduler", &self.scheduler)
            .field("status_view", &self.status_view)
            .field("activation", &self.activation)
            .field("http", &self.http)
            .field("log", &self.log)
            .finish()
    }
}

impl KeyArgs {
    /// The configured signing key, or the development pair's (created if missing).
    fn signing_key(&self) -> anyhow::Result<SigningKey> {
        match &self.jwt_signing_key {
            Some(path) => SigningKey::from_pem_file(path).context("JWT_SIGNING_KEY"),
            None => dev_key_pair(&self.keys_dir).with_context(|| {
                format!(
                    "KEYS_DIR: the development key pair in {}",
                    self.keys_dir.display()
                )
            }),
        }
    }

    fn extra_public_keys(&self) -> anyhow::Result<Vec<PublicKey>> {
        let Some(paths) = &self.jwt_public_keys else {
            return Ok(Vec::new());
        };
        paths
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| PublicKey::from_pem_file(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .context("JWT_PUBLIC_KEYS")
    }

    /// The configured secret's key (domain-separated like the derived one), or one derived
    /// from the signing key. The secret's length is checked here rather than by clap, whose
    /// message would quote the value.
    fn queue_token_key(&self, signing_key: &SigningKey) -> anyhow::Result<[u8; 32]> {
        use sha2::{Digest, Sha256};
        let Some(secret) = &self.queue_token_secret else {
            return Ok(signing_key.derive_secret("queue-token"));
        };
        anyhow::ensure!(
            secret.expose().len() >= 32,
            "QUEUE_TOKEN_SECRET must be at least 32 bytes"
        );
        let mut h = Sha256::new();
        h.update(b"ticketing/queue-token/v1/");
        h.update(secret.expose().as_bytes());
        Ok(h.finalize().into())
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
}
