//! Git repositories made with the real `git`.

use std::path::Path;
use std::process::Command;

use crate::TempDir;
use crate::signing::SshSigner;

/// A non-bare repository with a `main` branch, served as `file://`. Commits are signed with
/// `signer` when there is one.
pub struct Repo {
    dir: TempDir,
    signer: Option<SshSigner>,
}

impl Repo {
    /// `git init -b main`.
    pub fn new() -> Self {
        Self::in_dir(TempDir::new("repo"))
    }

    /// A repository in a given (empty) directory, e.g. under a git server's root.
    pub fn in_dir(dir: TempDir) -> Self {
        let r = Repo { dir, signer: None };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    /// The directory name (the last path component).
    pub fn name(&self) -> String {
        self.path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The working tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `file://` URL.
    pub fn url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    /// Signs the next commits with `signer` (`None`: unsigned).
    pub fn sign_with(&mut self, signer: Option<&SshSigner>) {
        self.signer = signer.cloned();
    }

    /// Runs git in the repository with a fixed identity.
    ///
    /// # Panics
    /// When git fails, with its output.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run git (apt-get install git): {e}"));
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes files (path, content) and commits them; returns the commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            let p = self.path().join(path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&p, content).expect("write");
        }
        self.git(&["add", "-A"]);
        match &self.signer {
            Some(s) => {
                let key = format!("user.signingkey={}", s.key.display());
                self.git(&[
                    "-c",
                    "gpg.format=ssh",
                    "-c",
                    &key,
                    "commit",
                    "-S",
                    "-q",
                    "--allow-empty",
                    "-m",
                    message,
                ]);
            }
            None => {
                self.git(&["commit", "-q", "--allow-empty", "-m", message]);
            }
        }
        self.git(&["rev-parse", "HEAD"])
    }
}

impl Default for Repo {
    fn default() -> Self {
        Self::new()
    }
}
