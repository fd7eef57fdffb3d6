//! The `pi-agent` binary, run as a process against the test control plane.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{TempDir, free_port};

/// A running `pi-agent run`; killed by PID on drop.
pub struct Agent {
    child: Child,
    /// `127.0.0.1:<port>` of its HTTP server.
    pub addr: String,
    /// The forced-sync token it accepts.
    pub token: String,
    /// Its log file.
    pub log: PathBuf,
    _dir: TempDir,
}

/// The `pi-agent` binary Cargo built for this test run.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/cluster-xxxx -> target/debug/pi-agent
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("pi-agent");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p pi-agent` (the test command does)",
        bin.display()
    );
    bin
}

impl Agent {
    /// Starts the agent and waits until `/readyz` answers 200 (bounded: 30 s).
    pub async fn start(kubeconfig: &Path, env: &[(&str, &Path)]) -> Self {
        let dir = TempDir::new("agent");
        let token = "test-token-0123456789".to_owned();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{token}\n")).expect("token file");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let log = dir.path().join("agent.log");
        let child = Command::new(binary())
            .arg("run")
            .args(["--kubeconfig", &kubeconfig.display().to_string()])
            .args(["--listen", &addr])
            .args(["--sync-token-file", &token_file.display().to_string()])
            .arg("--allow-file-urls")
            .args([
                "--cache-dir",
                &dir.path().join("cache").display().to_string(),
            ])
            .env("PI_AGENT_LOG", "info,pi_agent=debug")
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn pi-agent");
        let agent = Agent {
            child,
            addr,
            token,
            log,
            _dir: dir,
        };
        let a = agent.addr.clone();
        crate::eventually("pi-agent /readyz", Duration::from_secs(30), || {
            let a = a.clone();
            async move {
                match crate::http::request(&a, "GET", "/readyz", &[], "").await {
                    Ok((200, _)) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
        agent
    }

    /// The agent's log so far (for failure messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
