//! The gateway binary: load settings, start telemetry, serve until SIGTERM or Ctrl-C.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = gateway::config::Settings::from_env()?;
    shared::telemetry::init_tracing(&settings.log);
    let app = gateway::startup::Application::build(settings).await?;
    tracing::info!(addr = %app.local_addr(), "gateway listening");
    app.run_until(shared::shutdown::on_signal()).await
}
