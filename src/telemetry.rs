//! Logging through tracing-subscriber.
//!
//! Logs go to standard error (standard output carries alerts): readable
//! text on a terminal, JSON lines for log shippers. `RUST_LOG` overrides
//! the configured level. Spans are per task (a replay shard, later a
//! partition worker), never per event.

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Installs the global subscriber. Safe to call more than once (later
/// calls are ignored), which keeps tests simple.
pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal, not in log files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if cfg.format == "json" {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.with_target(false).try_init()
    };
}
