//! `kawal simulate`: realistic activity with labelled takeovers.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use kawal::sim::{self, SimConfig, Truth};

use super::bar;

/// The options of `kawal simulate` (its description is on `Command` in
/// main.rs).
#[derive(clap::Args)]
pub struct Args {
    /// Institutional accounts to simulate.
    #[arg(long, default_value_t = 200)]
    pub accounts: usize,
    /// Days of activity.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Random seed (the same seed gives the same files).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of accounts taken over after the warm-up.
    #[arg(long, default_value_t = 0.05)]
    pub attack_share: f64,
    /// Attack styles and benign stories to leave out, comma-separated
    /// (to tune with them held back, then measure on them). Styles:
    /// credential_stuffing, foreign_phishing, session_hijack,
    /// oauth_consent, sim_swap_slow, admin_hijack, cookie_theft,
    /// local_proxy. Stories: agency, phone_replacement, cloud_desktop,
    /// scheduled_api, new_app, travel_new_device, forgotten_password,
    /// stale_password, handover, new_browser.
    #[arg(long, value_delimiter = ',')]
    pub without: Vec<String>,
    /// Output folder for events.ndjson and truth.json.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn main(args: Args) -> Result<()> {
    let Args {
        accounts,
        days,
        seed,
        attack_share,
        without,
        out,
    } = args;
    if accounts == 0 || days == 0 {
        bail!("--accounts and --days must be at least 1");
    }
    for w in &without {
        if !sim::STYLES.contains(&w.as_str()) && !sim::BEHAVIOURS.contains(&w.as_str()) {
            bail!("--without: {w:?} is neither an attack style nor a benign story (see --help)");
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
    Ok(())
}

pub(crate) fn run_simulate(cfg: &SimConfig, dir: &Path) -> Result<Truth> {
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
