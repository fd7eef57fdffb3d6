//! One real control plane per test binary, started with `bootstrap/local-cluster`.

use std::path::PathBuf;
use std::process::Command;

use crate::{TempDir, repo_root};

/// A running control plane; stopped (by PID, through `local-cluster down`) on drop.
pub struct ControlPlane {
    dir: TempDir,
    port_base: u16,
    /// Kubeconfig with cluster-admin credentials.
    pub kubeconfig: PathBuf,
}

impl ControlPlane {
    /// Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on free
    /// loopback ports. Builds the components first if the cache is cold (minutes).
    ///
    /// # Panics
    /// With the command that failed and its output, when a component is missing or fails.
    pub fn start() -> Self {
        let dir = TempDir::new("cluster");
        // Three consecutive ports from a free one; retry on collision is not needed in practice
        // because the range is checked by binding each port first.
        let base = loop {
            let p = crate::free_port();
            if p < 65000
                && (1..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok())
            {
                break p;
            }
        };
        let script = repo_root().join("bootstrap/local-cluster");
        let out = Command::new(&script)
            .arg("up")
            .args(["--dir", &dir.path().display().to_string()])
            .args(["--port-base", &base.to_string()])
            .args(["--owner-pid", &std::process::id().to_string()])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        if !out.status.success() {
            panic!(
                "`{} up` failed ({}).\nInstall the components with `bootstrap/components install` (needs Go).\nstderr:\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let kubeconfig = dir.path().join("kubeconfig");
        ControlPlane {
            dir,
            port_base: base,
            kubeconfig,
        }
    }

    /// A client with cluster-admin rights.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        kube::Client::try_from(config).expect("client")
    }

    /// Stops kube-apiserver (by its PID), as a crash would.
    pub fn stop_apiserver(&self) {
        let pid_file = self.dir.path().join("pids/kube-apiserver");
        let pid = std::fs::read_to_string(&pid_file).expect("apiserver pid");
        let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
        for _ in 0..50 {
            if Command::new("kill")
                .arg("-0")
                .arg(pid.trim())
                .status()
                .map(|s| !s.success())
                .unwrap_or(true)
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Starts what is not running again (`local-cluster up` is idempotent).
    pub fn restart(&self) {
        let out = Command::new(repo_root().join("bootstrap/local-cluster"))
            .arg("up")
            .args(["--dir", &self.dir.path().display().to_string()])
            .args(["--port-base", &self.port_base.to_string()])
            .output()
            .expect("local-cluster up");
        assert!(
            out.status.success(),
            "restart failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Where component logs are.
    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("bootstrap/local-cluster"))
            .arg("down")
            .args(["--dir", &self.dir.path().display().to_string()])
            .output();
    }
}
