//! The generated corpus with planted incidents (`tripkey-corpus`) and the benchmark's matcher
//! of alerts against its ground truth, for the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The corpus generator, built beside `tripkey` by the workspace build.
pub fn corpus_generator() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_tripkey")).with_file_name("tripkey-corpus");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p tripkey-corpus` (scripts/test builds the whole workspace)",
        path.display()
    );
    path
}

pub fn python() -> std::ffi::OsString {
    std::env::var_os("TRIPKEY_TEST_PYTHON").unwrap_or_else(|| "python3".into())
}

/// Checks alerts (JSON lines) against the corpus's ground truth with the benchmark's matcher.
pub fn assert_truth(corpus: &Path, alerts: &str, what: &str) {
    let file = corpus.join(format!("alerts-{}.jsonl", what.replace(' ', "-")));
    std::fs::write(&file, alerts).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/compare_alerts.py");
    let output = Command::new(python())
        .arg(script)
        .arg(corpus.join("ground-truth.json"))
        .arg(&file)
        .output()
        .expect("python runs the alert matcher");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success()
            && report.contains("correctness: OK")
            && report.contains(" 0 repeats"),
        "{what}: the alerts are not the corpus truth:\n{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
