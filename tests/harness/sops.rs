//! The real `sops` (v3.13, built by `bootstrap/components` as a test oracle) and `age-keygen`,
//! encrypting test files with throw-away age keys and, optionally, an OpenPGP key made by GnuPG.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{TempDir, repo_root};

/// Where `sops` and `age-keygen` are: `$ORACLES_DIR`, else what `bootstrap/components
/// oracles-path` prints.
///
/// # Panics
/// When they are not built, naming the command that builds them.
pub fn oracles_dir() -> PathBuf {
    let dir = match std::env::var_os("ORACLES_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let out = Command::new(repo_root().join("bootstrap/components"))
                .arg("oracles-path")
                .output()
                .expect("bootstrap/components oracles-path");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
    };
    for tool in ["sops", "age-keygen"] {
        assert!(
            dir.join(tool).exists(),
            "`{tool}` is missing in {}: run `bootstrap/components install` (builds sops and age-keygen with Go)",
            dir.display()
        );
    }
    dir
}

/// An age key pair and, optionally, an OpenPGP key, with `sops` to encrypt with them.
pub struct Sops {
    bin: PathBuf,
    dir: TempDir,
    /// The age identity file (`AGE-SECRET-KEY-1…`), as `age-keygen` writes it.
    pub age_identity: String,
    /// Its recipient (`age1…`).
    pub age_recipient: String,
    /// The OpenPGP key's fingerprint, once [`Sops::with_pgp`] made one.
    pub pgp_fingerprint: Option<String>,
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl Sops {
    /// A fresh age key pair.
    pub fn new() -> Self {
        let bin = oracles_dir();
        let dir = TempDir::new("sops");
        let key = dir.path().join("key.agekey");
        run(Command::new(bin.join("age-keygen")).arg("-o").arg(&key));
        let recipient = run(Command::new(bin.join("age-keygen")).arg("-y").arg(&key));
        Sops {
            age_identity: std::fs::read_to_string(&key).expect("age key"),
            age_recipient: String::from_utf8_lossy(&recipient).trim().to_owned(),
            pgp_fingerprint: None,
            bin,
            dir,
        }
    }

    fn gnupg_home(&self) -> PathBuf {
        self.dir.path().join("gnupg")
    }

    /// Adds an OpenPGP key (RSA, no passphrase) made by GnuPG in a home of its own.
    pub fn with_pgp(mut self) -> Self {
        let home = self.gnupg_home();
        std::fs::create_dir_all(&home).expect("gnupg home");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700));
        }
        let gpg = |args: &[&str]| {
            run(Command::new("gpg")
                .arg("--homedir")
                .arg(&home)
                .arg("--batch")
                .args(args))
        };
        gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            "pi-agent e2e <e2e@pi-agent.invalid>",
            "rsa2048",
            "sign,cert",
            "never",
        ]);
        let listing =
            String::from_utf8_lossy(&gpg(&["--with-colons", "--list-secret-keys"])).into_owned();
        let fpr = listing
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_owned())
            })
            .expect("fingerprint");
        gpg(&[
            "--passphrase",
            "",
            "--quick-add-key",
            &fpr,
            "rsa2048",
            "encr",
            "never",
        ]);
        self.pgp_fingerprint = Some(fpr);
        self
    }

    /// The armored OpenPGP secret key (for a `*.asc` entry of the decryption Secret).
    pub fn pgp_secret_key(&self) -> String {
        let fpr = self.pgp_fingerprint.as_deref().expect("with_pgp first");
        let out = run(Command::new("gpg")
            .arg("--homedir")
            .arg(self.gnupg_home())
            .args(["--batch", "--armor", "--export-secret-keys", fpr]));
        String::from_utf8(out).expect("armored key")
    }

    /// Encrypts `plain` (its format from `name`'s extension, as sops reads it) for the age key
    /// (or the OpenPGP key with `pgp`), with `args` added (`--encrypted-regex …`).
    pub fn encrypt(&self, name: &str, plain: &str, pgp: bool, args: &[&str]) -> String {
        let input = self.dir.path().join(name);
        std::fs::write(&input, plain).expect("plain file");
        let mut cmd = Command::new(self.bin.join("sops"));
        cmd.arg("--encrypt");
        if pgp {
            cmd.args([
                "--pgp",
                self.pgp_fingerprint.as_deref().expect("with_pgp first"),
            ])
            .env("GNUPGHOME", self.gnupg_home());
        } else {
            cmd.args(["--age", &self.age_recipient]);
        }
        // No `.sops.yaml` of the machine applies.
        cmd.current_dir(self.dir.path()).args(args).arg(&input);
        let out = run(&mut cmd);
        let _ = std::fs::remove_file(&input);
        String::from_utf8(out).expect("sops output")
    }

    /// The directory of the keys (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Sops {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Sops {
    fn drop(&mut self) {
        if self.pgp_fingerprint.is_some() {
            // The gpg-agent this home started is stopped by its home.
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(self.gnupg_home())
                .args(["--kill", "all"])
                .output();
        }
    }
}
