//! `kawal run`: the Kafka pipeline as a service, stopped cleanly by
//! SIGINT or SIGTERM, suppressions reloaded on SIGHUP.

use std::io;
use std::path::PathBuf;

use anyhow::{Context, Result};

use kawal::config::Config;
use kawal::enrich::Enricher;
use kawal::sink::Sink;
use kawal::sink::ndjson::NdjsonSink;
use kawal::sink::webhook::Delivery;

use super::{load_config, start_postgres};

/// The options of `kawal run` (its description is on `Command` in
/// main.rs).
#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (layered over the embedded defaults; `[kafka]`
    /// names the brokers, group and topics).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn main(args: Args) -> Result<()> {
    let Args { config } = args;
    let cfg = load_config(config.as_deref())?;
    kawal::telemetry::init(&cfg.log);
    run_pipeline(&cfg)?;
    Ok(())
}

/// `kawal run`: starts the pipeline and stops it cleanly on SIGINT or
/// SIGTERM, or when a worker fails. Signals are the async edge: a small
/// tokio runtime waits for them while the workers run on their threads.
pub(crate) fn run_pipeline(cfg: &Config) -> Result<()> {
    use kawal::sink::ndjson::SharedWriter;
    let enricher = Enricher::open_static(&cfg.geoip)?;
    let out: Option<SharedWriter> = match cfg.output.ndjson.as_str() {
        "" => None,
        "-" => Some(SharedWriter::new(Box::new(io::stdout()))),
        path => Some(SharedWriter::new(Box::new(io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open alerts file {path}"))?,
        )))),
    };
    let metrics = std::sync::Arc::new(kawal::metrics::Metrics::new());
    let delivery = Delivery::start(cfg, std::sync::Arc::clone(&metrics))?.map(std::sync::Arc::new);
    let hooks = delivery.clone();
    let history = start_postgres(cfg)?.map(std::sync::Arc::new);
    let sinks: kawal::source::kafka::SinkFactory = std::sync::Arc::new(move |_| {
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if let Some(w) = &out {
            sinks.push(Box::new(NdjsonSink::new(w.clone(), true)));
        }
        if let Some(d) = &hooks {
            sinks.push(Box::new(d.sink()));
        }
        if let Some(p) = &history {
            sinks.push(Box::new(p.sink()));
        }
        Ok(sinks)
    });
    let pipeline = kawal::source::kafka::start_with_metrics(cfg, enricher, sinks, metrics)?;
    let stop = pipeline.stopper();
    // Vendor topics ([kafka.adapt]) re-keyed into the events topic.
    let relay = kawal::source::relay::Relay::start(cfg, std::sync::Arc::clone(&pipeline.metrics))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if !cfg.metrics.listen.is_empty() {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(&cfg.metrics.listen))
            .with_context(|| format!("cannot listen on {}", cfg.metrics.listen))?;
        tracing::info!(address = %cfg.metrics.listen, "serving /metrics, /healthz, /readyz, POST /feedback");
        let pipeline_ready = pipeline.readiness();
        let hooks = delivery.clone();
        let ready: kawal::metrics::Ready = std::sync::Arc::new(move || {
            pipeline_ready()?;
            match hooks.as_ref().and_then(|d| d.not_ready()) {
                Some(why) => Err(why),
                None => Ok(()),
            }
        });
        let intake =
            kawal::feedback::Intake::from_config(cfg).context("creating the feedback producer")?;
        rt.spawn(kawal::metrics::serve_admin(
            listener,
            std::sync::Arc::clone(&pipeline.metrics),
            ready,
            Some(std::sync::Arc::new(intake)),
        ));
    }
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted: draining"); break; }
                _ = term.recv() => { tracing::info!("terminated: draining"); break; }
                _ = hup.recv() => reload_suppressions(Some(kawal::suppress::shared().reload())),
                _ = tick.tick() => {
                    if pipeline.any_finished() { break; }
                    if relay.as_ref().is_some_and(|r| r.is_finished()) { break; }
                    // The suppressions file is checked for changes every 2 s.
                    ticks += 1;
                    if ticks.is_multiple_of(10) {
                        reload_suppressions(kawal::suppress::shared().poll());
                    }
                }
            }
        }
        anyhow::Ok(())
    })?;
    // The relay first: what it already produced reaches the workers.
    let relayed = relay.map(|r| r.stop()).transpose();
    stop.store(true, std::sync::atomic::Ordering::Release);
    // Bounded shutdown: sinks wait at most drain_timeout; past that plus a
    // margin, exit with an error rather than hang.
    let limit = std::time::Duration::from_millis(cfg.kafka.drain_timeout_ms() as u64)
        + std::time::Duration::from_secs(10);
    let (tx, rx) = std::sync::mpsc::channel();
    let counters = std::sync::Arc::clone(&pipeline.counters);
    let metrics = std::sync::Arc::clone(&pipeline.metrics);
    std::thread::spawn(move || {
        let _ = tx.send(pipeline.join());
    });
    let end = rx.recv_timeout(limit).map_err(|_| {
        anyhow::anyhow!("shutdown took longer than {limit:?}; exiting without a clean commit")
    })??;
    // The workers are done appending; what is not delivered stays in the
    // outboxes for the next start.
    if let Some(d) = &delivery {
        d.shutdown();
    }
    eprintln!(
        "kawal run: {} messages, {} events, {} invalid ({} dead-lettered), {} alerts, {} accounts",
        counters.messages.load(std::sync::atomic::Ordering::Relaxed),
        end.stats.events,
        metrics.invalid_total(),
        metrics.dead_letters.get(),
        metrics.alerts_total(),
        end.stats.accounts
    );
    if let Some(r) = relayed? {
        eprintln!(
            "kawal run: relayed {} vendor records into {} events ({} of unmapped types, {} not the format)",
            r.records, r.events, r.unmapped, r.invalid
        );
    }
    Ok(())
}

/// Reloads the suppressions file (SIGHUP, or a change seen by polling),
/// logging the outcome; the rules in force stay when the file is bad.
pub(crate) fn reload_suppressions(outcome: Option<Result<usize, kawal::suppress::SuppressError>>) {
    match outcome {
        None => {}
        Some(Ok(n)) => tracing::info!(rules = n, "suppressions reloaded"),
        Some(Err(e)) => {
            tracing::error!(error = %e, "suppressions not reloaded; the previous rules stay")
        }
    }
}
