//! The `pi-agent` command line: one file per command. Each command's flags are parsed by clap,
//! then validated into typed configuration (`TryFrom`) before anything runs; the command's body
//! is separate. Exit codes are a contract: 0 success, 1 checked and found a difference or a
//! rejection, 2 error.

mod crd;
mod diff;
mod fetch;
mod render;
pub mod report_args;
mod run;
pub mod status;
mod switch;
mod verify;
mod verify_image;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pi-agent",
    version,
    about = "A small rootless GitOps agent for one Kubernetes region"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the `run` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the controller: reconcile Applications, serve health, metrics and the sync API.
    Run(run::RunArgs),
    /// Render a kustomization (or a plain directory of manifests) to stdout, exactly as
    /// `kustomize build DIR` prints it. Exit code 0, or 2 with the error on stderr.
    Render(render::RenderArgs),
    /// Show what applying a directory would change in the cluster (server-side dry run).
    /// Exit code 0: no difference, 1: differences, 2: error.
    Diff(diff::DiffArgs),
    /// Verify the signatures of a revision as the controller does (same code).
    /// Exit code 0: verified (prints the commit), 1: rejected (prints why), 2: usage or I/O error.
    Verify(verify::VerifyArgs),
    /// Fetch a repository into a cache as the controller does (same code) and print the
    /// resolved revision. Exit code 0, or 2 with the error.
    Fetch(fetch::FetchArgs),
    /// Verify an image as the controller does (same code): resolve its tag to a digest and
    /// check its cosign signature against the keys.
    /// Exit code 0: verified (prints `REPOSITORY@sha256:…`), 1: rejected (prints why),
    /// 2: usage, I/O or registry error.
    VerifyImage(verify_image::VerifyImageArgs),
    /// Print the Application CRD (the committed copy is under manifests/crds/).
    Crd,
    /// Show the Applications: READY, REVISION, AGE, MESSAGE (`-A`, `-n`, `-o json`, `--watch`).
    /// Exit code 0, or 2 with the error.
    Status(status::StatusArgs),
    /// Promote the blue-green switch of a Deployment once its new version is Available and
    /// checked (skips the auto-promotion wait or the manual gate); after an abort, try again.
    /// Exit code 0: requested, 1: no switch to promote, 2: error.
    Promote(switch::PromoteArgs),
    /// Abort the blue-green switch of a Deployment: the active Service stays on the current
    /// version, the new one is scaled down. Exit code 0: requested, 1: no switch to abort, 2: error.
    Abort(switch::AbortArgs),
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run::main(args),
        Command::Render(args) => render::main(&args),
        Command::Diff(args) => diff::main(args),
        Command::Verify(args) => verify::main(args),
        Command::Fetch(args) => fetch::main(args),
        Command::VerifyImage(args) => verify_image::main(args),
        Command::Crd => crd::main(),
        Command::Status(args) => status::main(args),
        Command::Promote(args) => switch::promote(args),
        Command::Abort(args) => switch::abort(args),
    }
}

/// Prints `error: …` and returns exit code 2.
pub(crate) fn error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// The kubeconfig of a command: the file given, else `$KUBECONFIG`, `~/.kube/config`, then
/// in-cluster.
///
/// # Errors
/// An unreadable kubeconfig, or none found.
pub(crate) async fn kube_config(kubeconfig: Option<PathBuf>) -> anyhow::Result<kube::Config> {
    Ok(match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(&path)
                .map_err(|e| anyhow::anyhow!("cannot read kubeconfig `{}`: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    })
}

/// The file system a local directory is rendered from: rooted at the enclosing git repository
/// (so overlays reach their bases and messages name files as the agent does), else at `/`.
///
/// # Errors
/// An unreadable directory.
pub(crate) fn local_fs(dir: &std::path::Path) -> Result<(kustomize::DiskFs, String), String> {
    let abs =
        std::fs::canonicalize(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    let root = abs
        .ancestors()
        .find(|a| a.join(".git").exists())
        .unwrap_or(std::path::Path::new("/"))
        .to_owned();
    let rel = abs
        .strip_prefix(&root)
        .unwrap_or(&abs)
        .to_string_lossy()
        .into_owned();
    Ok((kustomize::DiskFs::new(root), rel))
}
