//! The `pi-agent` binary, run as a process against the test control plane.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
    /// From the spawn to the first `/readyz` 200 (polled every 10 ms).
    pub ready_after: Duration,
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
        Self::start_with(kubeconfig, env, &[]).await
    }

    /// [`Agent::start`] with more `run` arguments (e.g. `--leader-elect`).
    pub async fn start_with(kubeconfig: &Path, env: &[(&str, &Path)], args: &[&str]) -> Self {
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
            .args(args)
            .env("PI_AGENT_LOG", "info,pi_agent=debug")
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn pi-agent");
        let started = Instant::now();
        let mut agent = Agent {
            child,
            addr,
            token,
            log,
            ready_after: Duration::ZERO,
            _dir: dir,
        };
        // A tight poll (10 ms), bounded at 30 s, so that `ready_after` is a measurement.
        let mut last = String::new();
        while started.elapsed() < Duration::from_secs(30) {
            match crate::http::request(&agent.addr, "GET", "/readyz", &[], "").await {
                Ok((200, _)) => {
                    agent.ready_after = started.elapsed();
                    return agent;
                }
                other => last = format!("{other:?}"),
            }
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!(
                    "pi-agent exited ({status}) before ready:\n{}",
                    agent.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "pi-agent not ready after 30 s (last: {last}):\n{}",
            agent.log_text()
        );
    }

    /// Asks this agent for a forced sync of `ns/name` through its HTTP API, with its token:
    /// the status code and body.
    pub async fn request_sync(&self, ns: &str, name: &str) -> (u16, String) {
        crate::http::request(
            &self.addr,
            "POST",
            &format!("/api/v1/namespaces/{ns}/applications/{name}/sync"),
            &[("Authorization", &format!("Bearer {}", self.token))],
            "",
        )
        .await
        .expect("sync request")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a node crash would; waits for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as the kubelet does; waits at most `timeout` for the exit (then SIGKILL, and
    /// `None`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let status = self.wait_exit(timeout);
        if status.is_none() {
            self.kill();
        }
        status
    }

    /// Waits at most `timeout` for the process to exit by itself; its status, or `None`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
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
