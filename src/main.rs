//! The `kawal` command line. Start-up and errors use anyhow; the library
//! stages below have their own typed errors.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use kawal::config::Config;
use kawal::detect::Alert;
use kawal::enrich::Enricher;
use kawal::eval;
use kawal::replay::{Summary, replay};
use kawal::sim::{self, SimConfig, Truth};
use kawal::sink::Sink;
use kawal::sink::ndjson::NdjsonSink;

#[derive(Parser)]
#[command(
    name = "kawal",
    version,
    about = "Streaming detector of account takeovers for institutional social media accounts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay NDJSON events (in event-time order) and write alerts as NDJSON.
    Replay {
        /// Events file, or - for standard input.
        input: String,
        /// Configuration file (layered over the embedded defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where alerts go (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Generate realistic activity with labelled takeovers.
    Simulate {
        #[arg(long, default_value_t = 200)]
        accounts: usize,
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Share of accounts taken over after the warm-up.
        #[arg(long, default_value_t = 0.05)]
        attack_share: f64,
        /// Output folder for events.ndjson and truth.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Score alerts against a simulation's truth.
    Evaluate {
        #[arg(long)]
        truth: PathBuf,
        #[arg(long)]
        alerts: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Simulate, replay and evaluate a small default set in one go.
    Demo {
        #[arg(long, default_value_t = 300)]
        accounts: usize,
        #[arg(long, default_value_t = 40)]
        days: u32,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Folder for the generated files (default: a temporary folder).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    Ok(Config::load(path, std::env::vars())?)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    // Hidden unless standard error is a terminal (indicatif checks too).
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:30}}] {{percent}}% {{binary_bytes_per_sec}} eta {{eta}}"
        ))
        .expect("template")
        .progress_chars("=> "),
    );
    pb
}

fn run_replay(input: &str, cfg: &Config, sink: &mut dyn Sink) -> Result<Summary> {
    let enricher = Enricher::open_static(&cfg.geoip)?;
    let (reader, len): (Box<dyn Read>, Option<u64>) = if input == "-" {
        (Box::new(io::stdin().lock()), None)
    } else {
        let f = File::open(input).with_context(|| format!("cannot open events file {input}"))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let pb = match len {
        Some(n) => bar(n, "replay"),
        None => ProgressBar::hidden(),
    };
    let summary = replay(reader, cfg, enricher, sink, &mut |b| pb.set_position(b))?;
    pb.finish_and_clear();
    Ok(summary)
}

fn open_out(out: Option<&Path>) -> Result<Box<dyn Write + Send>> {
    Ok(match out {
        Some(p) => Box::new(io::BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(io::stdout()),
    })
}

fn read_alerts(path: &Path) -> Result<Vec<Alert>> {
    let f =
        File::open(path).with_context(|| format!("cannot open alerts file {}", path.display()))?;
    let mut alerts = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        alerts.push(
            serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not an alert", path.display(), i + 1))?,
        );
    }
    Ok(alerts)
}

fn read_truth(path: &Path) -> Result<Truth> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read truth file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a truth file", path.display()))
}

fn run_simulate(cfg: &SimConfig, dir: &Path) -> Result<Truth> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let events_path = dir.join("events.ndjson");
    let mut f = File::create(&events_path)
        .with_context(|| format!("cannot create {}", events_path.display()))?;
    let pb = bar(cfg.accounts as u64, "simulate");
    let truth = sim::simulate(cfg, &mut f, &mut |n| pb.set_position(n as u64))?;
    pb.finish_and_clear();
    let truth_path = dir.join("truth.json");
    std::fs::write(&truth_path, serde_json::to_vec_pretty(&truth)?)
        .with_context(|| format!("cannot write {}", truth_path.display()))?;
    Ok(truth)
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kawal: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay { input, config, out } => {
            let cfg = load_config(config.as_deref())?;
            kawal::telemetry::init(&cfg.log);
            let mut sink = NdjsonSink::new(
                open_out(out.as_deref())?,
                out.is_none() && io::stdout().is_terminal(),
            );
            let summary = run_replay(&input, &cfg, &mut sink)?;
            eprintln!("{}", summary.render());
        }
        Command::Simulate {
            accounts,
            days,
            seed,
            attack_share,
            out,
        } => {
            if accounts == 0 || days == 0 {
                bail!("--accounts and --days must be at least 1");
            }
            if !(0.0..=1.0).contains(&attack_share) {
                bail!("--attack-share must be within 0..1");
            }
            let cfg = SimConfig {
                accounts,
                days,
                seed,
                attack_share,
                ..Default::default()
            };
            let truth = run_simulate(&cfg, &out)?;
            eprintln!(
                "wrote {} and {} ({} accounts, {} days, {} takeovers)",
                out.join("events.ndjson").display(),
                out.join("truth.json").display(),
                accounts,
                days,
                truth.takeovers.len()
            );
        }
        Command::Evaluate {
            truth,
            alerts,
            json,
        } => {
            let truth = read_truth(&truth)?;
            let alerts = read_alerts(&alerts)?;
            let report = eval::evaluate(&truth, &alerts, eval::DEFAULT_GRACE)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
        }
        Command::Demo {
            accounts,
            days,
            seed,
            out,
            config,
        } => {
            let cfg = load_config(config.as_deref())?;
            kawal::telemetry::init(&cfg.log);
            let tmp;
            let dir = match out {
                Some(d) => d,
                None => {
                    tmp = tempdir()?;
                    tmp.clone()
                }
            };
            let sim_cfg = SimConfig {
                accounts,
                days,
                seed,
                ..Default::default()
            };
            eprintln!("simulating {accounts} accounts over {days} days (seed {seed})...");
            let truth = run_simulate(&sim_cfg, &dir)?;
            let events = dir.join("events.ndjson");
            let alerts_path = dir.join("alerts.ndjson");
            let mut sink = NdjsonSink::new(io::BufWriter::new(File::create(&alerts_path)?), false);
            let summary = run_replay(
                events.to_str().context("path is not UTF-8")?,
                &cfg,
                &mut sink,
            )?;
            drop(sink);
            let alerts = read_alerts(&alerts_path)?;
            println!("== alerts (high and critical) ==");
            for a in alerts
                .iter()
                .filter(|a| a.severity >= kawal::detect::Severity::High)
            {
                println!(
                    "[{}] {} {} (score {:.1})",
                    a.severity, a.time, a.summary, a.score
                );
            }
            println!("\n== replay ==\n{}", summary.render());
            let report = eval::evaluate(&truth, &alerts, eval::DEFAULT_GRACE)?;
            println!(
                "\n== evaluation against {} injected takeovers ==\n{}",
                truth.takeovers.len(),
                report.render()
            );
            println!("files: {}", dir.display());
        }
    }
    Ok(())
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kawal-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
