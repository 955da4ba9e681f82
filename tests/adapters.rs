//! Adapters on public sample records: records in, native events out.
//!
//! Every file under `tests/data/adapters/<format>/` (sources and licences
//! in `tests/data/adapters/SOURCES.md`) is translated and compared with
//! its `.expected` file: the events, then one line counting the types not
//! mapped. The expected files were reviewed by hand against the vendors'
//! documentation (`docs/adapters/`). After an intended change, regenerate
//! them with `KAWAL_BLESS=1 cargo test --test adapters` and review the
//! diff.

use std::io::Read;

use kawal::adapt::{Format, Translate};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/adapters/");

fn samples(format: Format) -> Vec<std::path::PathBuf> {
    let dir = format!("{DIR}{}", format.as_str());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no samples in {dir}");
    files
}

fn golden(format: Format) {
    for path in samples(format) {
        let input = std::fs::read(&path).unwrap();
        let mut t = Translate::new(&input[..], format);
        let counts = t.counts();
        let mut out = String::new();
        t.read_to_string(&mut out).unwrap();
        let c = counts.lock().unwrap().clone();
        // The goal: every public sample record is mapped or counted as
        // an unmapped type; none is invalid.
        assert_eq!(c.invalid_total(), 0, "{}: {:?}", path.display(), c.invalid);
        assert!(c.records > 0);
        for line in out.lines() {
            kawal::decode::decode(line.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display()));
        }
        out.push_str(&format!(
            "# records {} events {} unmapped {:?}\n",
            c.records, c.events, c.unmapped
        ));
        let expected = path.with_extension("expected");
        if std::env::var_os("KAWAL_BLESS").is_some() {
            std::fs::write(&expected, &out).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expected)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with KAWAL_BLESS=1)", expected.display()));
        assert_eq!(
            out,
            want,
            "{} differs from {}",
            path.display(),
            expected.display()
        );
    }
}

#[test]
fn okta_samples() {
    golden(Format::Okta);
}

#[test]
fn entra_samples() {
    golden(Format::Entra);
}

#[test]
fn google_workspace_samples() {
    golden(Format::GoogleWorkspace);
}

#[test]
fn ocsf_samples() {
    golden(Format::Ocsf);
}
