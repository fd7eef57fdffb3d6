//! Commit signers made with the real `ssh-keygen`, and their `allowed_signers` lines.

use std::path::{Path, PathBuf};
use std::process::Command;

/// An ed25519 SSH key pair for signing commits (`gpg.format=ssh`).
#[derive(Clone, Debug)]
pub struct SshSigner {
    /// The private key file (what `user.signingkey` names).
    pub key: PathBuf,
    /// The principal in `allowed_signers`.
    pub principal: String,
    /// The public key line (`ssh-ed25519 AAAA… comment`).
    pub public: String,
}

impl SshSigner {
    /// Generates a key in `dir` with `ssh-keygen`.
    ///
    /// # Panics
    /// When ssh-keygen is missing (`apt-get install openssh-client`) or fails.
    pub fn generate(dir: &Path, name: &str, principal: &str) -> Self {
        let key = dir.join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", principal, "-f"])
            .arg(&key)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run ssh-keygen (apt-get install openssh-client): {e}")
            });
        assert!(
            out.status.success(),
            "ssh-keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let public = std::fs::read_to_string(key.with_extension("pub"))
            .expect("public key")
            .trim()
            .to_owned();
        SshSigner {
            key,
            principal: principal.to_owned(),
            public,
        }
    }

    /// This key's line in git's `allowed_signers` format.
    pub fn allowed_signers_line(&self) -> String {
        format!("{} namespaces=\"git\" {}\n", self.principal, self.public)
    }
}
