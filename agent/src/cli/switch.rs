//! `pi-agent promote` and `pi-agent abort`: manual control of a blue-green switch.

use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `pi-agent promote`.
#[derive(clap::Args)]
pub struct PromoteArgs {
    /// The Deployment, as named in Git.
    deployment: String,
    /// Its namespace.
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
}

/// Flags of `pi-agent abort`.
#[derive(clap::Args)]
pub struct AbortArgs {
    /// The Deployment, as named in Git.
    deployment: String,
    /// Its namespace.
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// Why (shown in status).
    #[arg(long, default_value = "aborted by an operator")]
    reason: String,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
}

/// Promotes the switch in progress.
pub fn promote(args: PromoteArgs) -> ExitCode {
    switch_request(
        args.kubeconfig,
        &args.namespace,
        &args.deployment,
        crate::bluegreen::control::Request::Promote,
    )
}

/// Aborts the switch in progress.
pub fn abort(args: AbortArgs) -> ExitCode {
    switch_request(
        args.kubeconfig,
        &args.namespace,
        &args.deployment,
        crate::bluegreen::control::Request::Abort(args.reason),
    )
}

fn switch_request(
    kubeconfig: Option<PathBuf>,
    namespace: &str,
    deployment: &str,
    request: crate::bluegreen::control::Request,
) -> ExitCode {
    use crate::bluegreen::control::{self, ControlError};
    let runtime = match crate::cli_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let config = super::kube_config(kubeconfig)
            .await
            .map_err(|e| ControlError::Failed(format!("{e:#}")))?;
        let client =
            kube::Client::try_from(config).map_err(|e| ControlError::Failed(e.to_string()))?;
        control::request(&client, namespace, deployment, &request).await
    });
    match result {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e @ ControlError::NoSwitch(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
