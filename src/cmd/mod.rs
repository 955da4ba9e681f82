//! The commands, one file each, with their options: `main.rs` parses the
//! command line and dispatches. Start-up and errors use anyhow here; the
//! library's stages below have their own typed errors.

pub mod alerts;
pub mod demo;
pub mod evaluate;
pub mod produce;
pub mod replay;
pub mod run;
pub mod simulate;

use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use kawal::adapt::{Format, Input};
use kawal::config::Config;
use kawal::detect::Alert;

pub(crate) fn load_config(path: Option<&Path>) -> Result<Config> {
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
pub(crate) fn start_postgres(cfg: &Config) -> Result<Option<kawal::sink::postgres::Postgres>> {
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

pub(crate) fn bar(len: u64, what: &str) -> ProgressBar {
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

pub(crate) fn parse_format(s: &str) -> std::result::Result<Format, String> {
    Format::parse(s).ok_or_else(|| format!("{s:?} is not one of {}", Format::names()))
}

pub(crate) fn open_out(out: Option<&Path>) -> Result<Box<dyn Write + Send>> {
    Ok(match out {
        Some(p) => Box::new(io::BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(io::stdout()),
    })
}

pub(crate) fn read_alerts(path: &Path) -> Result<Vec<Alert>> {
    let f =
        File::open(path).with_context(|| format!("cannot open alerts file {}", path.display()))?;
    Ok(kawal::view::read_ndjson(
        BufReader::new(f),
        &path.display().to_string(),
    )?)
}

pub(crate) fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    match kawal::time::parse_duration(s) {
        Some(ms) if ms > 0 => Ok(std::time::Duration::from_millis(ms as u64)),
        _ => Err(format!("{s:?} is not a positive duration (like 30s, 5m)")),
    }
}

pub(crate) fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kawal-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes `path` whole or not at all: a temporary file beside it,
/// flushed to disk, then renamed over it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The events `replay` and `produce` read: a file and its format.
#[derive(clap::Args)]
pub struct EventsArg {
    /// Events file, or - for standard input.
    pub input: String,
    /// Input format: native (kawal's contract, docs/EVENTS.md) or a
    /// vendor log adapted on the way in: okta, entra, google_workspace,
    /// ocsf (docs/adapters/).
    #[arg(long, default_value = "native", value_parser = parse_format)]
    pub format: Format,
}

impl EventsArg {
    pub(crate) fn open(&self) -> Result<Input> {
        Input::open(&self.input, self.format)
            .with_context(|| format!("cannot open events file {}", self.input))
    }
}
