//! `helm template` in-process: `cargo run -p helm-rs --example template -- RELEASE CHART_DIR
//! [-n NS] [-f FILE]… [--set K=V]… [--set-string K=V]… [--include-crds] [--no-hooks]
//! [--skip-tests] [--is-upgrade] [--kube-version V] [--api-versions G/V]…`. Prints what
//! `helm template` prints; on error prints `Error: …` on stderr and exits 1.

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: template RELEASE CHART_DIR [flags]");
        std::process::exit(2);
    }
    let mut o = helm::Options {
        release_name: args[0].clone(),
        ..helm::Options::default()
    };
    let mut i = 2;
    while i < args.len() {
        let a = args[i].as_str();
        let mut next = || {
            i += 1;
            args.get(i).cloned().unwrap_or_else(|| {
                eprintln!("Error: flag needs an argument: {a}");
                std::process::exit(2)
            })
        };
        match a {
            "-n" | "--namespace" => o.namespace = next(),
            "-f" | "--values" => {
                let f = next();
                match std::fs::read_to_string(&f) {
                    Ok(t) => o.value_files.push((f, t)),
                    Err(e) => {
                        eprintln!("Error: open {f}: {e}");
                        std::process::exit(1)
                    }
                }
            }
            "--set" => o.set.push(next()),
            "--set-string" => o.set_string.push(next()),
            "--set-file" => o.set_file.push(next()),
            "--set-json" => o.set_json.push(next()),
            "--set-literal" => o.set_literal.push(next()),
            "--include-crds" => o.include_crds = true,
            "--no-hooks" => o.no_hooks = true,
            "--skip-tests" => o.skip_tests = true,
            "--is-upgrade" => o.is_upgrade = true,
            "--kube-version" => o.kube_version = Some(next()),
            "-a" | "--api-versions" => o.api_versions.extend(next().split(',').map(str::to_string)),
            other => {
                eprintln!("Error: unknown flag: {other}");
                std::process::exit(2)
            }
        }
        i += 1;
    }
    let fs = kustomize::DiskFs::new("/");
    let dir = std::path::absolute(Path::new(&args[1])).unwrap_or_else(|_| args[1].clone().into());
    let rel = dir.strip_prefix("/").unwrap_or(&dir).to_path_buf();
    match helm::render(&fs, &rel, &o) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1)
        }
    }
}
