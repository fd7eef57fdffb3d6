//! SSH sources. gix runs the system `ssh` program; for each fetch we give it a private
//! configuration file that makes it non-interactive and strict: only the identity from the
//! Application's Secret, only the host keys from its `known_hosts`, never a prompt, never a host
//! key trusted on first use, never the agent user's own `~/.ssh` files or agent.
//!
//! The files live in a directory readable by the agent only, removed when the fetch ends.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Checks a `known_hosts` text: at least one host key, every line well formed.
///
/// # Errors
/// The first bad line, by number; or that no host key is present.
pub fn check_known_hosts(text: &str) -> Result<usize, String> {
    let mut keys = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        line.parse::<ssh_key::known_hosts::Entry>()
            .map_err(|e| format!("line {}: not a known_hosts entry: {e}", index + 1))?;
        keys += 1;
    }
    if keys == 0 {
        return Err("no host key: ssh sources never trust a host key on first use".into());
    }
    Ok(keys)
}

/// Checks an SSH private key: a key the non-interactive `ssh` can use (not passphrase-protected).
///
/// # Errors
/// A key that is not a private key, or that is encrypted.
pub fn check_identity(text: &str) -> Result<(), String> {
    let trimmed = text.trim();
    if !trimmed.starts_with("-----BEGIN ") || !trimmed.contains("PRIVATE KEY-----") {
        return Err("not a PEM or OpenSSH private key".into());
    }
    if trimmed.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
        let key = ssh_key::PrivateKey::from_openssh(trimmed)
            .map_err(|e| format!("unreadable OpenSSH private key: {e}"))?;
        if key.is_encrypted() {
            return Err("the private key is passphrase-protected: the agent cannot type a passphrase; store an unencrypted deploy key in the Secret".into());
        }
    } else if trimmed.contains("ENCRYPTED") {
        return Err("the private key is passphrase-protected: the agent cannot type a passphrase; store an unencrypted deploy key in the Secret".into());
    }
    Ok(())
}

/// The private ssh configuration of one fetch; the directory is removed on drop.
pub(super) struct SshSession {
    dir: PathBuf,
}

impl SshSession {
    /// Writes the identity, the known hosts and the configuration under `dir`, which is
    /// replaced if it exists (a leftover of an interrupted fetch).
    ///
    /// # Errors
    /// File system errors, with the path.
    pub(super) fn create(
        dir: &Path,
        identity: Option<&str>,
        known_hosts: &str,
    ) -> Result<Self, String> {
        if dir.display().to_string().contains(['"', '\n']) {
            return Err(format!(
                "the cache directory `{}` has a quote or a newline in its path: ssh cannot use it",
                dir.display()
            ));
        }
        let _ = std::fs::remove_dir_all(dir);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let session = SshSession {
            dir: dir.to_owned(),
        };
        let write = |name: &str, text: &str| -> Result<PathBuf, String> {
            let path = dir.join(name);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
            let mut text = text.trim().to_owned();
            text.push('\n');
            file.write_all(text.as_bytes())
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
            Ok(path)
        };
        let known_hosts = write("known_hosts", known_hosts)?;
        let identity = match identity {
            Some(key) => quote_config(&write("identity", key)?),
            None => "none".to_owned(),
        };
        write(
            "config",
            &config_text(&identity, &quote_config(&known_hosts)),
        )?;
        Ok(session)
    }

    /// The `core.sshCommand` gix runs (through `sh -c`, which appends its arguments). ssh's
    /// messages go to a file of the session, read back by [`SshSession::messages`].
    pub(super) fn command(&self) -> String {
        format!(
            "ssh -F {} 2>>{}",
            shell_quote(&self.dir.join("config").display().to_string()),
            shell_quote(&self.dir.join("stderr").display().to_string())
        )
    }

    /// What ssh printed (the last 1 KiB, on one line), e.g. `Host key verification failed.`
    pub(super) fn messages(&self) -> String {
        let text = std::fs::read(self.dir.join("stderr")).unwrap_or_default();
        let tail = &text[text.len().saturating_sub(1024)..];
        String::from_utf8_lossy(tail)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Drop for SshSession {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The configuration: every option that could prompt, fall back to another key or trust a new
/// host key is set explicitly.
fn config_text(identity: &str, known_hosts: &str) -> String {
    format!(
        "Host *\n\
         \x20 IdentityFile {identity}\n\
         \x20 IdentitiesOnly yes\n\
         \x20 IdentityAgent none\n\
         \x20 UserKnownHostsFile {known_hosts}\n\
         \x20 GlobalKnownHostsFile /dev/null\n\
         \x20 StrictHostKeyChecking yes\n\
         \x20 CheckHostIP no\n\
         \x20 UpdateHostKeys no\n\
         \x20 HashKnownHosts no\n\
         \x20 BatchMode yes\n\
         \x20 PasswordAuthentication no\n\
         \x20 KbdInteractiveAuthentication no\n\
         \x20 PreferredAuthentications publickey\n\
         \x20 ForwardAgent no\n\
         \x20 ForwardX11 no\n\
         \x20 ClearAllForwardings yes\n\
         \x20 PermitLocalCommand no\n\
         \x20 ControlMaster no\n\
         \x20 ControlPath none\n\
         \x20 ProxyCommand none\n\
         \x20 ProxyJump none\n\
         \x20 ConnectTimeout 20\n\
         \x20 ServerAliveInterval 15\n\
         \x20 ServerAliveCountMax 3\n\
         \x20 LogLevel ERROR\n"
    )
}

/// A path as an `ssh_config` argument (double-quoted; [`SshSession::create`] refuses a path
/// with a quote).
fn quote_config(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// A POSIX shell single-quoted word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether `url` is an SSH URL (`ssh://…` or scp-like `user@host:path`).
pub fn is_ssh_url(url: &str) -> bool {
    if url.starts_with("ssh://") || url.starts_with("git+ssh://") || url.starts_with("ssh+git://") {
        return true;
    }
    if url.contains("://") {
        return false;
    }
    // scp-like: a colon before the first slash, and not a Windows drive letter.
    match (url.find(':'), url.find('/')) {
        (Some(colon), slash) => colon > 1 && slash.is_none_or(|s| colon < s),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn known_hosts_should_need_a_key_and_name_bad_lines() {
        assert_eq!(
            check_known_hosts(&format!("# a comment\n\n[127.0.0.1]:2222 {HOST_KEY}\n")),
            Ok(1)
        );
        assert!(check_known_hosts("").unwrap_err().contains("first use"));
        assert!(check_known_hosts("# only a comment\n").is_err());
        let e = check_known_hosts(&format!("host {HOST_KEY}\nhost ssh-ed25519 !!!\n")).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let hashed =
            format!("|1|JfKTdBh7rNbXkVAQCRp4OQoPfmI=|USECr3SWf1JUPsms5AqfD5QfxkM= {HOST_KEY}");
        assert_eq!(check_known_hosts(&hashed), Ok(1));
        let ca = format!("@cert-authority *.example {HOST_KEY}");
        assert_eq!(check_known_hosts(&ca), Ok(1));
    }

    #[test]
    fn identities_should_be_private_and_unencrypted() {
        assert!(
            check_identity(HOST_KEY)
                .unwrap_err()
                .contains("private key")
        );
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nxx\n-----END RSA PRIVATE KEY-----";
        assert!(check_identity(rsa).unwrap_err().contains("passphrase"));
        let garbage =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----";
        assert!(check_identity(garbage).unwrap_err().contains("unreadable"));
        let pem =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----";
        assert_eq!(check_identity(pem), Ok(()));
    }

    #[test]
    fn ssh_urls_should_be_recognised_in_both_forms() {
        for url in [
            "ssh://git@example.org/infra.git",
            "ssh://git@127.0.0.1:2222/srv/repo.git",
            "git@example.org:infra/repo.git",
            "example.org:repo",
        ] {
            assert!(is_ssh_url(url), "{url}");
        }
        for url in [
            "https://example.org/x.git",
            "file:///srv/repo",
            "/srv/repo",
            "relative/path:x",
            "C:/repo",
        ] {
            assert!(!is_ssh_url(url), "{url}");
        }
    }

    #[test]
    fn the_session_should_be_private_strict_and_removed() {
        let base = std::env::temp_dir().join(format!("pi-ssh-test-{}", std::process::id()));
        let dir = base.join("it's here.ssh");
        {
            let session = SshSession::create(&dir, Some("KEY"), HOST_KEY).unwrap();
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join("identity")), 0o600);
            let config = std::fs::read_to_string(dir.join("config")).unwrap();
            assert!(config.contains("StrictHostKeyChecking yes"));
            assert!(config.contains("BatchMode yes"));
            assert!(config.contains(&format!(
                "IdentityFile \"{}\"",
                dir.join("identity").display()
            )));
            assert_eq!(
                session.command(),
                format!(
                    "ssh -F '{0}/it'\\''s here.ssh/config' 2>>'{0}/it'\\''s here.ssh/stderr'",
                    base.display()
                )
            );
            assert_eq!(session.messages(), "");
            std::fs::write(dir.join("stderr"), "\nHost key verification failed.\r\n").unwrap();
            assert_eq!(session.messages(), "Host key verification failed.");
        }
        assert!(!dir.exists());
        let session = SshSession::create(&dir, None, HOST_KEY).unwrap();
        let config = std::fs::read_to_string(dir.join("config")).unwrap();
        assert!(config.contains("IdentityFile none"));
        drop(session);
        let _ = std::fs::remove_dir_all(base);
    }
}
