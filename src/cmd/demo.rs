//! `kawal demo`: the whole pipeline on simulated activity and an
//! embedded Kafka.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use kawal::detect::Alert;
use kawal::sim::SimConfig;

use super::{load_config, tempdir, write_atomically};

/// The options of `kawal demo` (its description is on `Command` in
/// main.rs).
#[derive(clap::Args)]
pub struct Args {
    /// Institutional accounts to simulate.
    #[arg(long, default_value_t = 300)]
    pub accounts: usize,
    /// Days of activity.
    #[arg(long, default_value_t = 40)]
    pub days: u32,
    /// Random seed of the simulation.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Events per second into Kafka (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Partitions of the events topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Folder for the generated files (default: a temporary folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Configuration file (layered over the embedded defaults; the
    /// demo sets its own brokers and topics).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Once the results are out, keep the pipeline and /metrics up this
    /// many seconds (to look at the dashboard, or for a Prometheus to
    /// scrape); Ctrl-C or SIGTERM ends it early.
    #[arg(long, default_value_t = 0)]
    pub hold: u64,
}

pub fn main(args: Args) -> Result<()> {
    let Args {
        accounts,
        days,
        seed,
        rate,
        partitions,
        out,
        config,
        hold,
    } = args;
    let cfg = load_config(config.as_deref())?;
    kawal::telemetry::init(&cfg.log);
    if accounts == 0 || days == 0 || partitions < 1 {
        bail!("--accounts, --days and --partitions must be at least 1");
    }
    let dir = match out {
        Some(d) => d,
        None => tempdir()?,
    };
    let opts = kawal::demo::DemoOptions {
        sim: SimConfig {
            accounts,
            days,
            seed,
            ..Default::default()
        },
        rate,
        partitions,
        dir: dir.clone(),
        hold: std::time::Duration::from_secs(hold),
        interrupt: interrupt_on_signal()?,
    };
    eprintln!("kawal demo: {accounts} accounts over {days} days (seed {seed})");
    let mut print = |a: &Alert| {
        println!(
            "[{:>8}] {} {} (score {:.1}, incident {})",
            a.severity.as_str(),
            a.time,
            a.summary,
            a.score,
            a.incident
        );
    };
    kawal::demo::run(
        &opts,
        cfg,
        &mut print,
        &mut |step| eprintln!("- {step}"),
        &mut |outcome| print_demo(outcome, partitions, &dir),
    )?;
    Ok(())
}

/// The demo's results, printed and written (`alerts.ndjson`, atomically:
/// a signal never leaves half a file).
pub(crate) fn print_demo(
    outcome: &kawal::demo::DemoOutcome,
    partitions: i32,
    dir: &Path,
) -> io::Result<()> {
    let text: String = outcome
        .alerts
        .iter()
        .map(|a| serde_json::to_string(a).expect("alert") + "\n")
        .collect();
    write_atomically(&dir.join("alerts.ndjson"), text.as_bytes())?;
    println!(
        "\n== pipeline ==\n{} messages through Kafka, {} events detected on, {} invalid, {} alerts delivered, in {:.2}s",
        outcome.produced.messages,
        outcome.events,
        outcome.invalid,
        outcome.alerts.len(),
        outcome.seconds
    );
    println!(
        "replay of the same file (--partitions {partitions}): {} alerts, {} of them delivered by the Kafka run ({})",
        outcome.replay_alerts,
        outcome.replay_matched,
        if outcome.replay_matched == outcome.replay_alerts
            && outcome.replay_alerts == outcome.alerts.len()
        {
            "identical"
        } else {
            "DIFFERENT"
        }
    );
    println!(
        "webhook (signed, Standard Webhooks; a loopback receiver checked every signature): {} of {} alerts of medium severity and above delivered",
        outcome.webhook_verified, outcome.webhook_expected
    );
    println!(
        "\n== evaluation against {} injected takeovers ==\n{}",
        outcome.truth.takeovers.len(),
        outcome.report.render()
    );
    println!("files: {}", dir.display());
    io::stdout().flush()
}

/// A flag set by the first SIGINT or SIGTERM (the command then finishes
/// cleanly: stops, says what it has, exits 0); a second one exits at once.
pub(crate) fn interrupt_on_signal() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    let set = std::sync::Arc::clone(&flag);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("kawal-signals".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    return;
                };
                for _ in 0..2 {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                    if set.swap(true, Ordering::AcqRel) {
                        eprintln!("kawal: interrupted again; exiting now");
                        std::process::exit(130);
                    }
                    eprintln!("kawal: interrupted; finishing (again to exit now)");
                }
            })
        })?;
    Ok(flag)
}
