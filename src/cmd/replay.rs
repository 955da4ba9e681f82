//! `kawal replay`: events from a file or standard input (native, or a
//! vendor's log through an adapter) through the detectors, alerts out.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use indicatif::ProgressBar;

use kawal::adapt::{Format, Input};
use kawal::config::Config;
use kawal::enrich::Enricher;
use kawal::replay::Summary;
use kawal::sink::ndjson::NdjsonSink;
use kawal::sink::webhook::Delivery;
use kawal::sink::{Fanout, Sink};

use super::{EventsArg, bar, load_config, open_out, start_postgres};

/// The options of `kawal replay` (its description is on `Command` in
/// main.rs).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub events: EventsArg,
    /// Configuration file (layered over the embedded defaults). Its
    /// [[webhooks]] get the alerts too, through their outboxes; the
    /// replay waits up to delivery.replay_wait for them (docs/DELIVERY.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where alerts go (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Split accounts as a Kafka topic with this many partitions would
    /// (one detector per partition), to reproduce `kawal run` exactly.
    #[arg(long)]
    pub partitions: Option<u32>,
    /// Detector state directory: start from the state saved there (if
    /// any) and save the state there at the end, so history can be
    /// replayed in parts, and a deployment seeded (see docs/STATE.md).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

pub fn main(args: Args) -> Result<()> {
    let Args {
        events,
        config,
        out,
        partitions,
        state,
    } = args;
    let mut cfg = load_config(config.as_deref())?;
    if let Some(p) = partitions {
        if !(1..=10_000).contains(&p) {
            bail!("--partitions must be within 1..10000");
        }
        cfg.replay.partitions = p;
    }
    kawal::telemetry::init(&cfg.log);
    let metrics = std::sync::Arc::new(kawal::metrics::Metrics::new());
    let delivery = Delivery::start(&cfg, std::sync::Arc::clone(&metrics))?;
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(NdjsonSink::new(
        open_out(out.as_deref())?,
        out.is_none() && io::stdout().is_terminal(),
    ))];
    if let Some(d) = &delivery {
        sinks.push(Box::new(d.sink()));
    }
    let history = start_postgres(&cfg)?;
    if let Some(p) = &history {
        sinks.push(Box::new(p.sink()));
    }
    let (input, format) = (events.input.clone(), events.format);
    let events = events.open()?;
    let (summary, adapted) = run_replay(events, &cfg, &mut Fanout(sinks), state.as_deref())?;
    eprintln!("{}", summary.render());
    if let Some(r) = adapted {
        eprintln!("{r}");
    }
    if let Some(p) = &history {
        // The replay's flush waited for the writer: this reports.
        eprintln!("postgres: {} alerts new to kawal_alerts", p.written());
    }
    if let Some(d) = delivery {
        finish_delivery(&d, &cfg, &metrics);
    }
    if summary.stats.events == 0 && format != Format::Native {
        bail!(
            "no event made from {input} as {format} (the {format} line above counts its records; is it {format}?)"
        );
    }
    if summary.stats.events == 0 {
        bail!(
            "no valid event in {input} ({} lines, {} blank, {} invalid): nothing was detected on (the warnings above say why)",
            summary.lines,
            summary.blank,
            summary.invalid_total()
        );
    }
    Ok(())
}

pub(crate) fn run_replay(
    mut input: Input,
    cfg: &Config,
    sink: &mut dyn Sink,
    state: Option<&Path>,
) -> Result<(Summary, Option<String>)> {
    let enricher = Enricher::open_static(&cfg.geoip)?;
    let pb = match input.len {
        Some(n) => bar(n, "replay"),
        None => ProgressBar::hidden(),
    };
    let reader = input.take_reader();
    let summary = kawal::replay::replay_with_state(
        reader,
        cfg,
        enricher,
        sink,
        &mut |b| pb.set_position(input.progress(b)),
        state,
    )?;
    pb.finish_and_clear();
    Ok((summary, input.report()))
}

/// Replay: waits (up to `delivery.replay_wait`) for the webhooks, then
/// says what each endpoint did and what stays in its outbox.
pub(crate) fn finish_delivery(d: &Delivery, cfg: &Config, metrics: &kawal::metrics::Metrics) {
    let wait = kawal::config::DeliveryConfig::duration(&cfg.delivery.replay_wait);
    d.wait_idle(wait);
    d.shutdown();
    let left = d.pending();
    let w = &metrics.webhooks;
    for e in &d.endpoints {
        let n = &[e.name.as_str()][..];
        let done = |o: &str| w.done.with_label_values(&[&e.name, o]).get();
        eprintln!(
            "webhook {}: {} accepted, {} delivered, {} dead-lettered, {} left in {}{}",
            e.name,
            w.accepted.with_label_values(n).get(),
            done("delivered"),
            done("dead_lettered"),
            e.outbox.backlog().0,
            e.outbox.dir().display(),
            e.disabled_reason()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    if left > 0 {
        eprintln!(
            "{left} alerts not yet delivered after {wait:?} (delivery.replay_wait) stay in the outbox; the next kawal run or replay with this config sends them"
        );
    }
}
