//! The api binary: `api` serves; `api migrate` applies migrations; `api seed-demo` creates
//! the demo concert when the database has none. `api --help` lists every setting.

use api::config::{Cli, Command, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli: Cli = shared::config::parse_args();
    let command = cli.command.unwrap_or_default();
    let settings = Settings::try_from(cli)?;
    shared::telemetry::init_tracing(&settings.log);
    match command {
        Command::Serve => {
            let app = api::startup::Application::build(settings).await?;
            tracing::info!(addr = %app.local_addr(), "api listening");
            app.run_until(shared::shutdown::on_signal()).await
        }
        Command::Migrate => {
            // Provisions the development login's key pair too, for deployments (Docker
            // Compose) whose servers mount the keys read-only.
            if settings.identity.dev_login {
                shared::token::dev_identity_key_pair(&settings.keys_dir)?;
            }
            let db = api::startup::connect_and_migrate(&settings).await?;
            db.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::SeedDemo => {
            let app = api::startup::Application::build(settings).await?;
            match api::store::catalog::seed_demo(app.state()).await? {
                Some(id) => println!("demo concert {id} created and its queue opened"),
                None => println!("database already has concerts; nothing seeded"),
            }
            Ok(())
        }
    }
}
