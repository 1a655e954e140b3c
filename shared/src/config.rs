//! The settings pieces both binaries share, and how a binary's command line is parsed.
//!
//! Each binary declares one `clap::Parser` (`config.rs` in its crate) that flattens the pieces
//! here; every option also reads an environment variable of the same name (`--redis-url` and
//! `REDIS_URL`), and the option's value is named after the variable, so a bad value is
//! reported with the name an operator set.

use std::{ffi::OsString, fmt, ops::RangeInclusive};

use clap::{
    builder::{PossibleValuesParser, RangedI64ValueParser, TypedValueParser},
    ArgAction,
};

/// Parses `P` from the process's arguments and environment, as `clap::Parser::parse` does:
/// on a bad value, or for `--help` and `--version`, it prints and exits.
pub fn parse_args<P: clap::Parser>() -> P {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Parses `P` from `argv` and the environment, as `clap::Parser::try_parse_from` does, except
/// that a variable set to an empty or blank value counts as unset: compose files and shells
/// often leave `VAR=` behind, and these binaries have always read that as "use the default".
pub fn try_parse_from<P, I, T>(argv: I) -> Result<P, clap::Error>
where
    P: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut command = P::command().mut_args(|arg| {
        let blank = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| v.to_string_lossy().trim().is_empty());
        if blank {
            arg.env(None::<&'static str>)
        } else {
            arg
        }
    });
    let mut matches = command.try_get_matches_from_mut(argv)?;
    P::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command))
}

/// A clap value parser for integers of any type within `range`; clap's error names the
/// option's value (the variable) and the range.
pub fn in_range<T>(range: RangeInclusive<i64>) -> RangedI64ValueParser<T>
where
    T: TryFrom<i64> + Clone + Send + Sync + 'static,
    <T as TryFrom<i64>>::Error: std::error::Error + Send + Sync + 'static,
{
    RangedI64ValueParser::new().range(range)
}

/// A secret string that never shows in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Lets clap parse a secret option straight into a `Secret`.
impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// The admin token used when `ADMIN_TOKEN` is unset: public (it is in this repository), so
/// development only.
pub const DEV_ADMIN_TOKEN: &str = "dev-admin-token";

/// Refuses the public development admin token on an address other machines can reach (anyone
/// could run the admin endpoints); on loopback it is allowed (callers warn about it once
/// logging is set up). `addr_var` names the variable of the address, for the message.
pub fn check_admin_token(
    token: &Secret,
    addr: std::net::SocketAddr,
    addr_var: &str,
) -> Result<(), String> {
    if token.expose() != DEV_ADMIN_TOKEN {
        return Ok(());
    }
    if !addr.ip().is_loopback() {
        return Err(format!(
            "ADMIN_TOKEN is unset (the public development token) while {addr_var} ({addr}) is not \
             a loopback address: set ADMIN_TOKEN to a secret of your own"
        ));
    }
    Ok(())
}

/// Where Redis is and which part of its keyspace is ours.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Redis")]
pub struct RedisSettings {
    /// Redis server URL, `redis://[:password@]host:port[/db]`.
    #[arg(
        long = "redis-url",
        env = "REDIS_URL",
        value_name = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub url: String,
    /// Seed nodes of a Redis Cluster, comma-separated (`redis://10.0.0.1:6379,redis://...`);
    /// when set, both binaries use the cluster (every key of a concert in its slot) and
    /// `REDIS_URL` is ignored.
    #[arg(
        long = "redis-cluster-urls",
        env = "REDIS_CLUSTER_URLS",
        value_name = "REDIS_CLUSTER_URLS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub cluster_urls: Vec<String>,
    /// Prefix of every Redis key this deployment uses; the gateway and the api must agree.
    #[arg(
        long = "redis-prefix",
        env = "REDIS_PREFIX",
        value_name = "REDIS_PREFIX",
        default_value = "tix:"
    )]
    pub prefix: String,
    /// Multiplexed Redis connections per server thread. Few connections carry fuller
    /// pipelines (fewer writes and reads on both ends), which is faster than many.
    #[arg(
        long = "redis-pool-size",
        env = "REDIS_POOL_SIZE",
        value_name = "REDIS_POOL_SIZE",
        default_value_t = 1,
        value_parser = in_range::<usize>(1..=64)
    )]
    pub pool_size: usize,
}

/// The seed nodes in `REDIS_CLUSTER_URLS` (the tests and benchmarks build their settings by
/// hand and run on a cluster when it is set).
pub fn cluster_urls_from_env() -> Vec<String> {
    std::env::var("REDIS_CLUSTER_URLS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from)
        .collect()
}

impl RedisSettings {
    /// Reads the Redis settings alone from the environment (the benchmark examples use it).
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        #[command(name = "redis")]
        struct Only {
            #[command(flatten)]
            redis: RedisSettings,
        }
        try_parse_from::<Only, _, _>(["redis"]).map(|only| only.redis)
    }
}

/// Who signs the identity tokens both binaries trust: the promoter's login service (an
/// OpenID Connect provider's JWKS) and, in development only, the development login.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Identity (who the user is)")]
pub struct IdentitySettings {
    /// URL of the login provider's JWKS, fetched at start, when a token names an unknown key
    /// and every few minutes (Keycloak:
    /// `https://<host>/realms/<realm>/protocol/openid-connect/certs`).
    #[arg(
        long = "identity-jwks-url",
        env = "IDENTITY_JWKS_URL",
        value_name = "IDENTITY_JWKS_URL",
        conflicts_with = "jwks_file"
    )]
    pub jwks_url: Option<String>,
    /// A file holding the provider's JWKS, read at start and on refresh (instead of the URL).
    #[arg(
        long = "identity-jwks-file",
        env = "IDENTITY_JWKS_FILE",
        value_name = "IDENTITY_JWKS_FILE"
    )]
    pub jwks_file: Option<std::path::PathBuf>,
    /// The exact `iss` of the provider's tokens (Keycloak: `https://<host>/realms/<realm>`).
    #[arg(
        long = "identity-issuer",
        env = "IDENTITY_ISSUER",
        value_name = "IDENTITY_ISSUER"
    )]
    pub issuer: Option<String>,
    /// An `aud` the provider's tokens must carry (the client id of this service).
    #[arg(
        long = "identity-audience",
        env = "IDENTITY_AUDIENCE",
        value_name = "IDENTITY_AUDIENCE"
    )]
    pub audience: Option<String>,
    /// Development login: the gateway signs identity tokens for any user id at
    /// `POST /api/v1/dev/login` and both binaries trust them. Never in production.
    #[arg(
        long = "dev-login",
        env = "DEV_LOGIN",
        value_name = "DEV_LOGIN",
        default_value = "off",
        action = ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
        hide_possible_values = true
    )]
    pub dev_login: bool,
}

impl IdentitySettings {
    /// The configured provider, if any: a JWKS source with its issuer and audience (an error
    /// names what is missing when only some of them are set).
    pub fn provider(&self) -> Result<Option<crate::identity::Provider>, String> {
        use crate::identity::{JwksSource, Provider};
        let jwks = match (&self.jwks_url, &self.jwks_file) {
            (Some(url), _) => Some(JwksSource::Url(url.clone())),
            (None, Some(path)) => Some(JwksSource::File(path.clone())),
            (None, None) => None,
        };
        match (jwks, &self.issuer, &self.audience) {
            (None, None, None) => Ok(None),
            (Some(jwks), Some(issuer), Some(audience)) => Ok(Some(Provider {
                jwks,
                issuer: issuer.clone(),
                audience: audience.clone(),
            })),
            _ => Err("IDENTITY_ISSUER, IDENTITY_AUDIENCE and one of IDENTITY_JWKS_URL or IDENTITY_JWKS_FILE go together".into()),
        }
    }

    /// The identity verifier these settings describe, with the development login's key pair
    /// from `keys_dir` when `DEV_LOGIN` is on (warned about loudly); an error when neither a
    /// provider nor the development login is configured, or the provider's keys cannot be read.
    pub async fn verifier(
        &self,
        keys_dir: &std::path::Path,
    ) -> anyhow::Result<crate::identity::IdentityVerifier> {
        let provider = self.provider().map_err(anyhow::Error::msg)?;
        let dev_key = if self.dev_login {
            tracing::warn!(
                "DEV_LOGIN is on: anyone can sign in as any user; never run it like this in production"
            );
            Some(
                crate::token::dev_identity_key_pair(keys_dir)?
                    .public_key()
                    .clone(),
            )
        } else {
            None
        };
        if provider.is_none() && dev_key.is_none() {
            anyhow::bail!(
                "no identity provider: set IDENTITY_JWKS_URL (or IDENTITY_JWKS_FILE), IDENTITY_ISSUER and IDENTITY_AUDIENCE, or DEV_LOGIN=1 for development"
            );
        }
        Ok(crate::identity::IdentityVerifier::new(provider, dev_key).await?)
    }
}

/// The queue settings of one concert: those a newly opened concert starts with (read from
/// the api's environment), and the body of the gateway's admin endpoint that changes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::Args)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[command(next_help_heading = "Queue of a new concert")]
pub struct QueueSettings {
    /// Fans admitted from the line at each tick.
    #[arg(
        long = "admit-per-tick",
        env = "ADMIT_PER_TICK",
        value_name = "ADMIT_PER_TICK",
        default_value_t = 50,
        value_parser = in_range::<u32>(bounds(Self::ADMIT_PER_TICK))
    )]
    pub admit_per_tick: u32,
    /// Milliseconds between two admission ticks.
    #[arg(
        long = "tick-millis",
        env = "TICK_MILLIS",
        value_name = "TICK_MILLIS",
        default_value_t = 1000,
        value_parser = in_range::<u32>(bounds(Self::TICK_MILLIS))
    )]
    pub tick_millis: u32,
    /// Most fans holding a booking session at once; admission waits while it is reached.
    #[arg(
        long = "max-active",
        env = "MAX_ACTIVE",
        value_name = "MAX_ACTIVE",
        default_value_t = 1000,
        value_parser = in_range::<u32>(bounds(Self::MAX_ACTIVE))
    )]
    pub max_active: u32,
    /// Seconds an admitted fan's booking session lasts.
    #[arg(
        long = "session-ttl-seconds",
        env = "SESSION_TTL_SECONDS",
        value_name = "SESSION_TTL_SECONDS",
        default_value_t = 600,
        value_parser = in_range::<u32>(bounds(Self::SESSION_TTL_SECONDS))
    )]
    pub session_ttl_seconds: u32,
    /// Paused queues admit nobody; a new queue is open.
    #[arg(skip)]
    pub paused: bool,
}

/// The bounds of a queue setting as the range a value parser takes.
fn bounds((min, max): (u32, u32)) -> RangeInclusive<i64> {
    i64::from(min)..=i64::from(max)
}

impl QueueSettings {
    /// Bounds every source of queue settings (environment and admin endpoint) shares.
    pub const ADMIT_PER_TICK: (u32, u32) = (1, 100_000);
    pub const TICK_MILLIS: (u32, u32) = (10, 60_000);
    pub const MAX_ACTIVE: (u32, u32) = (1, 10_000_000);
    pub const SESSION_TTL_SECONDS: (u32, u32) = (1, 86_400);

    /// Checks every field against its bounds; the message names the first field out of range.
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            ("admitPerTick", self.admit_per_tick, Self::ADMIT_PER_TICK),
            ("tickMillis", self.tick_millis, Self::TICK_MILLIS),
            ("maxActive", self.max_active, Self::MAX_ACTIVE),
            (
                "sessionTtlSeconds",
                self.session_ttl_seconds,
                Self::SESSION_TTL_SECONDS,
            ),
        ];
        for (name, value, (min, max)) in checks {
            if value < min || value > max {
                return Err(format!(
                    "{name} must be between {min} and {max}, got {value}"
                ));
            }
        }
        Ok(())
    }
}

/// How both binaries log.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Logging")]
pub struct LogSettings {
    /// Which events are logged, as a `tracing` filter: a level, and `target=level` pairs.
    #[arg(
        long = "rust-log",
        env = "RUST_LOG",
        value_name = "RUST_LOG",
        default_value = "info,sqlx=warn",
        value_parser = log_filter
    )]
    pub filter: String,
    /// Log lines as `pretty` text or as `json` objects, one a line.
    #[arg(
        long = "log-format",
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        default_value = "pretty",
        action = ArgAction::Set,
        ignore_case = true,
        value_parser = PossibleValuesParser::new(["pretty", "json"])
            .map(|format| format.eq_ignore_ascii_case("json"))
    )]
    pub json: bool,
}

/// Accepts a filter only if `tracing` can read it, so a typo fails at start.
fn log_filter(filter: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| filter.to_owned())
        .map_err(|e| e.to_string())
}

/// Bounds on every HTTP request, shared by both binaries.
#[derive(Debug, Clone, Copy, clap::Args)]
#[command(next_help_heading = "HTTP limits")]
pub struct HttpLimits {
    /// Milliseconds a request may take; a slower one is answered 503 `TIMEOUT`.
    #[arg(
        long = "request-timeout-ms",
        env = "REQUEST_TIMEOUT_MS",
        value_name = "REQUEST_TIMEOUT_MS",
        default_value_t = 10_000,
        value_parser = in_range::<u64>(1..=600_000)
    )]
    pub request_timeout_ms: u64,
    /// Largest request body, in bytes; a larger one is answered 413.
    #[arg(
        long = "max-body-bytes",
        env = "MAX_BODY_BYTES",
        value_name = "MAX_BODY_BYTES",
        default_value_t = 16 * 1024,
        value_parser = in_range::<usize>(64..=16 * 1024 * 1024)
    )]
    pub max_body_bytes: usize,
    /// Requests served at once per server; those past it are shed with 503 `OVERLOADED`.
    #[arg(
        long = "max-in-flight",
        env = "MAX_IN_FLIGHT",
        value_name = "MAX_IN_FLIGHT",
        default_value_t = 4096,
        value_parser = in_range::<usize>(1..=1_000_000)
    )]
    pub max_in_flight: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            request_timeout_ms: 10_000,
            max_body_bytes: 16 * 1024,
            max_in_flight: 4096,
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_default_admin_token_is_refused_off_loopback() {
        let dev = Secret::new(DEV_ADMIN_TOKEN);
        for public in ["0.0.0.0:8080", "192.0.2.1:8080", "[::]:8080"] {
            let err = check_admin_token(&dev, public.parse().unwrap(), "GATEWAY_ADDR").unwrap_err();
            assert!(
                err.contains("ADMIN_TOKEN") && err.contains("GATEWAY_ADDR"),
                "{err}"
            );
        }
        for local in ["127.0.0.1:8080", "[::1]:8080"] {
            assert!(check_admin_token(&dev, local.parse().unwrap(), "API_ADDR").is_ok());
        }
        let own = Secret::new("a-secret-of-our-own");
        assert!(check_admin_token(&own, "0.0.0.0:8080".parse().unwrap(), "API_ADDR").is_ok());
    }

    #[test]
    fn an_identity_provider_needs_its_jwks_issuer_and_audience_together() {
        let none = IdentitySettings::default();
        assert_eq!(none.provider(), Ok(None));
        let mut partial = IdentitySettings {
            jwks_url: Some("https://login.example/certs".into()),
            ..IdentitySettings::default()
        };
        assert!(partial.provider().is_err());
        partial.issuer = Some("https://login.example".into());
        partial.audience = Some("ticketing".into());
        let provider = partial.provider().unwrap().unwrap();
        assert_eq!(provider.audience, "ticketing");
    }

    use clap::{CommandFactory, FromArgMatches, Parser};

    use super::*;

    /// Every shared piece, as a binary flattens them.
    #[derive(Debug, Parser)]
    struct Pieces {
        #[command(flatten)]
        redis: RedisSettings,
        #[command(flatten)]
        queue: QueueSettings,
        #[command(flatten)]
        log: LogSettings,
        #[command(flatten)]
        http: HttpLimits,
    }

    /// Parses `args` alone: the variables are left out, so the caller's environment (such
    /// as the `REDIS_URL` that `scripts/test` exports) cannot change the outcome.
    fn parse(args: &[&str]) -> Result<Pieces, clap::Error> {
        let mut matches = Pieces::command()
            .mut_args(|arg| arg.env(None::<&'static str>))
            .try_get_matches_from(std::iter::once("pieces").chain(args.iter().copied()))?;
        Pieces::from_arg_matches_mut(&mut matches)
    }

    #[test]
    fn the_pieces_are_a_valid_command() {
        Pieces::command().debug_assert();
    }

    #[test]
    fn every_option_is_named_after_its_variable() {
        for arg in Pieces::command().get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let env = env.to_str().unwrap();
            assert_eq!(arg.get_value_names().unwrap(), [env]);
            let long = env.to_lowercase().replace('_', "-");
            assert_eq!(arg.get_long(), Some(long.as_str()));
        }
    }

    #[test]
    fn defaults_are_those_documented() {
        let p = parse(&[]).unwrap();
        assert_eq!(p.redis.url, "redis://127.0.0.1:6379");
        assert_eq!(p.redis.prefix, "tix:");
        assert_eq!(p.redis.pool_size, 1);
        assert_eq!(
            p.queue,
            QueueSettings {
                admit_per_tick: 50,
                tick_millis: 1000,
                max_active: 1000,
                session_ttl_seconds: 600,
                paused: false,
            }
        );
        assert_eq!(p.log.filter, "info,sqlx=warn");
        assert!(!p.log.json);
        let http = HttpLimits::default();
        assert_eq!(p.http.request_timeout_ms, http.request_timeout_ms);
        assert_eq!(p.http.max_body_bytes, http.max_body_bytes);
        assert_eq!(p.http.max_in_flight, http.max_in_flight);
    }

    #[test]
    fn a_value_out_of_range_names_the_variable_and_the_range() {
        let e = parse(&["--admit-per-tick", "0"]).unwrap_err().to_string();
        assert!(
            e.contains("ADMIT_PER_TICK") && e.contains("1..=100000"),
            "{e}"
        );
        let e = parse(&["--redis-pool-size", "65"]).unwrap_err().to_string();
        assert!(e.contains("REDIS_POOL_SIZE") && e.contains("1..=64"), "{e}");
        assert_eq!(
            parse(&["--tick-millis", "10"]).unwrap().queue.tick_millis,
            10
        );
        assert!(parse(&["--tick-millis", "9"]).is_err());
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let e = parse(&["--max-in-flight", "lots"]).unwrap_err().to_string();
        assert!(e.contains("MAX_IN_FLIGHT"), "{e}");
        let e = parse(&["--log-format", "xml"]).unwrap_err().to_string();
        assert!(e.contains("LOG_FORMAT") && e.contains("json"), "{e}");
        let e = parse(&["--rust-log", "info,=="]).unwrap_err().to_string();
        assert!(e.contains("RUST_LOG"), "{e}");
        assert!(parse(&["--log-format", "JSON"]).unwrap().log.json);
    }

    /// A variable only this test sets, so it cannot disturb the others.
    #[derive(Debug, Parser)]
    struct Blank {
        #[arg(
            long,
            env = "SHARED_CONFIG_TEST_BLANK",
            default_value_t = 7,
            value_parser = in_range::<u32>(1..=9)
        )]
        shared_config_test_blank: u32,
    }

    #[test]
    fn a_variable_is_read_and_a_blank_one_counts_as_unset() {
        std::env::set_var("SHARED_CONFIG_TEST_BLANK", "0");
        let e = try_parse_from::<Blank, _, _>(["blank"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("SHARED_CONFIG_TEST_BLANK"), "{e}");
        std::env::set_var("SHARED_CONFIG_TEST_BLANK", "3");
        let b: Blank = try_parse_from(["blank"]).unwrap();
        assert_eq!(b.shared_config_test_blank, 3);
        std::env::set_var("SHARED_CONFIG_TEST_BLANK", " ");
        let b: Blank = try_parse_from(["blank"]).unwrap();
        assert_eq!(b.shared_config_test_blank, 7);
        std::env::remove_var("SHARED_CONFIG_TEST_BLANK");
    }

    #[test]
    fn queue_settings_validation_names_the_field() {
        let mut s = QueueSettings {
            admit_per_tick: 1,
            tick_millis: 100,
            max_active: 10,
            session_ttl_seconds: 60,
            paused: false,
        };
        assert!(s.validate().is_ok());
        s.tick_millis = 1;
        assert!(s.validate().unwrap_err().contains("tickMillis"));
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
