//! `cargo run --example build -- DIR`: prints what `kustomize build DIR` prints.
//! Exit 0 on success; on error, `error: …` on stderr and exit 2.
//!
//! Like kustomize, bases may live anywhere on the local disk, so the file system is rooted at
//! `/` and DIR is made absolute.

use std::path::Path;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: build DIR");
        std::process::exit(2);
    };
    let abs = match std::fs::canonicalize(&dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: `{dir}`: {e}");
            std::process::exit(2);
        }
    };
    let rel = abs.strip_prefix("/").unwrap_or(&abs).to_path_buf();
    let fs = kustomize::DiskFs::new("/");
    match kustomize::build(&fs, Path::new(&rel)) {
        Ok(out) => print!("{}", out.to_yaml()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
