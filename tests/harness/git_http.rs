//! A smart-HTTP(S) git server: the real `git http-backend` behind a small Python front
//! (`tests/servers/git_https_server.py`), on a loopback port, stopped by PID on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::tls::Pki;
use crate::{free_port, repo_root};

/// A running server; repositories are directories under `root`.
pub struct GitHttpServer {
    child: Child,
    /// Served directory.
    pub root: PathBuf,
    /// `https://127.0.0.1:<port>`.
    pub base_url: String,
}

impl GitHttpServer {
    /// Serves `root` over HTTPS with the certificate of `pki`.
    pub fn start_tls(root: &Path, pki: &Pki) -> Self {
        Self::start(root, pki, None)
    }

    /// Serves `root` over HTTPS, requiring HTTP basic authentication with `user:password`.
    pub fn start_tls_with_auth(root: &Path, pki: &Pki, basic_auth: &str) -> Self {
        Self::start(root, pki, Some(basic_auth))
    }

    fn start(root: &Path, pki: &Pki, basic_auth: Option<&str>) -> Self {
        let port = free_port();
        let script = repo_root().join("tests/servers/git_https_server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script);
        if let Some(auth) = basic_auth {
            cmd.args(["--basic-auth", auth]);
        }
        let mut child = cmd
            .args([
                "--root",
                &root.display().to_string(),
                "--port",
                &port.to_string(),
            ])
            .args([
                "--cert",
                &pki.cert.display().to_string(),
                "--key",
                &pki.key.display().to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} (needs python3 and git): {e}",
                    script.display()
                )
            });
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        assert_eq!(line.trim(), "listening", "git https server did not start");
        GitHttpServer {
            child,
            root: root.to_owned(),
            base_url: format!("https://127.0.0.1:{port}"),
        }
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
