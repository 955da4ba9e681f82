//! `kawal evaluate`: alerts scored against a simulation's truth, and the
//! analyst played for the feedback experiment.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use kawal::eval;
use kawal::sim::Truth;

use super::read_alerts;

/// The options of `kawal evaluate` (its description is on `Command` in
/// main.rs).
#[derive(clap::Args)]
pub struct Args {
    /// The simulation's truth.json (which accounts were taken over, when).
    #[arg(long)]
    pub truth: PathBuf,
    /// Alerts as NDJSON (from `kawal replay --out` or the alerts topic).
    #[arg(long)]
    pub alerts: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Count only from this event time on (RFC 3339): alerts at or
    /// after it, takeovers that start after it, and the account-days
    /// after it.
    #[arg(long)]
    pub from: Option<String>,
    /// Play the analyst: write to --teach-out the events of --events
    /// with a false_positive verdict (a `feedback` event) on every
    /// false incident alerted before this time (RFC 3339). Replay that
    /// file and evaluate with --from to see what feedback removed.
    #[arg(long, requires_all = ["events", "teach_out"])]
    pub teach_before: Option<String>,
    /// The events the alerts came from (with --teach-before).
    #[arg(long, requires = "teach_before")]
    pub events: Option<PathBuf>,
    /// Where to write the events with the verdicts (with --teach-before).
    #[arg(long, requires = "teach_before")]
    pub teach_out: Option<PathBuf>,
    /// How long after an incident's last alert the analyst's verdict
    /// comes (with --teach-before).
    #[arg(long, default_value = "1h", requires = "teach_before")]
    pub teach_delay: String,
}

pub fn main(args: Args) -> Result<()> {
    let Args {
        truth,
        alerts,
        json,
        from,
        teach_before,
        events,
        teach_out,
        teach_delay,
    } = args;
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
        let verdicts =
            eval::false_positive_verdicts(&truth, &alerts, eval::DEFAULT_GRACE, before, delay)?;
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
        print!("{}", report.render_with_signals());
    }
    Ok(())
}

pub(crate) fn read_truth(path: &Path) -> Result<Truth> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read truth file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a truth file", path.display()))
}
