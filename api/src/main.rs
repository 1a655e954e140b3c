//! The api binary: `api` serves; `api migrate` applies migrations; `api seed-demo` creates
//! the demo concert when the database has none. `api --help` lists every setting.

use std::future::Future;

use api::config::{Cli, Command, Settings};

/// mimalloc rather than glibc's malloc, as in the gateway: a hold makes allocations over 1 KiB
/// (hyper takes a new read buffer while the handler awaits Redis), which glibc serves through
/// its locked, consolidating paths; mimalloc's per-thread heaps avoid them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli: Cli = shared::config::parse_args();
    let command = cli.command.unwrap_or_default();
    let settings = Settings::try_from(cli)?;
    shared::telemetry::init_tracing(&settings.log);
    match command {
        Command::Serve => {
            // One server per core, each on a runtime of its own (see `startup.rs`).
            let api = api::startup::Api::bind(settings)?;
            tracing::info!(addr = %api.local_addr(), threads = api.threads(), "api listening");
            api.run_until_signal()
        }
        Command::Migrate => once(migrate(settings)),
        Command::SeedDemo => once(seed_demo(settings)),
    }
}

/// Runs a command that runs once and exits.
fn once(command: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(command)
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    // Provisions the development login's key pair too, for deployments (Docker Compose)
    // whose servers mount the keys read-only.
    if settings.identity.dev_login {
        shared::token::dev_identity_key_pair(&settings.keys_dir)?;
    }
    let db = api::startup::connect_and_migrate(&settings).await?;
    db.close().await;
    println!("migrations applied");
    Ok(())
}

async fn seed_demo(settings: Settings) -> anyhow::Result<()> {
    let app = api::startup::Application::build(settings).await?;
    match api::store::catalog::seed_demo(app.state()).await? {
        Some(id) => println!("demo concert {id} created and its queue opened"),
        None => println!("database already has concerts; nothing seeded"),
    }
    Ok(())
}
