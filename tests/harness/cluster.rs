//! One real control plane per test binary, started with `bootstrap/local-cluster`.

use std::path::PathBuf;
use std::process::Command;

use crate::{TempDir, repo_root};

/// A running control plane; stopped (by PID, through `local-cluster down`) on drop.
pub struct ControlPlane {
    dir: TempDir,
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
        ControlPlane { dir, kubeconfig }
    }

    /// A client with cluster-admin rights.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        kube::Client::try_from(config).expect("client")
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
