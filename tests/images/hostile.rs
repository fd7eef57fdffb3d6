//! A hostile registry: `hostile_registry.py` (Python standard library, loopback) in front of
//! the real registry, serving other bytes where a test's rules say so. Stopped by PID on drop.

use harness::{TempDir, free_port, repo_root};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Hostile {
    child: Child,
    /// `127.0.0.1:<port>`, the registry part of image references through the proxy.
    pub host: String,
    rules: PathBuf,
    _dir: TempDir,
}

impl Hostile {
    /// Starts the proxy in front of `upstream` (`host:port`) and waits for its first line.
    pub fn start(upstream: &str) -> Self {
        let dir = TempDir::new("hostile");
        let rules = dir.path().join("rules.json");
        std::fs::write(&rules, "[]").expect("rules");
        let port = free_port();
        let script = repo_root().join("tests/images/hostile_registry.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--upstream", upstream, "--port", &port.to_string()])
            .arg("--rules")
            .arg(&rules)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 {}: {e}", script.display()));
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        let read = BufReader::new(stdout).read_line(&mut line);
        if read.is_err() || !line.starts_with("listening on ") {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hostile registry did not start: {line:?} {read:?}");
        }
        Hostile {
            child,
            host: format!("127.0.0.1:{port}"),
            rules,
            _dir: dir,
        }
    }

    /// Replaces the rules (a JSON list, see `hostile_registry.py`).
    pub fn rules(&self, rules: Value) {
        std::fs::write(&self.rules, rules.to_string()).expect("rules");
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
