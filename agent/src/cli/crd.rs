//! `pi-agent crd`: the Application CRD, generated from the Rust types.

use std::process::ExitCode;

/// Prints the CRD.
pub fn main() -> ExitCode {
    print!("{}", crate::api::crd_yaml());
    ExitCode::SUCCESS
}
