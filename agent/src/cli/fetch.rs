//! `pi-agent fetch`: a repository fetched into a cache as the controller fetches it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of `pi-agent fetch`.
#[derive(clap::Args)]
pub struct FetchArgs {
    /// A `file://`, `https://`, `http://`, `ssh://` or `user@host:path` URL.
    #[arg(long)]
    repo: String,
    /// A branch, a tag or a full commit id.
    #[arg(long = "ref")]
    reference: String,
    /// The cache directory (kept, so a second run is incremental).
    #[arg(long)]
    cache_dir: PathBuf,
    /// Bring the history down to this commit (the full history on a new cache) instead
    /// of a shallow first fetch.
    #[arg(long)]
    since: Option<String>,
    /// SSH private key (ssh URLs).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// SSH known_hosts file (required for ssh URLs).
    #[arg(long)]
    known_hosts: Option<PathBuf>,
}

/// Fetches and prints the resolved revision.
pub fn main(args: FetchArgs) -> ExitCode {
    fetch(
        &args.repo,
        &args.reference,
        &args.cache_dir,
        args.since.as_deref(),
        args.identity.as_deref(),
        args.known_hosts.as_deref(),
    )
}

fn fetch(
    repo: &str,
    reference: &str,
    cache_dir: &Path,
    since: Option<&str>,
    identity: Option<&Path>,
    known_hosts: Option<&Path>,
) -> ExitCode {
    use crate::source::{Auth, Fetcher, History, Reference};
    let usage = |m: String| {
        eprintln!("error: {m}");
        ExitCode::from(2)
    };
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    };
    let auth = match (known_hosts, identity) {
        (None, None) => None,
        (None, Some(_)) => return usage("`--identity` needs `--known-hosts`".into()),
        (Some(k), i) => {
            let known_hosts = match read(k) {
                Ok(t) => t,
                Err(e) => return usage(e),
            };
            let identity = match i.map(read).transpose() {
                Ok(t) => t,
                Err(e) => return usage(e),
            };
            Some(Auth::Ssh {
                identity,
                known_hosts,
            })
        }
    };
    let history = match since.map(|c| gix::ObjectId::from_hex(c.as_bytes())) {
        Some(Ok(id)) => History::Since(id),
        Some(Err(_)) => {
            return usage(format!(
                "`--since {}` is not a full commit id",
                since.unwrap_or_default()
            ));
        }
        None => History::Shallow,
    };
    let reference = if reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        match gix::ObjectId::from_hex(reference.as_bytes()) {
            Ok(id) => Reference::Commit(id),
            Err(e) => return usage(e.to_string()),
        }
    } else if let Some(tag) = reference.strip_prefix("refs/tags/") {
        Reference::Tag(tag.to_owned())
    } else {
        Reference::Branch(reference.trim_start_matches("refs/heads/").to_owned())
    };
    let runtime = match crate::cli_runtime() {
        Ok(rt) => rt,
        Err(e) => return usage(e),
    };
    let fetcher = Fetcher::new(cache_dir, std::time::Duration::from_secs(600))
        .allow_file_urls(true)
        .max_repo_bytes(u64::MAX);
    let start = std::time::Instant::now();
    match runtime.block_on(fetcher.fetch(repo, &reference, auth.as_ref(), history)) {
        Ok(snapshot) => {
            println!("{}", snapshot.revision);
            eprintln!("fetched in {} ms", start.elapsed().as_millis());
            ExitCode::SUCCESS
        }
        Err(e) => usage(e.to_string()),
    }
}
