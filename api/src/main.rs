//! The api binary: `api` serves; `api migrate` applies migrations; `api seed-demo` creates
//! the demo concert when the database has none.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = api::config::Settings::from_env()?;
    shared::telemetry::init_tracing(&settings.log);
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => {
            let app = api::startup::Application::build(settings).await?;
            tracing::info!(addr = %app.local_addr(), "api listening");
            app.run_until(shared::shutdown::on_signal()).await
        }
        Some("migrate") => {
            let db = api::startup::connect_and_migrate(&settings).await?;
            db.close().await;
            println!("migrations applied");
            Ok(())
        }
        Some("seed-demo") => {
            let app = api::startup::Application::build(settings).await?;
            match api::store::catalog::seed_demo(app.state()).await? {
                Some(id) => println!("demo concert {id} created and its queue opened"),
                None => println!("database already has concerts; nothing seeded"),
            }
            Ok(())
        }
        Some(other) => {
            anyhow::bail!("unknown command {other:?}; expected serve, migrate or seed-demo")
        }
    }
}
