//! Region-wide trust material from files (a Secret mounted into the agent's pod): the default
//! `allowed_signers` and OpenPGP keys of Applications that name none of their own.
//!
//! The files are read at every reconcile, and watched: the kubelet updates a mounted Secret by
//! swapping a `..data` symbolic link in the mount directory, so the watch is on the directories,
//! and any change there reconciles the Applications that use the files, without a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::Watcher;

/// The agent's default trust files (`--allowed-signers`, `--openpgp-keys`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustFiles {
    /// git `allowed_signers` file.
    pub allowed_signers: Option<PathBuf>,
    /// Armored OpenPGP public keys.
    pub openpgp_keys: Option<PathBuf>,
}

/// What the files hold now; a file with nothing but blank lines and comments counts as absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustText {
    /// `allowed_signers` text.
    pub allowed_signers: Option<String>,
    /// OpenPGP armored keys.
    pub openpgp_keys: Option<String>,
}

impl TrustFiles {
    /// Whether no file is configured.
    pub fn is_empty(&self) -> bool {
        self.allowed_signers.is_none() && self.openpgp_keys.is_none()
    }

    /// Reads the files; a missing file counts as absent (an optional Secret not created).
    ///
    /// # Errors
    /// A configured file that cannot be read, with its path.
    pub fn read(&self) -> Result<TrustText, String> {
        let read = |path: &Option<PathBuf>| -> Result<Option<String>, String> {
            let Some(p) = path else {
                return Ok(None);
            };
            let text = match std::fs::read_to_string(p) {
                Ok(t) => t,
                // An optional Secret not created (yet): no trust material from it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(format!(
                        "cannot read the agent's trust file `{}`: {e}",
                        p.display()
                    ));
                }
            };
            let meaningful = text
                .lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
            Ok(meaningful.then_some(text))
        };
        Ok(TrustText {
            allowed_signers: read(&self.allowed_signers)?,
            openpgp_keys: read(&self.openpgp_keys)?,
        })
    }

    /// Watches the directories of the files; the receiver gets one message per burst of
    /// changes (events closer than `settle` are merged). Keep the watcher alive as long as the
    /// receiver is used.
    ///
    /// # Errors
    /// The watch cannot be set up (no inotify, a missing directory).
    pub fn watch(
        &self,
        settle: Duration,
    ) -> Result<(notify::RecommendedWatcher, tokio::sync::mpsc::Receiver<()>), String> {
        let (raw_tx, mut raw_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| !e.kind.is_access()) {
                    let _ = raw_tx.send(());
                }
            })
            .map_err(|e| format!("cannot watch the trust files: {e}"))?;
        let mut dirs: Vec<&Path> = [&self.allowed_signers, &self.openpgp_keys]
            .into_iter()
            .flatten()
            .map(|p| {
                p.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        for dir in dirs {
            watcher
                .watch(dir, notify::RecursiveMode::NonRecursive)
                .map_err(|e| format!("cannot watch `{}`: {e}", dir.display()))?;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            while raw_rx.recv().await.is_some() {
                // Let the burst end (the kubelet writes files, then swaps a link), then report once.
                loop {
                    match tokio::time::timeout(settle, raw_rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                if tx.send(()).await.is_err() {
                    return;
                }
            }
        });
        Ok((watcher, rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pi-trust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn files_should_be_read_and_blank_ones_count_as_absent() {
        let dir = temp("read");
        let signers = dir.join("allowed_signers");
        std::fs::write(&signers, "# nobody yet\n\n").unwrap();
        let files = TrustFiles {
            allowed_signers: Some(signers.clone()),
            openpgp_keys: None,
        };
        assert!(!files.is_empty());
        assert_eq!(files.read(), Ok(TrustText::default()));
        std::fs::write(&signers, "dev@example.com ssh-ed25519 AAAA\n").unwrap();
        assert_eq!(
            files.read().unwrap().allowed_signers.as_deref(),
            Some("dev@example.com ssh-ed25519 AAAA\n")
        );
        let missing = TrustFiles {
            allowed_signers: None,
            openpgp_keys: Some(dir.join("nope.asc")),
        };
        assert_eq!(
            missing.read(),
            Ok(TrustText::default()),
            "an optional Secret not created"
        );
        let unreadable = TrustFiles {
            allowed_signers: Some(dir.clone()),
            openpgp_keys: None,
        };
        assert!(unreadable.read().unwrap_err().contains("trust file"));
        assert!(TrustFiles::default().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_kubelet_style_update_should_be_reported_once() {
        let dir = temp("watch");
        // A mounted Secret: the file is a link through `..data`, swapped atomically on update.
        let v1 = dir.join("..2026_v1");
        std::fs::create_dir(&v1).unwrap();
        std::fs::write(v1.join("allowed_signers"), "one\n").unwrap();
        std::os::unix::fs::symlink("..2026_v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/allowed_signers", dir.join("allowed_signers")).unwrap();
        let files = TrustFiles {
            allowed_signers: Some(dir.join("allowed_signers")),
            openpgp_keys: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (_watcher, mut rx) = files.watch(Duration::from_millis(100)).unwrap();
            let v2 = dir.join("..2026_v2");
            std::fs::create_dir(&v2).unwrap();
            std::fs::write(v2.join("allowed_signers"), "two\n").unwrap();
            std::os::unix::fs::symlink("..2026_v2", dir.join("..data_tmp")).unwrap();
            std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
            tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("a change is reported")
                .expect("open");
            assert_eq!(
                files.read().unwrap().allowed_signers.as_deref(),
                Some("two\n")
            );
            // One burst, one message.
            assert!(
                tokio::time::timeout(Duration::from_millis(400), rx.recv())
                    .await
                    .is_err()
            );
        });
        let _ = std::fs::remove_dir_all(dir);
    }
}
