//! `kawal alerts`: alerts as an analyst reads them, from a file, standard
//! input or the alerts topic.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{load_config, read_alerts};

/// The options of `kawal alerts` (its description is on `Command` in
/// main.rs).
#[derive(clap::Args)]
pub struct Args {
    /// Alerts as NDJSON (`kawal replay --out`, `[output] ndjson`), or -
    /// for standard input. Without it, the alerts topic is read.
    pub input: Option<String>,
    /// Read this topic instead (default: `kafka.alerts_topic`), from
    /// its start to its current end.
    #[arg(long, conflicts_with = "input")]
    pub topic: Option<String>,
    /// Brokers (default: `kafka.brokers` from the configuration).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Configuration file (for the brokers, topic and client settings).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Incidents whose highest severity is at least this (low, medium,
    /// high, critical).
    #[arg(long, value_name = "SEVERITY")]
    pub min_severity: Option<String>,
    /// Only this account (repeatable).
    #[arg(long)]
    pub account: Vec<String>,
}

pub fn main(args: Args) -> Result<()> {
    let Args {
        input,
        topic,
        brokers,
        config,
        min_severity,
        account,
    } = args;
    let min_severity = match min_severity.as_deref() {
        None => None,
        Some(s) => Some(kawal::detect::Severity::parse(s).with_context(|| {
            format!("--min-severity: {s:?} is not low, medium, high or critical")
        })?),
    };
    let filter = kawal::view::Filter {
        min_severity,
        accounts: account,
    };
    let alerts = match input.as_deref() {
        Some("-") => kawal::view::read_ndjson(io::stdin().lock(), "standard input")?,
        Some(path) => read_alerts(Path::new(path))?,
        None => {
            let mut cfg = load_config(config.as_deref())?;
            if let Some(b) = brokers {
                cfg.kafka.brokers = b;
            }
            let topic = topic.unwrap_or_else(|| cfg.kafka.alerts_topic.clone());
            if topic.is_empty() {
                bail!("no alerts topic: give a file, - for standard input, or --topic");
            }
            let client = kawal::kafka::client_config(&cfg.kafka, kawal::kafka::Role::Consumer);
            let (alerts, skipped) =
                kawal::view::read_topic(&client, &topic, std::time::Duration::from_secs(10))?;
            if skipped > 0 {
                eprintln!("{skipped} messages on {topic} were not alerts (skipped)");
            }
            alerts
        }
    };
    let list = kawal::view::incidents(alerts, &filter);
    print!("{}", kawal::view::render_all(&list));
    Ok(())
}
