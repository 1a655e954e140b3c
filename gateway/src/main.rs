//! The gateway binary: read the settings (`gateway --help` lists them), start telemetry,
//! serve on one thread per core until SIGTERM or Ctrl-C (see `startup.rs`).

use gateway::config::{Cli, Settings};

/// mimalloc rather than glibc's malloc: each batch makes a few allocations over 1 KiB, which
/// glibc serves through its locked, consolidating paths; mimalloc's per-thread heaps avoid them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli: Cli = shared::config::parse_args();
    let settings = Settings::try_from(cli)?;
    shared::telemetry::init_tracing(&settings.log);
    let gateway = gateway::startup::Gateway::bind(settings)?;
    tracing::info!(addr = %gateway.local_addr(), threads = gateway.threads(), "gateway listening");
    gateway.run_until_signal()
}
