//! The fuzz target's corpus as an ordinary test: every seed
//! (`fuzz/seeds/`, the golden history and the hostile corpus in pieces)
//! and every input a fuzz run found worth keeping or that once crashed
//! it (`fuzz/regressions/`) goes through the same harness as
//! `cargo fuzz run decode_detect`: decode, detect, invariants checked.

use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_seed_and_regression_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = inputs(&root.join("seeds"));
    assert!(seeds.len() >= 20, "seed corpus missing: {}", seeds.len());
    let regressions = inputs(&root.join("regressions"));
    for path in seeds.iter().chain(&regressions) {
        let data = std::fs::read(path).unwrap();
        // A panic here names the file, which reproduces it under
        // `cargo fuzz run decode_detect FILE`.
        eprintln!("{}", path.display());
        kawal::fuzz::decode_then_detect(&data);
    }
}
