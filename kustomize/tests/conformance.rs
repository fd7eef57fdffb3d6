//! Runs the conformance corpus: every case in `tests/corpus/` is built with kustomize-rs and
//! compared byte for byte with the output recorded from the real kustomize (`record.sh`), or,
//! for error cases, checked to fail with a message containing `expected.err`.

use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("tests/corpus exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input").is_dir())
        .collect();
    v.sort();
    v
}

fn first_difference(want: &str, got: &str) -> String {
    for (i, (a, b)) in want.lines().zip(got.lines()).enumerate() {
        if a != b {
            return format!(
                "line {}:\n  kustomize:    {a:?}\n  kustomize-rs: {b:?}",
                i + 1
            );
        }
    }
    format!(
        "lengths differ: kustomize {} lines, kustomize-rs {} lines",
        want.lines().count(),
        got.lines().count()
    )
}

#[test]
fn corpus_matches_kustomize() {
    let all = cases();
    let mut failures = Vec::new();
    let mut passed = 0;
    for case in &all {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fs = kustomize::DiskFs::new(case);
        let result = kustomize::build(&fs, Path::new("input"));
        let expected_yaml = case.join("expected.yaml");
        let expected_err = case.join("expected.err");
        let verdict = if expected_err.is_file() {
            let want = std::fs::read_to_string(&expected_err).unwrap_or_default();
            let want = want.trim_end_matches('\n');
            match result {
                Ok(_) => Err("built, but kustomize fails on this case".to_string()),
                Err(e) if e.to_string().contains(want) => Ok(()),
                Err(e) => Err(format!("error `{e}` does not contain `{want}`")),
            }
        } else {
            let want = std::fs::read_to_string(&expected_yaml)
                .unwrap_or_else(|_| panic!("{name}: no expected.yaml; run tests/corpus/record.sh"));
            match result {
                Ok(out) => {
                    let got = out.to_yaml();
                    if got == want {
                        Ok(())
                    } else {
                        Err(first_difference(&want, &got))
                    }
                }
                Err(e) => Err(format!("failed: {e}")),
            }
        };
        match verdict {
            Ok(()) => passed += 1,
            Err(m) => failures.push(format!("{name}: {m}")),
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    println!("corpus: {passed} passed, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases differ from kustomize",
        failures.len(),
        all.len()
    );
    assert!(
        all.len() >= 60,
        "the corpus should hold at least 60 cases, found {}",
        all.len()
    );
}
