//! `pi-agent diff DIR`: what applying DIR would change (server-side dry run as `pi-agent`,
//! compared with the live objects).

use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `pi-agent diff`.
#[derive(clap::Args)]
pub struct DiffArgs {
    /// The directory.
    dir: PathBuf,
    /// Namespace for namespaced objects that name none.
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
}

/// Prints the differences.
pub fn main(args: DiffArgs) -> ExitCode {
    diff(&args.dir, &args.namespace, args.kubeconfig)
}

/// Renders a local directory as the agent renders a revision's path.
fn load_dir(dir: &std::path::Path) -> Result<Vec<crate::render::Object>, String> {
    let (fs, rel) = super::local_fs(dir)?;
    crate::render::render(&fs, &rel).map_err(|e| e.to_string())
}

fn diff(dir: &std::path::Path, namespace: &str, kubeconfig: Option<PathBuf>) -> ExitCode {
    let objects = match load_dir(dir) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match crate::cli_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let config = super::kube_config(kubeconfig).await?;
        let applier = crate::apply::Applier::new(kube::Client::try_from(config)?);
        let tenancy = crate::apply::Tenancy::unrestricted(namespace);
        Ok::<_, anyhow::Error>(applier.diff(&objects, &tenancy).await?)
    });
    match result {
        Ok(changes) if changes.is_empty() => {
            eprintln!("no difference: {} objects match the cluster", objects.len());
            ExitCode::SUCCESS
        }
        Ok(changes) => {
            for (id, change) in &changes {
                match change {
                    crate::apply::Change::Added(y) => {
                        println!("+++ {id} (new)");
                        for line in y.lines() {
                            println!("+{line}");
                        }
                    }
                    crate::apply::Change::Changed(d) => print!("{d}"),
                }
            }
            eprintln!("{} of {} objects differ", changes.len(), objects.len());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
