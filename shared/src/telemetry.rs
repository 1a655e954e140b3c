//! Tracing set-up (pretty or JSON) and the process-wide Prometheus recorder.

use std::{sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::config::LogSettings;

/// Installs the global tracing subscriber; a second call (as in tests) is a no-op.
pub fn init_tracing(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if settings.json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            )
            .try_init()
    } else {
        registry.with(fmt::layer().compact()).try_init()
    };
    drop(result);
}

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// A gauge nobody has set for this long is dropped from `/metrics`. The per-concert gauges
/// (`gateway_queue_waiting{concert}` and the like) are set on every tick while the concert's
/// queue is open (a tick is at most a minute), so this is what takes a closed concert's
/// gauges away and keeps the `concert` label to open concerts. Counters are left alone: one
/// dropped while quiet would come back at its old count plus one, and Prometheus would read
/// the return as a reset and lose that increment (an isolated 5xx, say).
pub const IDLE_GAUGE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The buckets of every histogram (seconds): sub-millisecond Redis-only answers up to the
/// slowest payments, so `histogram_quantile` has resolution where requests land.
const BUCKETS_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics() -> PrometheusHandle {
    METRICS
        .get_or_init(|| {
            // With buckets, histograms are exported as Prometheus histograms (`_bucket`,
            // `_sum`, `_count`) rather than summaries, so dashboards can aggregate them
            // across instances with `histogram_quantile`.
            let builder = || {
                PrometheusBuilder::new()
                    .idle_timeout(MetricKindMask::GAUGE, Some(IDLE_GAUGE_TIMEOUT))
            };
            let recorder = builder()
                .set_buckets(BUCKETS_SECONDS)
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| builder().build_recorder());
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); then ours only renders.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                })
                .ok();
            handle
        })
        .clone()
}

/// How often [`watch_redis`] pings Redis.
const REDIS_PROBE_EVERY: Duration = Duration::from_secs(5);

/// Until `stop`, pings Redis through `pool` every few seconds and exports the answer:
/// `redis_up` (1 when PING answered within a second, else 0) and `redis_ping_seconds` (the
/// last answer's round trip through the pool's shared connections, so it includes the
/// queueing behind the requests' commands). The pool is a few multiplexed connections
/// rather than a checkout pool, so its latency is its "usage"; one watcher per process.
pub async fn watch_redis(pool: crate::redis_pool::Pool, stop: CancellationToken) {
    let mut every = tokio::time::interval(REDIS_PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let start = std::time::Instant::now();
        let up = crate::redis_pool::is_ready(&pool).await;
        metrics::gauge!("redis_up").set(if up { 1.0 } else { 0.0 });
        if up {
            metrics::gauge!("redis_ping_seconds").set(start.elapsed().as_secs_f64());
        }
    }
}
