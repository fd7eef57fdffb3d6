//! `cargo run --example build -- DIR`: prints what `kustomize build DIR` prints.
//! Exit 0 on success; on error, `error: …` on stderr and exit 2.

use std::path::Path;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: build DIR");
        std::process::exit(2);
    };
    let fs = kustomize::DiskFs::new(".");
    match kustomize::build(&fs, Path::new(&dir)) {
        Ok(out) => print!("{}", out.to_yaml()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
