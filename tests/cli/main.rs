//! The `pi-agent render` command against the kustomize conformance corpus (recorded from the real
//! kustomize v5.8.1, see `kustomize/tests/corpus/record.sh`): byte-identical output, exit 0; the
//! error cases exit 2 with the message on stderr.

use std::path::PathBuf;
use std::process::Command;

fn corpus() -> Vec<PathBuf> {
    let dir = harness::repo_root().join("kustomize/tests/corpus");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input").is_dir())
        .collect();
    cases.sort();
    cases
}

#[test]
fn render_should_print_exactly_what_kustomize_build_prints() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in corpus() {
        let Ok(expected) = std::fs::read(case.join("expected.yaml")) else {
            continue;
        };
        let out = Command::new(harness::agent::binary())
            .arg("render")
            .arg(case.join("input"))
            .output()
            .expect("run pi-agent render");
        checked += 1;
        if out.status.code() != Some(0) || out.stdout != expected {
            failures.push(format!(
                "{}: exit {:?}\n{}",
                case.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(
        checked >= 60,
        "only {checked} cases with an expected output"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn render_errors_should_exit_2_with_the_message_on_stderr() {
    let mut checked = 0;
    for case in corpus() {
        let Ok(expected) = std::fs::read_to_string(case.join("expected.err")) else {
            continue;
        };
        let out = Command::new(harness::agent::binary())
            .arg("render")
            .arg(case.join("input"))
            .output()
            .expect("run pi-agent render");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", case.display());
        assert!(
            out.stdout.is_empty(),
            "{}: nothing on stdout",
            case.display()
        );
        assert!(
            stderr.starts_with("error: "),
            "{}: {stderr}",
            case.display()
        );
        let want = expected.lines().next().unwrap_or_default().trim();
        assert!(
            stderr.contains(want),
            "{}: expected `{want}` in {stderr}",
            case.display()
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} error cases");
}

#[test]
fn verify_should_accept_a_signed_commit_and_reject_an_unsigned_one() {
    use harness::TempDir;
    use harness::git::Repo;
    use harness::signing::SshSigner;
    let keys = TempDir::new("cli-keys");
    let dev = SshSigner::generate(keys.path(), "dev", "dev@example.com");
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(&allowed, dev.allowed_signers_line()).expect("allowed_signers");
    let mut repo = Repo::new();
    repo.sign_with(Some(&dev));
    let c1 = repo.commit(&[("a.yaml", "a: 1\n")], "signed");
    let repo_path = repo.path().display().to_string();
    let verify = |args: &[&str]| {
        let out = Command::new(harness::agent::binary())
            .arg("verify")
            .args(["--repo", &repo_path])
            .args(args)
            .output()
            .expect("run pi-agent verify");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let allowed = allowed.display().to_string();
    let (code, stdout, stderr) = verify(&["--ref", "main", "--allowed-signers", &allowed]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), c1);
    assert!(stderr.contains("signed by dev@example.com"), "{stderr}");

    repo.sign_with(None);
    let c2 = repo.commit(&[("a.yaml", "a: 2\n")], "unsigned");
    let (code, stdout, _) = verify(&["--ref", "main", "--allowed-signers", &allowed]);
    assert_eq!(code, Some(1));
    assert!(
        stdout.starts_with(&format!("rejected: {}", &c2[..12])) && stdout.contains("not signed"),
        "{stdout}"
    );

    // AllSince from c1: the unsigned commit after it is named.
    repo.sign_with(Some(&dev));
    repo.commit(&[("a.yaml", "a: 3\n")], "signed on top");
    let (code, stdout, _) = verify(&[
        "--ref",
        "main",
        "--allowed-signers",
        &allowed,
        "--since",
        &c1,
    ]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains(&c2[..12]), "{stdout}");

    let (code, _, stderr) = verify(&["--ref", "main"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("trust material"), "{stderr}");
    let (code, _, _) = verify(&["--ref", "nope", "--allowed-signers", &allowed]);
    assert_eq!(code, Some(2));
}
