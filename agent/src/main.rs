//! The `pi-agent` command line (the commands are in `pi_agent::cli`).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    pi_agent::cli::main()
}
