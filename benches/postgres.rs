//! PostgreSQL alert history: how many alerts a second the writer keeps up
//! with, and what it costs the process.
//!
//! Needs a database: `KAWAL_PG="host=/run/postgresql dbname=kawal_bench"
//! cargo bench --bench postgres` (scripts/postgres-e2e.sh shows how to
//! start a throwaway one). The tables are emptied first.
//!
//! 1. Catch-up: 100,000 alerts queued by two workers as fast as they can
//!    (batches of 20, as a worker's input batch carries them), until the
//!    last commit: alerts per second.
//! 2. Paced: 5,000 alerts a second for 10 s (the rate): the share
//!    of one core the sink and writer threads used (getrusage over the
//!    whole process, minus an idle baseline), and how far the writer fell
//!    behind.

use std::time::{Duration, Instant};

use kawal::detect::{Alert, AlertSignal, Severity};
use kawal::sink::postgres::Postgres;
use kawal::sink::{Ack, Sink};

fn alert(run: &str, i: u64) -> Alert {
    Alert {
        id: format!("al-{run}-{i:016x}"),
        account: format!("x:acct{}", i % 5000),
        time: kawal::time::rfc3339(kawal::time::wall_clock_ms()),
        detected_at: kawal::time::rfc3339(kawal::time::wall_clock_ms()),
        severity: Severity::ALL[(i % 4) as usize],
        score: 9.5,
        summary: "Likely takeover of x:acct: sign-in from NG, Lagos (never seen; usual: ID), then two-factor disabled".into(),
        signals: vec![
            AlertSignal { name: "new_country".into(), contribution: 3.1, detail: "NG never seen in 412 sign-ins (usual: ID)".into() },
            AlertSignal { name: "mfa_disabled_after_risky_login".into(), contribution: 4.0, detail: "two-factor disabled 6 min after the sign-in above".into() },
        ],
        events: vec![format!("e-{i}a"), format!("e-{i}b")],
        incident: format!("inc-{run}-{:016x}", i / 2),
        learning: false,
        first_event_time: kawal::time::rfc3339(kawal::time::wall_clock_ms()),
        recovery: vec![],
        trigger_ms: 0,
    }
}

fn cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() {
    let Ok(url) = std::env::var("KAWAL_PG") else {
        eprintln!(
            "set KAWAL_PG to a libpq connection string (see the comment at the top of benches/postgres.rs)"
        );
        std::process::exit(2);
    };
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    client.batch_execute(kawal::sink::postgres::SCHEMA).unwrap();
    client
        .batch_execute("TRUNCATE kawal_alerts, kawal_incidents")
        .unwrap();
    let pg = Postgres::start(&url, 1000).unwrap();

    // 1. Catch-up.
    let n = 100_000u64;
    let batches: Vec<Vec<Alert>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(20)
        .map(|c| c.iter().map(|i| alert("c", *i)).collect())
        .collect();
    let t = Instant::now();
    std::thread::scope(|s| {
        for w in 0..2 {
            let mut sink = pg.sink();
            let mine: Vec<&Vec<Alert>> = batches.iter().skip(w).step_by(2).collect();
            s.spawn(move || {
                for b in mine {
                    sink.send(b, &Ack::new()).unwrap();
                }
            });
        }
    });
    assert!(pg.wait_idle(Duration::from_secs(600)));
    let secs = t.elapsed().as_secs_f64();
    println!(
        "catch-up: {} alerts in {secs:.2} s = {:.0} alerts/s ({} new rows)",
        n,
        n as f64 / secs,
        pg.written()
    );

    // 2. Paced at 5,000 alerts/s for 10 s, in batches of 50 every 10 ms.
    let idle0 = cpu_seconds();
    std::thread::sleep(Duration::from_secs(2));
    let idle = (cpu_seconds() - idle0) / 2.0;
    let mut sink = pg.sink();
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    let mut i = 0u64;
    let mut behind_max = Duration::ZERO;
    for tick in 0..1000u32 {
        let due = Duration::from_millis(10) * tick;
        if let Some(wait) = due.checked_sub(t.elapsed()) {
            std::thread::sleep(wait);
        }
        let batch: Vec<Alert> = (0..50).map(|k| alert("p", i + k)).collect();
        i += 50;
        let ack = Ack::new();
        sink.send(&batch, &ack).unwrap();
        behind_max = behind_max.max(t.elapsed().saturating_sub(due));
    }
    assert!(pg.wait_idle(Duration::from_secs(60)));
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0 - idle * wall;
    println!(
        "paced: {i} alerts in {wall:.2} s ({:.0}/s); kawal's CPU for them {:.1}% of one core ({:.1} µs an alert); sends fell behind their schedule by at most {:.1} ms",
        i as f64 / wall,
        cpu / wall * 100.0,
        cpu / i as f64 * 1e6,
        behind_max.as_secs_f64() * 1000.0
    );
}
