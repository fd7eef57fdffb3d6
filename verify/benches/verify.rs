//! Verification throughput, commits per second, next to `git verify-commit` (which runs
//! `ssh-keygen` or `gpg` per commit) when git is installed.
//!
//! ```sh
//! cd verify && cargo bench --bench verify
//! ```

use pi_verify::{AllowedSigners, OpenPgpKeyring, TrustPolicy, verify_commit};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(path)).expect("fixture (bash verify/tests/fixtures/record.sh)")
}

/// Runs `f` for about `budget`, returns calls per second.
fn per_second(budget: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// `git verify-commit` throughput on the same object, or None when git/ssh-keygen/gpg fail.
fn git_per_second(commit: &str, ssh: bool, runs: u32) -> Option<f64> {
    let dir = std::env::temp_dir().join(format!("pi-verify-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    let ok = |c: &mut Command| c.status().ok().filter(|s| s.success()).map(|_| ());
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.arg("-C")
            .arg(&dir)
            .args(args)
            .env("GNUPGHOME", dir.join("gnupg"));
        c
    };
    let result = (|| {
        ok(git(&["init", "-q"]).stdout(std::process::Stdio::null()))?;
        let out = git(&["hash-object", "-t", "commit", "-w", "--literally"])
            .arg(fixtures().join(commit))
            .output()
            .ok()?;
        let id = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        let mut verify = git(&[]);
        if ssh {
            verify.arg("-c").arg(format!(
                "gpg.ssh.allowedSignersFile={}",
                fixtures().join("ssh/allowed_signers").display()
            ));
        } else {
            let home = dir.join("gnupg");
            std::fs::create_dir_all(&home).ok()?;
            ok(Command::new("gpg")
                .args(["--batch", "--quiet", "--homedir"])
                .arg(&home)
                .arg("--import")
                .arg(fixtures().join("pgp/keyring.asc"))
                .stderr(std::process::Stdio::null()))?;
        }
        verify
            .args(["verify-commit", &id])
            .stderr(std::process::Stdio::null());
        ok(&mut verify)?;
        let start = Instant::now();
        for _ in 0..runs {
            ok(&mut verify)?;
        }
        Some(f64::from(runs) / start.elapsed().as_secs_f64())
    })();
    if !ssh {
        let _ = Command::new("gpgconf")
            .args(["--homedir"])
            .arg(dir.join("gnupg"))
            .args(["--kill", "all"])
            .status();
    }
    let _ = std::fs::remove_dir_all(Path::new(&dir));
    result
}

fn main() {
    let budget = Duration::from_secs(2);
    let ssh = TrustPolicy {
        allowed_signers: Some(
            AllowedSigners::parse(&String::from_utf8(read("ssh/allowed_signers")).unwrap())
                .unwrap(),
        ),
        ..TrustPolicy::default()
    };
    let keyring_text = String::from_utf8(read("pgp/keyring.asc")).unwrap();
    let pgp = TrustPolicy {
        openpgp: Some(OpenPgpKeyring::parse(&keyring_text).unwrap()),
        ..TrustPolicy::default()
    };
    println!(
        "{:<34} {:>14} {:>16} {:>8}",
        "case", "pi-verify/s", "git verify/s", "ratio"
    );
    for (name, commit, policy, is_ssh) in [
        ("ssh ed25519", "ssh/ed25519.commit", &ssh, true),
        ("ssh ecdsa-p256", "ssh/ecdsa256.commit", &ssh, true),
        ("ssh ecdsa-p384", "ssh/ecdsa384.commit", &ssh, true),
        ("ssh rsa-3072 sha2-512", "ssh/rsa.commit", &ssh, true),
        ("openpgp ed25519", "pgp/ed25519.commit", &pgp, false),
        ("openpgp rsa-3072", "pgp/rsa.commit", &pgp, false),
        (
            "openpgp ed25519 subkey",
            "pgp/ed25519-subkey.commit",
            &pgp,
            false,
        ),
    ] {
        let raw = read(commit);
        assert!(verify_commit(&raw, policy).is_ok(), "{name} must verify");
        let ours = per_second(budget, || {
            std::hint::black_box(verify_commit(std::hint::black_box(&raw), policy).is_ok());
        });
        let theirs = if matches!(name, "ssh ed25519" | "openpgp ed25519") {
            git_per_second(commit, is_ssh, 20)
        } else {
            None
        };
        match theirs {
            Some(g) => println!("{name:<34} {ours:>14.0} {g:>16.1} {:>7.0}x", ours / g),
            None => println!("{name:<34} {ours:>14.0} {:>16} {:>8}", "-", "-"),
        }
    }
    let parses = per_second(budget, || {
        std::hint::black_box(OpenPgpKeyring::parse(&keyring_text).is_ok());
    });
    println!("{:<34} {parses:>14.1}", "parse 7-key OpenPGP keyring");
}
