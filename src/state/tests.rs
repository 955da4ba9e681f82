use super::*;
use crate::decode::decode;
use crate::sim::{SimConfig, simulate};

/// A detector that has seen a small simulated month (with takeovers, so
/// some accounts hold open cases).
fn detector(seed: u64) -> Detector {
    let mut buf = Vec::new();
    let sim = SimConfig {
        accounts: 30,
        days: 20,
        seed,
        attack_share: 0.3,
        warmup_days: 10,
        ..SimConfig::default()
    };
    simulate(&sim, &mut buf, &mut |_| {}).unwrap();
    let mut det = Detector::new(Config::default());
    let mut out = Vec::new();
    for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        det.process(&decode(line).unwrap(), &mut out);
    }
    assert!(det.accounts() == 30, "the simulation covers every account");
    det
}

/// `det` with an open case holding lock-out changes (a reset at home, one
/// from elsewhere, two-factor switched off by a known actor on a device),
/// so that a snapshot carries them: the simulation's small runs end with
/// none.
fn with_lockout(mut det: Detector) -> Detector {
    let mut out = Vec::new();
    // Rina signs in from the office for twelve days, then resets the
    // password there on a new phone: a lock-out change made at home
    // (format 9).
    let src = r#""source":{"ip":"36.72.14.9","asn":7713,"as_org":"PT Telekomunikasi Indonesia","country":"ID"}"#;
    for d in 0..12 {
        let line = format!(
            r#"{{"id":"in-{d}","time":"2026-01-{:02}T02:00:00Z","account":"x:golden-lockout","type":"login","outcome":"success","actor":"staff:rina","device":{{"id":"d-laptop"}},{src}}}"#,
            d + 18
        );
        det.process(&decode(line.as_bytes()).unwrap(), &mut out);
    }
    let reset = format!(
        r#"{{"id":"reset-1","time":"2026-01-31T23:50:00Z","account":"x:golden-lockout","type":"password_reset","actor":"staff:rina","device":{{"id":"d-phone-2"}},{src}}}"#
    );
    det.process(&decode(reset.as_bytes()).unwrap(), &mut out);
    // ... and someone resets it again from abroad: a reset from elsewhere.
    let line = br#"{"id":"reset-2","time":"2026-01-31T23:55:00Z","account":"x:golden-lockout","type":"password_reset","actor":"staff:rina","device":{"id":"d-phone-9"},"source":{"ip":"102.89.1.2","asn":29465,"as_org":"MTN Nigeria","country":"NG"}}"#;
    det.process(&decode(line).unwrap(), &mut out);
    let line = br#"{"id":"lock-1","time":"2026-02-01T00:00:00Z","account":"x:golden-lockout","type":"mfa_change","actor":"staff:rina","device":{"id":"d-golden"},"change":{"action":"disable"}}"#;
    det.process(&decode(line).unwrap(), &mut out);
    det
}

fn taken(p: i32) -> Taken<'static> {
    Taken {
        layout: Layout::Partition(p),
        group: "",
        topics: &[],
        offsets: &[],
        seq: 3,
        created_ms: 1_780_000_000_000,
    }
}

#[test]
fn a_snapshot_restores_the_same_state_through_a_file() {
    let det = detector(7);
    let snap = take(&det, &taken(4));
    assert_eq!(snap.manifest.slot, 1);
    assert_eq!(snap.manifest.accounts, 30);
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), &file_name(&Layout::Partition(4)), &snap).unwrap();
    assert!(path.ends_with("partition-4.kawal-state"));
    let back = read_file(&path).unwrap().expect("written");
    assert_eq!(back.manifest, snap.manifest);
    let restored = restore(&back, Config::default()).unwrap();
    assert_eq!(restored.state_bytes_exact(), det.state_bytes_exact());
    assert_eq!(restored.stats.accounts, 30);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn large_states_are_cut_into_chunks_under_the_message_limit() {
    let mut det = Detector::new(Config::default());
    let mut out = Vec::new();
    for i in 0..3000 {
        let line = format!(
            r#"{{"id":"e{i}","time":"2026-03-02T08:15:27Z","account":"x:acct{i}","type":"login","source":{{"ip":"10.0.{}.{}","asn":{},"country":"ID"}},"device":{{"id":"d{i}"}}}}"#,
            i % 250,
            i % 200,
            64_000 + i
        );
        det.process(&decode(line.as_bytes()).unwrap(), &mut out);
    }
    let snap = take(&det, &taken(0));
    assert!(snap.chunks.len() >= 2, "{} chunks", snap.chunks.len());
    assert!(snap.chunks.iter().all(|c| c.len() < 600_000));
    let back = restore(&snap, Config::default()).unwrap();
    assert_eq!(back.state_bytes_exact(), det.state_bytes_exact());
}

#[test]
fn corrupt_truncated_or_foreign_snapshots_are_refused_not_loaded() {
    let det = detector(8);
    let snap = take(&det, &taken(1));

    let mut bad = snap.clone();
    let last = bad.chunks[0].len() - 1;
    bad.chunks[0][last] ^= 0x40;
    assert!(matches!(
        restore(&bad, Config::default()),
        Err(StateError::Corrupt(_))
    ));

    let mut newer = snap.clone();
    newer.manifest.format = crate::detect::snapshot::STATE_FORMAT + 1;
    assert!(matches!(
        restore(&newer, Config::default()),
        Err(StateError::Incompatible(_))
    ));
    assert!(matches!(
        newer.manifest.check(&Layout::Partition(1), None),
        Err(StateError::Incompatible(_))
    ));
    assert!(matches!(
        snap.manifest.check(&Layout::Partition(2), None),
        Err(StateError::Incompatible(_))
    ));
    assert!(snap.manifest.check(&Layout::Partition(1), None).is_ok());

    let mut short = snap.clone();
    short.chunks.pop();
    assert!(matches!(
        restore(&short, Config::default()),
        Err(StateError::Corrupt(_))
    ));

    // Files: cut short, a flipped manifest byte, another format.
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "p.kawal-state", &snap).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for broken in [
        bytes[..bytes.len() - 3].to_vec(),
        {
            let mut b = bytes.clone();
            b[20] ^= 1;
            b
        },
        {
            let mut b = bytes.clone();
            b[7] = 9;
            b
        },
    ] {
        std::fs::write(&path, &broken).unwrap();
        assert!(matches!(read_file(&path), Err(StateError::Corrupt(_))));
    }
    assert!(read_file(&dir.path().join("absent")).unwrap().is_none());
}

#[test]
fn newness_compares_offsets_of_the_same_topics() {
    let det = detector(9);
    let topics = vec!["ev".to_string()];
    let at = |o: i64| {
        take(
            &det,
            &Taken {
                layout: Layout::Partition(0),
                group: "",
                topics: &topics,
                offsets: &[o],
                seq: 1,
                created_ms: 0,
            },
        )
        .manifest
    };
    assert!(at(10).at_least_as_new_as(&at(10)));
    assert!(at(11).at_least_as_new_as(&at(10)));
    assert!(!at(9).at_least_as_new_as(&at(10)));
    // A replay's seed (no offsets) is older than any live snapshot.
    let seed = take(&det, &taken(0)).manifest;
    assert!(at(0).at_least_as_new_as(&seed));
    assert!(!seed.at_least_as_new_as(&at(0)));
}

/// The state layout is pinned: a change to `AccountState` or to the body
/// must bump `STATE_FORMAT` (old snapshots are then refused, not misread).
/// The golden file, written by an earlier build, must load and write back
/// to the same bytes. When you bump the format, write a new golden file
/// with `KAWAL_BLESS=1 cargo test --lib golden`.
#[test]
fn golden_state_file_still_reads_as_written() {
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/data/state-format-{}.kawal-state",
        crate::detect::snapshot::STATE_FORMAT
    ));
    if std::env::var_os("KAWAL_BLESS").is_some() {
        let snap = take(&with_lockout(detector(11)), &taken(0));
        let name = golden.file_name().unwrap().to_str().unwrap();
        write_file(golden.parent().unwrap(), name, &snap).unwrap();
    }
    let snap = read_file(&golden)
        .unwrap()
        .expect("the golden state file of this STATE_FORMAT is committed");
    let back = restore(&snap, Config::default()).unwrap();
    assert_eq!(back.accounts(), 31);
    // The layouts that changed last must be in the file for this test to
    // notice the next change: open cases' lock-out changes with who made
    // them (format 7).
    let (held, known) = back.lockouts();
    assert!(
        known > 0,
        "{held} lock-out changes, {known} with who made them"
    );
    // ... and cases that paged, with the party they paged about (format 8).
    let (paged, known) = back.paged_cases();
    assert!(known > 0, "{paged} paged cases, {known} knowing by whom");
    // ... and a reset made at home, in a case with no reset from
    // elsewhere (format 9).
    let (home, elsewhere) = back.resets();
    assert!(home > 0, "{home} resets at home");
    assert!(
        elsewhere > 0,
        "{elsewhere} cases with a reset from elsewhere"
    );
    let again = take(&back, &taken(0));
    assert!(
        again.chunks == snap.chunks,
        "the state layout changed: bump STATE_FORMAT and bless a new golden file"
    );
}

/// A snapshot written before case evidence had subjects (format 1) still
/// loads: an upgrade keeps every baseline, and open cases carry on with
/// their evidence unnamed.
#[test]
fn format_1_state_still_loads() {
    older_state_still_loads(1);
}

/// A snapshot written before session sign-ins were kept (format 2) still
/// loads: they start empty.
#[test]
fn format_2_state_still_loads() {
    older_state_still_loads(2);
}

/// A snapshot written before the population's linked domains were kept
/// (format 3) still loads: the table is rebuilt from the accounts.
#[test]
fn format_3_state_still_loads() {
    older_state_still_loads(3);
}

/// The golden file of an older `format`, restored by this build.
fn restore_older(format: u32) -> Detector {
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/data/state-format-{format}.kawal-state"));
    let snap = read_file(&golden).unwrap().expect("the older golden file");
    assert_eq!(snap.manifest.format, format);
    restore(&snap, Config::default()).unwrap()
}

fn older_state_still_loads(format: u32) {
    let back = restore_older(format);
    assert_eq!(back.accounts(), 30);
    // Cases are where the layouts differed first: some must be in the file.
    assert!(back.open_cases() > 0);
    // Written back, it is the current format and reads again.
    let again = take(&back, &taken(0));
    assert_eq!(again.manifest.format, crate::detect::snapshot::STATE_FORMAT);
    assert_eq!(restore(&again, Config::default()).unwrap().accounts(), 30);
}

/// A snapshot written before a grant's trust could say "brought by a
/// newcomer" (format 4, a bool in the same byte) still loads.
#[test]
fn format_4_state_still_loads() {
    older_state_still_loads(4);
}

/// A snapshot written before the tables kept evicted keys (format 5)
/// still loads: none were evicted.
#[test]
fn format_5_state_still_loads() {
    older_state_still_loads(5);
}

/// A snapshot written before lock-out changes said who made them
/// (format 6) still loads: its open cases' changes count together.
#[test]
fn format_6_state_still_loads() {
    older_state_still_loads(6);
}

/// A snapshot written before cases kept when and by whom they paged
/// (format 7) still loads: a case that paged reads as paged at its last
/// evidence by a party unknown, so it never pages again for another party
/// (as under format 7), and written back it is the current format.
#[test]
fn format_7_state_still_loads() {
    let back = restore_older(7);
    assert_eq!(back.accounts(), 31);
    let (paged, known) = back.paged_cases();
    assert!(paged > 0, "the file holds cases that paged");
    assert_eq!(known, 0, "none knows by whom");
    let again = take(&back, &taken(0));
    assert_eq!(again.manifest.format, crate::detect::snapshot::STATE_FORMAT);
    let twice = restore(&again, Config::default()).unwrap();
    assert_eq!(twice.paged_cases(), (paged, 0));
}

/// A snapshot written before resets at home were told apart (format 8)
/// still loads: every reset in it counts as made elsewhere, as it did.
#[test]
fn format_8_state_still_loads() {
    let back = restore_older(8);
    assert_eq!(back.accounts(), 31);
    let (held, _) = back.lockouts();
    assert!(held > 0, "the file holds lock-out changes");
    let (home, elsewhere) = back.resets();
    assert_eq!(home, 0, "no lock-out change of format 8 is familiar");
    assert_eq!(
        elsewhere,
        back.cases_with_resets(),
        "every reset is from elsewhere"
    );
    let again = take(&back, &taken(0));
    assert_eq!(again.manifest.format, crate::detect::snapshot::STATE_FORMAT);
    let twice = restore(&again, Config::default()).unwrap();
    assert_eq!(twice.resets(), (home, elsewhere));
}

/// A keeper writing only local copies, in `dir`.
fn local_keeper(dir: &std::path::Path) -> keeper::Keeper {
    let mut cfg = Config::default();
    cfg.state.dir = dir.display().to_string();
    cfg.state.topic = String::new();
    keeper::Keeper::new(&cfg, std::sync::Arc::new(crate::metrics::Metrics::new())).unwrap()
}

fn part(det: Detector) -> keeper::Part {
    keeper::Part {
        partition: 2,
        det,
        next: vec![],
        seq: 0,
        dirty: true,
    }
}

/// A periodic snapshot is written by the writer thread (the worker only
/// takes it); a revoke's snapshot waits for it and lands after it, so the
/// file holds the newest state; dropping the keeper finishes what it
/// holds.
#[test]
fn periodic_snapshots_are_written_off_the_worker_and_a_revoke_lands_last() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(&Layout::Partition(2)));
    let keeper = local_keeper(dir.path());
    let mut p = part(detector(7));
    keeper.save(&mut p);
    assert!(!p.dirty, "taken and handed to the writer");
    assert_eq!(p.seq, 1);
    // The newer state: another detector's, as if more input came.
    p.det = detector(8);
    p.dirty = true;
    keeper.save_now(&mut p);
    assert_eq!(p.seq, 2);
    let back = read_file(&path).unwrap().expect("written");
    assert_eq!(back.manifest.seq, 1, "the revoke's snapshot is the last");
    let restored = restore(&back, Config::default()).unwrap();
    assert_eq!(restored.state_bytes_exact(), p.det.state_bytes_exact());

    // Periodic only, then the keeper goes: the write still completes.
    let dir2 = tempfile::tempdir().unwrap();
    let keeper2 = local_keeper(dir2.path());
    let mut q = part(detector(9));
    keeper2.save(&mut q);
    drop(keeper2);
    let back = read_file(&dir2.path().join(file_name(&Layout::Partition(2))))
        .unwrap()
        .expect("written by the writer before it stopped");
    assert_eq!(back.manifest.seq, 0);
}

/// A background write that fails makes the next interval snapshot again,
/// even with nothing new.
#[test]
fn a_failed_background_write_is_retried_at_the_next_interval() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the directory should be: every write fails.
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, b"x").unwrap();
    let keeper = local_keeper(&blocked);
    let mut p = part(detector(7));
    keeper.save(&mut p);
    keeper.save_now(&mut keeper::Part {
        partition: 3,
        det: Detector::new(Config::default()),
        next: vec![],
        seq: 0,
        dirty: false,
    }); // waits for the writer: partition 2's write has failed by now
    assert!(!p.dirty);
    keeper.save(&mut p);
    assert_eq!(p.seq, 2, "taken again although nothing changed");
}
