//! What every end-to-end test binary shares: one tokio runtime, test bodies run with their panic
//! turned into a libtest-mimic failure (with the tail of the agent's log), and the Application
//! CRD installed and Established.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams};
use libtest_mimic::Failed;
use pi_agent::api::Application;

use crate::eventually;

/// The runtime of the test binary (multi-threaded: agents, watches and test bodies at once).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Runs `body` on the runtime; a panic becomes a failure whose message ends with the last 40
/// lines of `log()` (the agent's log), when there is one.
pub fn run_body(
    body: impl Future<Output = ()>,
    log: impl FnOnce() -> Option<String>,
) -> Result<(), Failed> {
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime().block_on(body)));
    result.map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        match log() {
            Some(log) => {
                let lines: Vec<&str> = log.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                Failed::from(format!(
                    "{msg}\n--- last agent log lines ---\n{}",
                    tail.join("\n")
                ))
            }
            None => Failed::from(msg),
        }
    })
}

/// Installs the Application CRD (generated from the Rust types) and waits until it is served.
pub async fn install_crd(client: &kube::Client) {
    let crd = serde_json::to_value(Application::crd()).expect("CRD");
    apply_crd(client, "applications.gitops.pi-agent.io", &crd).await;
}

/// Applies a CRD (server-side, manager `tests`) and waits until it is Established (bounded: 30 s).
pub async fn apply_crd(client: &kube::Client, name: &str, crd: &serde_json::Value) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        name,
        &PatchParams::apply("tests").force(),
        &Patch::Apply(crd),
    )
    .await
    .unwrap_or_else(|e| panic!("install CRD {name}: {e}"));
    eventually(
        &format!("CRD {name} established"),
        Duration::from_secs(30),
        || {
            let crds = crds.clone();
            async move {
                let c = crds.get(name).await.map_err(|e| e.to_string())?;
                let ok = c
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                ok.then_some(()).ok_or_else(|| "not established".into())
            }
        },
    )
    .await;
}
