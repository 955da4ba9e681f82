//! Resident memory per tracked account at 1,000,000 accounts.
//! Run: `cargo bench --bench memory` (prints the figure; fails above 1 KiB).

use kawal::config::Config;
use kawal::decode::decode;
use kawal::detect::Detector;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks harness-less benches to list
    }
    const N: usize = 1_000_000;
    let before = rss_bytes();
    let mut det = Detector::new(Config::default());
    let mut out = Vec::new();
    // A browser's agent names its platform (Windows here): an agent that
    // names none is automation (`networks.platform_tokens`) and would open
    // a case on every account, which is not the baseline this measures.
    for round in 0..3 {
        for i in 0..N {
            let line = format!(
                r#"{{"id":"e{round}-{i}","time":"2026-01-0{}T08:00:00Z","account":"x:acct{i}","type":"login","actor":"staff:{round}","outcome":"success","source":{{"ip":"36.72.{round}.9","asn":7713,"country":"ID","lat":-6.2,"lon":106.8}},"device":{{"id":"d-{i}-{round}","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"}}}}"#,
                5 + round
            );
            det.process(&decode(line.as_bytes()).unwrap(), &mut out);
            out.clear();
        }
    }
    let after = rss_bytes();
    let per = (after - before) as f64 / N as f64;
    println!(
        "accounts: {}, resident: {:.1} MiB, per account: {:.0} bytes (AccountState {} bytes, estimate {} bytes)",
        det.accounts(),
        (after - before) as f64 / (1 << 20) as f64,
        per,
        std::mem::size_of::<kawal::detect::AccountState>(),
        det.state_bytes() / N
    );
    assert!(per <= 1024.0, "over 1 KiB per account");
}
