//! Decode + detect throughput on one core, with the state of 1,000,000
//! accounts resident (events spread over all of them, so the state table is
//! as cache-hostile as in production). Run: `cargo bench --bench detect`.
//!
//! Two workloads. `decode+detect/1M accounts` is the original uniform one
//! (sign-ins from one network, posts, and a third of events of a type the
//! detector ignores), kept to compare with earlier figures. The
//! representative one, `decode+detect/simulation`, is `kawal simulate`'s
//! stream (2,000 accounts x 60 days: the mix of event types, networks,
//! devices, sessions, stories and takeovers the evaluation uses), played
//! in order onto the same 1,000,000-account detector, each iteration under
//! fresh account names (so every iteration learns its accounts from the
//! start, and new accounts evict old ones at the cap, as live).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kawal::config::Config;
use kawal::decode::decode;
use kawal::detect::Detector;
use kawal::sim::Rng;
use kawal::source::ndjson::scan_account;

const ACCOUNTS: u64 = 1_000_000;
const BATCH: usize = 100_000;

/// An event of account `acct`, or of a random one.
fn event(rng: &mut Rng, i: u64, day: u64, acct: Option<u64>) -> String {
    let acct = acct.unwrap_or_else(|| rng.below(ACCOUNTS));
    // Within a day, in order (a batch of 100,000 spans it once).
    let sec = (day * 86_400 + (i % 100_000) * 86_400 / 100_000) as i64 + 1_767_571_200; // from 2026-01-05
    let time = kawal::time::rfc3339(sec * 1000);
    match rng.below(3) {
        0 => format!(
            r#"{{"id":"e{i}","time":"{time}","account":"x:acct{acct}","type":"login","actor":"staff:{s}","outcome":"success","source":{{"ip":"36.72.{r}.9","asn":7713,"as_org":"Telkom Indonesia","country":"ID","city":"Jakarta","lat":-6.21,"lon":106.85,"accuracy_km":20}},"device":{{"id":"d-{acct}-{s}","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0","client":"web"}}}}"#,
            s = rng.below(3),
            r = rng.below(4)
        ),
        1 => format!(
            r#"{{"id":"e{i}","time":"{time}","account":"x:acct{acct}","type":"post","actor":"staff:0","device":{{"id":"d-{acct}-0","client":"web"}},"post":{{"client":"Hootsuite","links":["https://www.kominfo.go.id/berita/{i}"],"text_len":212}}}}"#
        ),
        _ => format!(
            r#"{{"id":"e{i}","time":"{time}","account":"x:acct{acct}","type":"comment_reply","actor":"staff:1","device":{{"id":"d-{acct}-1","client":"web"}}}}"#
        ),
    }
}

/// Decodes and detects `lines` as the replay does: each event's account
/// is hinted two events ahead, so its state loads while others run.
fn run(det: &mut Detector, lines: &[String], out: &mut Vec<kawal::detect::Alert>) {
    for (i, l) in lines.iter().enumerate() {
        if let Some(a) = lines.get(i + 2).and_then(|n| scan_account(n.as_bytes())) {
            det.hint(a);
        }
        let ev = decode(l.as_bytes()).unwrap();
        det.process(&ev, out);
        out.clear();
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng::new(42);
    let mut det = Detector::new(Config::default());
    det.reserve(ACCOUNTS as usize);
    let mut out = Vec::new();
    // Warm: every one of the 1,000,000 accounts exists, with some history
    // (taken in turn, so none is missed).
    for i in 0..(2 * ACCOUNTS) {
        let line = event(&mut rng, i, i / ACCOUNTS, Some(i % ACCOUNTS));
        det.process(&decode(line.as_bytes()).unwrap(), &mut out);
        out.clear();
    }
    assert_eq!(det.accounts() as u64, ACCOUNTS);
    let lines: Vec<String> = (0..BATCH as u64)
        .map(|i| event(&mut rng, 10_000_000 + i, 3, None))
        .collect();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    eprintln!(
        "state of {} accounts, batch of {BATCH} events, {} bytes/event",
        det.accounts(),
        bytes / BATCH
    );

    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(20);
    g.bench_function("decode", |b| {
        b.iter(|| {
            for l in &lines {
                std::hint::black_box(decode(l.as_bytes()).unwrap());
            }
        })
    });
    // Each iteration gets a batch of its own: new event ids (the detector
    // skips an account's repeated ids, so replaying one batch would time
    // the skip) a day later than the last (so none is late). Making it is
    // not timed.
    let mut round = 0u64;
    g.bench_function("decode+detect/1M accounts", |b| {
        b.iter_batched_ref(
            || {
                round += 1;
                (0..BATCH as u64)
                    .map(|i| event(&mut rng, 10_000_000 * (round + 1) + i, 3 + round, None))
                    .collect::<Vec<String>>()
            },
            |lines| run(&mut det, lines, &mut out),
            BatchSize::PerIteration,
        )
    });
    // The representative workload: 200,000 events of the simulation at a
    // time (its first twelve days of 2,000 accounts, then the next ones),
    // renamed per iteration.
    let sim = kawal::sim::SimConfig {
        accounts: 2000,
        days: 60,
        seed: 1,
        ..Default::default()
    };
    let mut buf = Vec::new();
    kawal::sim::simulate(&sim, &mut buf, &mut |_| {}).unwrap();
    let sim_lines: Vec<String> = String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let sim_bytes: usize = sim_lines.iter().map(|l| l.len()).sum();
    eprintln!(
        "simulation: {} events, {} bytes/event",
        sim_lines.len(),
        sim_bytes / sim_lines.len()
    );
    const SIM_BATCH: usize = 200_000;
    let mut round = 0usize;
    g.throughput(Throughput::Elements(SIM_BATCH as u64));
    g.bench_function("decode+detect/simulation", |b| {
        b.iter_batched_ref(
            || {
                round += 1;
                let chunk = (round - 1) % (sim_lines.len() / SIM_BATCH);
                sim_lines[chunk * SIM_BATCH..(chunk + 1) * SIM_BATCH]
                    .iter()
                    .map(|l| l.replacen(r#""account":""#, &format!(r#""account":"r{round}-"#), 1))
                    .collect::<Vec<String>>()
            },
            |lines| run(&mut det, lines, &mut out),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
