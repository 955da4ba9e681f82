//! The fuzz harness: arbitrary bytes, read as NDJSON lines, decoded, then
//! detected on, with the invariants a stream processor must keep checked
//! after every event.
//!
//! One function serves the `cargo fuzz` target (`fuzz/fuzz_targets/`) and
//! the ordinary test that replays the fuzz corpus on every `cargo test`
//! (`tests/fuzz_corpus.rs`), so a crash the fuzzer found stays fixed.
//!
//! Each input runs through two detectors: one with the shipped defaults,
//! and one configured to reach deep states within a few lines (no learning
//! period, hair-trigger case thresholds, post-hour and link-domain
//! baselines trusted after one post), since a fuzzer rarely writes the
//! thirty events an account needs before most signals are computed.

use crate::config::Config;
use crate::decode::decode;
use crate::detect::{Alert, Detector};

/// The invariants checked after every event; a violation panics, which
/// the fuzzer and the tests report as a failure.
pub fn check_alert(alert: &Alert, budget: usize) {
    let json = serde_json::to_vec(alert).expect("an alert always serialises");
    assert!(
        json.len() <= budget,
        "alert of {} bytes over the {budget}-byte budget",
        json.len()
    );
    assert!(alert.score.is_finite(), "score {}", alert.score);
    for s in &alert.signals {
        assert!(s.contribution.is_finite(), "{} {}", s.name, s.contribution);
    }
}

/// A configuration that reaches every scoring path within a few events.
pub fn eager_config() -> Config {
    let mut cfg = Config::default();
    cfg.learning.min_days = 0;
    cfg.learning.min_events = 1;
    cfg.detect.open_threshold = 0.1;
    cfg.detect.join_threshold = 0.05;
    cfg.posting.min_posts_for_hours = 1;
    cfg.posting.burst_min_posts = 2;
    cfg.travel.regular_place_logins = 1;
    cfg.travel.min_distance_km = 1.0;
    // Eviction on nearly every new account, and for an hour's idleness.
    cfg.state.max_accounts = 2;
    cfg.state.idle_ttl = "1h".into();
    cfg
}

/// Decodes each line of `data` and feeds the valid events, in the order
/// given, to a default and an eager detector. Panics only on a broken
/// invariant (which is the bug the fuzzer looks for).
pub fn decode_then_detect(data: &[u8]) {
    let mut detectors = [
        Detector::new(Config::default()),
        Detector::new(eager_config()),
    ];
    let mut out: Vec<Alert> = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        let Ok(ev) = decode(line) else { continue };
        for det in detectors.iter_mut() {
            det.process(&ev, &mut out);
            let budget = det.config().detect.alert_max_bytes;
            for a in out.drain(..) {
                check_alert(&a, budget);
            }
            det.check_invariants(&ev.account);
        }
    }
    for det in &detectors {
        det.check_index();
    }
}
