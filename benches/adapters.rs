//! Adapter speed against a bare `serde_json` parse of the same records.
//!
//! For each format, the records of its public samples
//! (`tests/data/adapters/<format>/`, mapped and unmapped types as they
//! come) repeated to 10,000, three ways:
//! - `parse`: `serde_json::from_slice::<Value>` of each record, the floor
//!   every JSON adapter pays;
//! - `adapt`: the parse and the mapping to kawal events (what `kawal run`
//!   and the bench's goal measure: at least half the speed of `parse`);
//! - `translate`: the adapter and the native line it writes (what
//!   `kawal replay --format` and `kawal produce --format` do).
//!
//! Run: `cargo bench --bench adapters`. Figures: docs/BENCHMARKS.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kawal::adapt::{Batch, Format, adapt, write_native};
use serde_json::Value;

const RECORDS: usize = 10_000;

fn records(format: Format) -> Vec<Vec<u8>> {
    let dir = format!(
        "{}/tests/data/adapters/{}",
        env!("CARGO_MANIFEST_DIR"),
        format.as_str()
    );
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("samples") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "ndjson") {
            let text = std::fs::read_to_string(&path).expect("sample");
            lines.extend(text.lines().map(|l| l.as_bytes().to_vec()));
        }
    }
    assert!(!lines.is_empty(), "no samples in {dir}");
    lines.iter().cycle().take(RECORDS).cloned().collect()
}

fn bench(c: &mut Criterion) {
    for format in [
        Format::Okta,
        Format::Entra,
        Format::GoogleWorkspace,
        Format::Ocsf,
    ] {
        let recs = records(format);
        let mut g = c.benchmark_group(format!("adapter/{format}"));
        g.throughput(Throughput::Elements(recs.len() as u64));
        g.bench_function("parse", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for r in &recs {
                    let v: Value = serde_json::from_slice(r).expect("json");
                    n += v.is_object() as usize;
                }
                n
            })
        });
        g.bench_function("adapt", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for r in &recs {
                    let v: Value = serde_json::from_slice(r).expect("json");
                    let mut batch = Batch::default();
                    adapt(format, &v, &mut batch).expect("sample");
                    n += batch.events.len();
                }
                n
            })
        });
        let mut line = Vec::with_capacity(1024);
        g.bench_function("translate", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for r in &recs {
                    let v: Value = serde_json::from_slice(r).expect("json");
                    let mut batch = Batch::default();
                    adapt(format, &v, &mut batch).expect("sample");
                    for e in &batch.events {
                        line.clear();
                        write_native(e, &mut line);
                        n += line.len();
                    }
                }
                n
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
