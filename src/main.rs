//! The `kawal` command line. Start-up and errors use anyhow; the library
//! stages below have their own typed errors.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use kawal::adapt::{Format, Input};
use kawal::config::Config;
use kawal::detect::Alert;
use kawal::enrich::Enricher;
use kawal::eval;
use kawal::replay::Summary;
use kawal::sim::{self, SimConfig, Truth};
use kawal::sink::ndjson::NdjsonSink;
use kawal::sink::webhook::Delivery;
use kawal::sink::{Fanout, Sink};

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
        /// Input format: native (kawal's contract, docs/EVENTS.md) or a
        /// vendor log adapted on the way in: okta, entra, google_workspace,
        /// ocsf (docs/adapters/).
        #[arg(long, default_value = "native", value_parser = parse_format)]
        format: Format,
        /// Configuration file (layered over the embedded defaults). Its
        /// [[webhooks]] get the alerts too, through their outboxes; the
        /// replay waits up to delivery.replay_wait for them (docs/DELIVERY.md).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where alerts go (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Split accounts as a Kafka topic with this many partitions would
        /// (one detector per partition), to reproduce `kawal run` exactly.
        #[arg(long)]
        partitions: Option<u32>,
        /// Detector state directory: start from the state saved there (if
        /// any) and save the state there at the end, so history can be
        /// replayed in parts, and a deployment seeded (see docs/STATE.md).
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
    },
    /// Generate realistic activity with labelled takeovers.
    Simulate {
        /// Institutional accounts to simulate.
        #[arg(long, default_value_t = 200)]
        accounts: usize,
        /// Days of activity.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Random seed (the same seed gives the same files).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Share of accounts taken over after the warm-up.
        #[arg(long, default_value_t = 0.05)]
        attack_share: f64,
        /// Attack styles and benign stories to leave out, comma-separated
        /// (to tune with them held back, then measure on them). Styles:
        /// credential_stuffing, foreign_phishing, session_hijack,
        /// oauth_consent, sim_swap_slow, admin_hijack, cookie_theft,
        /// local_proxy. Stories: agency, phone_replacement, cloud_desktop,
        /// scheduled_api, new_app, travel_new_device.
        #[arg(long, value_delimiter = ',')]
        without: Vec<String>,
        /// Output folder for events.ndjson and truth.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Score alerts against a simulation's truth.
    Evaluate {
        /// The simulation's truth.json (which accounts were taken over, when).
        #[arg(long)]
        truth: PathBuf,
        /// Alerts as NDJSON (from `kawal replay --out` or the alerts topic).
        #[arg(long)]
        alerts: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Count only from this event time on (RFC 3339): alerts at or
        /// after it, takeovers that start after it, and the account-days
        /// after it.
        #[arg(long)]
        from: Option<String>,
        /// Play the analyst: write to --teach-out the events of --events
        /// with a false_positive verdict (a `feedback` event) on every
        /// false incident alerted before this time (RFC 3339). Replay that
        /// file and evaluate with --from to see what feedback removed.
        #[arg(long, requires_all = ["events", "teach_out"])]
        teach_before: Option<String>,
        /// The events the alerts came from (with --teach-before).
        #[arg(long, requires = "teach_before")]
        events: Option<PathBuf>,
        /// Where to write the events with the verdicts (with --teach-before).
        #[arg(long, requires = "teach_before")]
        teach_out: Option<PathBuf>,
        /// How long after an incident's last alert the analyst's verdict
        /// comes (with --teach-before).
        #[arg(long, default_value = "1h", requires = "teach_before")]
        teach_delay: String,
    },
    /// Read alerts as an analyst does: one block per incident, in time
    /// order, escalations folded in (from a file, standard input or the
    /// alerts topic).
    Alerts {
        /// Alerts as NDJSON (`kawal replay --out`, `[output] ndjson`), or -
        /// for standard input. Without it, the alerts topic is read.
        input: Option<String>,
        /// Read this topic instead (default: `kafka.alerts_topic`), from
        /// its start to its current end.
        #[arg(long, conflicts_with = "input")]
        topic: Option<String>,
        /// Brokers (default: `kafka.brokers` from the configuration).
        #[arg(long)]
        brokers: Option<String>,
        /// Configuration file (for the brokers, topic and client settings).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Incidents whose highest severity is at least this (low, medium,
        /// high, critical).
        #[arg(long, value_name = "SEVERITY")]
        min_severity: Option<String>,
        /// Only this account (repeatable).
        #[arg(long)]
        account: Vec<String>,
    },
    /// Join the consumer group and detect takeovers in the configured
    /// topics, delivering alerts at least once (stop with Ctrl-C/SIGTERM).
    Run {
        /// Configuration file (layered over the embedded defaults; `[kafka]`
        /// names the brokers, group and topics).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Load an NDJSON events file into a topic, keyed by account.
    Produce {
        /// Events file, or - for standard input.
        input: String,
        /// Input format: native (kawal's contract, docs/EVENTS.md) or a
        /// vendor log adapted on the way in: okta, entra, google_workspace,
        /// ocsf (docs/adapters/).
        #[arg(long, default_value = "native", value_parser = parse_format)]
        format: Format,
        /// The topic to produce to.
        #[arg(long)]
        topic: String,
        /// Brokers (default: `kafka.brokers` from the configuration).
        #[arg(long)]
        brokers: Option<String>,
        /// Events per second (0: as fast as possible).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Give up (exit 2) once the brokers have been unreachable this
        /// long, or a message is undelivered for this long ("30s", "5m").
        #[arg(long, default_value = "30s", value_parser = parse_timeout)]
        timeout: std::time::Duration,
        /// Configuration file (layered over the embedded defaults; for
        /// `[kafka] brokers` and `[kafka.common]`/`[kafka.producer]`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Simulate activity, run it through an embedded Kafka and the full
    /// pipeline, print alerts as they fire, and evaluate them.
    Demo {
        /// Institutional accounts to simulate.
        #[arg(long, default_value_t = 300)]
        accounts: usize,
        /// Days of activity.
        #[arg(long, default_value_t = 40)]
        days: u32,
        /// Random seed of the simulation.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Events per second into Kafka (0: as fast as possible).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Partitions of the events topic.
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        /// Folder for the generated files (default: a temporary folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Configuration file (layered over the embedded defaults; the
        /// demo sets its own brokers and topics).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Once the results are out, keep the pipeline and /metrics up this
        /// many seconds (to look at the dashboard, or for a Prometheus to
        /// scrape); Ctrl-C or SIGTERM ends it early.
        #[arg(long, default_value_t = 0)]
        hold: u64,
    },
    /// Print a completion script for a shell (bash, zsh, fish, elvish,
    /// powershell): `kawal completions bash > /etc/bash_completion.d/kawal`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `kawal man > kawal.1 && man ./kawal.1`.
    Man,
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    let cfg = Config::load(path, std::env::vars())?;
    if !cfg.suppressions.file.is_empty() {
        let n = kawal::suppress::shared()
            .watch(Path::new(&cfg.suppressions.file))
            .context("suppressions.file")?;
        tracing::info!(file = %cfg.suppressions.file, rules = n, "suppressions in force");
    }
    Ok(cfg)
}

/// The PostgreSQL writer, when `[postgres]` names a database.
fn start_postgres(cfg: &Config) -> Result<Option<kawal::sink::postgres::Postgres>> {
    if cfg.postgres.connection().is_none() && !cfg.postgres.url_env.is_empty() {
        bail!(
            "postgres.url_env names {:?}, which is unset or empty",
            cfg.postgres.url_env
        );
    }
    cfg.postgres
        .connection()
        .map(|url| kawal::sink::postgres::Postgres::start(&url, cfg.postgres.batch))
        .transpose()
        .context("postgres.url")
}

/// Reloads the suppressions file (SIGHUP, or a change seen by polling),
/// logging the outcome; the rules in force stay when the file is bad.
fn reload_suppressions(outcome: Option<Result<usize, kawal::suppress::SuppressError>>) {
    match outcome {
        None => {}
        Some(Ok(n)) => tracing::info!(rules = n, "suppressions reloaded"),
        Some(Err(e)) => {
            tracing::error!(error = %e, "suppressions not reloaded; the previous rules stay")
        }
    }
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

fn parse_format(s: &str) -> std::result::Result<Format, String> {
    Format::parse(s).ok_or_else(|| format!("{s:?} is not one of {}", Format::names()))
}

fn run_replay(
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
    Ok(kawal::view::read_ndjson(
        BufReader::new(f),
        &path.display().to_string(),
    )?)
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

/// Replay: waits (up to `delivery.replay_wait`) for the webhooks, then
/// says what each endpoint did and what stays in its outbox.
fn finish_delivery(d: &Delivery, cfg: &Config, metrics: &kawal::metrics::Metrics) {
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

/// `kawal run`: starts the pipeline and stops it cleanly on SIGINT or
/// SIGTERM, or when a worker fails. Signals are the async edge: a small
/// tokio runtime waits for them while the workers run on their threads.
fn run_pipeline(cfg: &Config) -> Result<()> {
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

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Output piped into `head` and the like: the reader is done.
            if let Some(io) = e.downcast_ref::<io::Error>()
                && io.kind() == io::ErrorKind::BrokenPipe
            {
                return std::process::ExitCode::SUCCESS;
            }
            eprintln!("kawal: {e:#}");
            // An interrupted run is the user's choice, not bad input.
            if let Some(kawal::demo::DemoError::Interrupted) = e.downcast_ref() {
                return std::process::ExitCode::from(130);
            }
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "kawal", &mut io::stdout());
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(&mut io::stdout())?;
        }
        Command::Replay {
            input,
            format,
            config,
            out,
            partitions,
            state,
        } => {
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
            let events = Input::open(&input, format)
                .with_context(|| format!("cannot open events file {input}"))?;
            let (summary, adapted) =
                run_replay(events, &cfg, &mut Fanout(sinks), state.as_deref())?;
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
            if summary.stats.events == 0 {
                bail!(
                    "no valid event in {input} ({} lines, {} blank, {} invalid): nothing was detected on (the warnings above say why)",
                    summary.lines,
                    summary.blank,
                    summary.invalid_total()
                );
            }
        }
        Command::Simulate {
            accounts,
            days,
            seed,
            attack_share,
            without,
            out,
        } => {
            if accounts == 0 || days == 0 {
                bail!("--accounts and --days must be at least 1");
            }
            for w in &without {
                if !sim::STYLES.contains(&w.as_str()) && !sim::BEHAVIOURS.contains(&w.as_str()) {
                    bail!(
                        "--without: {w:?} is neither an attack style nor a benign story (see --help)"
                    );
                }
            }
            if sim::STYLES.iter().all(|s| without.iter().any(|w| w == s)) {
                bail!("--without leaves no attack style");
            }
            if !(0.0..=1.0).contains(&attack_share) {
                bail!("--attack-share must be within 0..1");
            }
            let cfg = SimConfig {
                accounts,
                days,
                seed,
                attack_share,
                without,
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
            from,
            teach_before,
            events,
            teach_out,
            teach_delay,
        } => {
            let truth = read_truth(&truth)?;
            let alerts = read_alerts(&alerts)?;
            let time = |flag: &str, v: &str| {
                kawal::time::parse_rfc3339(v)
                    .with_context(|| format!("{flag}: {v:?} is not an RFC 3339 time"))
            };
            if let (Some(before), Some(events), Some(out)) = (teach_before, events, teach_out) {
                let before = time("--teach-before", &before)?;
                let delay = kawal::time::parse_duration(&teach_delay).with_context(|| {
                    format!("--teach-delay: {teach_delay:?} is not a duration (like 1h)")
                })?;
                let verdicts = eval::false_positive_verdicts(
                    &truth,
                    &alerts,
                    eval::DEFAULT_GRACE,
                    before,
                    delay,
                )?;
                let input = std::fs::File::open(&events)
                    .with_context(|| format!("--events {}", events.display()))?;
                let output = std::fs::File::create(&out)
                    .with_context(|| format!("--teach-out {}", out.display()))?;
                eval::merge_events(
                    std::io::BufReader::new(input),
                    &verdicts,
                    std::io::BufWriter::new(output),
                )
                .with_context(|| format!("writing {}", out.display()))?;
                eprintln!(
                    "wrote {} with {} false_positive verdicts",
                    out.display(),
                    verdicts.len()
                );
            }
            let from = from.map(|f| time("--from", &f)).transpose()?;
            let report = eval::evaluate_from(&truth, &alerts, eval::DEFAULT_GRACE, from)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
        }
        Command::Alerts {
            input,
            topic,
            brokers,
            config,
            min_severity,
            account,
        } => {
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
                    let client =
                        kawal::kafka::client_config(&cfg.kafka, kawal::kafka::Role::Consumer);
                    let (alerts, skipped) = kawal::view::read_topic(
                        &client,
                        &topic,
                        std::time::Duration::from_secs(10),
                    )?;
                    if skipped > 0 {
                        eprintln!("{skipped} messages on {topic} were not alerts (skipped)");
                    }
                    alerts
                }
            };
            let list = kawal::view::incidents(alerts, &filter);
            print!("{}", kawal::view::render_all(&list));
        }
        Command::Run { config } => {
            let cfg = load_config(config.as_deref())?;
            kawal::telemetry::init(&cfg.log);
            run_pipeline(&cfg)?;
        }
        Command::Produce {
            input,
            format,
            topic,
            brokers,
            rate,
            timeout,
            config,
        } => {
            let mut cfg = load_config(config.as_deref())?;
            kawal::telemetry::init(&cfg.log);
            if let Some(b) = brokers {
                cfg.kafka.brokers = b;
            }
            if !(rate >= 0.0 && rate.is_finite()) {
                bail!("--rate must be a non-negative number");
            }
            let mut events = Input::open(&input, format)
                .with_context(|| format!("cannot open events file {input}"))?;
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
        }
        Command::Demo {
            accounts,
            days,
            seed,
            rate,
            partitions,
            out,
            config,
            hold,
        } => {
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
        }
    }
    Ok(())
}

/// The demo's results, printed and written (`alerts.ndjson`, atomically:
/// a signal never leaves half a file).
fn print_demo(outcome: &kawal::demo::DemoOutcome, partitions: i32, dir: &Path) -> io::Result<()> {
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

/// Writes `path` whole or not at all: a temporary file beside it,
/// flushed to disk, then renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A flag set by the first SIGINT or SIGTERM (the command then finishes
/// cleanly: stops, says what it has, exits 0); a second one exits at once.
fn interrupt_on_signal() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
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

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    match kawal::time::parse_duration(s) {
        Some(ms) if ms > 0 => Ok(std::time::Duration::from_millis(ms as u64)),
        _ => Err(format!("{s:?} is not a positive duration (like 30s, 5m)")),
    }
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kawal-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_and_option_has_help() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        let mut missing = Vec::new();
        for cmd in cli.get_subcommands() {
            if cmd.get_about().is_none() {
                missing.push(format!("kawal {}", cmd.get_name()));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("kawal {} {id}", cmd.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "no help: {missing:?}");
    }
}
