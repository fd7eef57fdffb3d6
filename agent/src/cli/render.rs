//! `pi-agent render DIR`: what `kustomize build DIR` prints.

use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `pi-agent render`.
#[derive(clap::Args)]
pub struct RenderArgs {
    /// The directory.
    dir: PathBuf,
}

/// Renders the directory to stdout.
pub fn main(args: &RenderArgs) -> ExitCode {
    let rendered = super::local_fs(&args.dir)
        .and_then(|(fs, rel)| crate::render::render_yaml(&fs, &rel).map_err(|e| e.to_string()));
    match rendered {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => super::error(e),
    }
}
