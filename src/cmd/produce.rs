//! `kawal produce`: an events file (native, or a vendor's log translated)
//! into a topic, keyed by account.

use std::path::PathBuf;

use anyhow::{Result, bail};
use indicatif::ProgressBar;

use super::{EventsArg, bar, load_config, parse_timeout};

/// The options of `kawal produce` (its description is on `Command` in
/// main.rs).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub events: EventsArg,
    /// The topic to produce to.
    #[arg(long)]
    pub topic: String,
    /// Brokers (default: `kafka.brokers` from the configuration).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Events per second (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Give up (exit 2) once the brokers have been unreachable this
    /// long, or a message is undelivered for this long ("30s", "5m").
    #[arg(long, default_value = "30s", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    /// Configuration file (layered over the embedded defaults; for
    /// `[kafka] brokers` and `[kafka.common]`/`[kafka.producer]`).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn main(args: Args) -> Result<()> {
    let Args {
        events,
        topic,
        brokers,
        rate,
        timeout,
        config,
    } = args;
    let mut cfg = load_config(config.as_deref())?;
    kawal::telemetry::init(&cfg.log);
    if let Some(b) = brokers {
        cfg.kafka.brokers = b;
    }
    if !(rate >= 0.0 && rate.is_finite()) {
        bail!("--rate must be a non-negative number");
    }
    let mut events = events.open()?;
    let pb = events
        .len
        .map_or_else(ProgressBar::hidden, |n| bar(n, "produce"));
    let producer = kawal::kafka::client_config(&cfg.kafka, kawal::kafka::Role::Producer);
    let out = kawal::produce::produce_within(
        events.take_reader(),
        &producer,
        &topic,
        rate,
        timeout,
        &mut |b| pb.set_position(events.progress(b)),
    )?;
    pb.finish_and_clear();
    if let Some(r) = events.report() {
        eprintln!("{r}");
    }
    eprintln!(
        "produced {} messages ({} without a readable account) to {topic} in {:.2}s, {:.0} messages/s",
        out.messages,
        out.unkeyed,
        out.seconds,
        out.messages as f64 / out.seconds.max(1e-9)
    );
    Ok(())
}
