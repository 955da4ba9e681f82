//! Bounded memory: a stream over 10,000,000 distinct accounts through one
//! detector capped at `state.max_accounts = 1,000,000`, against the same
//! workload over 1,000,000 accounts (nothing to evict). Reports resident
//! memory and decode + detect throughput of each.
//! Run: `cargo bench --bench bounded` (about a minute; needs ~2 GB).
//!
//! Workload: every account is first seen once (a sign-in), in turn; then
//! 3,000,000 events (sign-ins and posts) fall on accounts drawn at random
//! from the whole population, timed. Over 10,000,000 accounts nine events
//! in ten are of an account that was evicted: it is created again, and
//! another is evicted to make room. Lines are made ahead in blocks of
//! 100,000; only decode + detect is timed.

use std::time::{Duration, Instant};

use kawal::config::Config;
use kawal::decode::decode;
use kawal::detect::Detector;
use kawal::sim::Rng;

const CAP: usize = 1_000_000;
const MEASURED: u64 = 3_000_000;
const BLOCK: u64 = 100_000;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn line(i: u64, acct: u64, kind: u64) -> String {
    // Ten seconds apart in event time: 3M events span about a year, so
    // the default idle_ttl (180 days) evicts a little too, as in life.
    let time = kawal::time::rfc3339((1_767_571_200 + i as i64 * 10) * 1000);
    if kind == 0 {
        format!(
            r#"{{"id":"e{i}","time":"{time}","account":"x:acct{acct}","type":"login","actor":"staff:{s}","outcome":"success","source":{{"ip":"36.72.{s}.9","asn":7713,"as_org":"Telkom Indonesia","country":"ID","lat":-6.2,"lon":106.8}},"device":{{"id":"d-{acct}-{s}","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"}}}}"#,
            s = i % 3
        )
    } else {
        format!(
            r#"{{"id":"e{i}","time":"{time}","account":"x:acct{acct}","type":"post","actor":"staff:0","device":{{"id":"d-{acct}-0","client":"web"}},"post":{{"client":"Hootsuite","links":["https://www.antaranews.com/{i}"],"text_len":212}}}}"#
        )
    }
}

/// Feeds `n` events made by `make(i)`, in blocks; returns the time spent
/// in decode + detect.
fn feed(det: &mut Detector, n: u64, mut make: impl FnMut(u64) -> String) -> Duration {
    let mut out = Vec::new();
    let mut spent = Duration::ZERO;
    let mut block = Vec::with_capacity(BLOCK as usize);
    let mut i = 0;
    while i < n {
        block.clear();
        let end = (i + BLOCK).min(n);
        block.extend((i..end).map(&mut make));
        let started = Instant::now();
        for l in &block {
            det.process(&decode(l.as_bytes()).unwrap(), &mut out);
            out.clear();
        }
        spent += started.elapsed();
        i = end;
    }
    spent
}

/// One run over `population` accounts; returns events/s and resident bytes.
fn run(population: u64) -> (f64, usize) {
    let before = rss_bytes();
    let mut cfg = Config::default();
    cfg.state.max_accounts = CAP;
    let mut det = Detector::new(cfg);
    det.reserve(CAP);
    // Everyone once, in turn.
    feed(&mut det, population, |i| line(i, i, 0));
    let mut rng = Rng::new(7);
    let spent = feed(&mut det, MEASURED, |i| {
        line(population + i, rng.below(population), rng.below(2))
    });
    let rss = rss_bytes().saturating_sub(before);
    let rate = MEASURED as f64 / spent.as_secs_f64();
    println!(
        "{population:>10} accounts, cap {CAP}: tracked {}, evicted {}, resident {:.0} MiB ({:.0} bytes per tracked account), decode+detect {:.0} events/s",
        det.accounts(),
        det.stats.evicted,
        rss as f64 / (1 << 20) as f64,
        rss as f64 / det.accounts() as f64,
        rate
    );
    assert!(det.accounts() <= CAP);
    (rate, rss)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks harness-less benches to list
    }
    let (base, _) = run(CAP as u64);
    let (big, rss) = run(10 * CAP as u64);
    println!(
        "10M accounts within the cap: resident {:.2} GB (goal < 1.2 GB), throughput {:.1}% of the 1M-account run (goal >= 90%)",
        rss as f64 / 1e9,
        100.0 * big / base
    );
}
