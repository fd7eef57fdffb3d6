//! `pi-agent verify`: a revision's signatures verified with the controller's code.

use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `pi-agent verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A local repository path, or a `file://`, `https://` or `http://` URL.
    #[arg(long)]
    repo: String,
    /// A branch, a tag or a full commit id.
    #[arg(long = "ref")]
    reference: String,
    /// git `allowed_signers` files (SSH signatures); repeatable.
    #[arg(long)]
    allowed_signers: Vec<PathBuf>,
    /// Armored OpenPGP public keys; repeatable.
    #[arg(long)]
    keyring: Vec<PathBuf>,
    /// Verify every commit since this one (exclusive), which the revision must descend from
    /// (mode `AllSince`).
    #[arg(long)]
    since: Option<String>,
    /// The ref must be an annotated tag, signed, and its commit too (mode `TagAndHEAD`).
    #[arg(long)]
    require_tag: bool,
}

/// Verifies and prints the commit, or why it is rejected.
pub fn main(args: VerifyArgs) -> ExitCode {
    verify(
        &args.repo,
        &args.reference,
        &args.allowed_signers,
        &args.keyring,
        args.since.as_deref(),
        args.require_tag,
    )
}

fn verify(
    repo: &str,
    reference: &str,
    allowed_signers: &[PathBuf],
    keyrings: &[PathBuf],
    since: Option<&str>,
    require_tag: bool,
) -> ExitCode {
    use crate::source::{Fetcher, History, Reference, SourceError, Verification};
    let usage = |m: String| {
        eprintln!("error: {m}");
        ExitCode::from(2)
    };
    let read_all = |files: &[PathBuf]| -> Result<Option<String>, String> {
        if files.is_empty() {
            return Ok(None);
        }
        let mut text = String::new();
        for f in files {
            text.push_str(
                &std::fs::read_to_string(f)
                    .map_err(|e| format!("cannot read `{}`: {e}", f.display()))?,
            );
            text.push('\n');
        }
        Ok(Some(text))
    };
    let (ssh, pgp) = match (read_all(allowed_signers), read_all(keyrings)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return usage(e),
    };
    if ssh.is_none() && pgp.is_none() {
        return usage(
            "give trust material: `--allowed-signers FILE` and/or `--keyring FILE`".into(),
        );
    }
    let policy = match pi_verify::TrustPolicy::parse(ssh.as_deref(), pgp.as_deref(), Vec::new()) {
        Ok(p) => p,
        Err(e) => return usage(format!("trust material: {e}")),
    };
    let last_applied = match since.map(|c| gix::ObjectId::from_hex(c.as_bytes())) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return usage(format!(
                "`--since {}` is not a full commit id",
                since.unwrap_or_default()
            ));
        }
        None => None,
    };
    let mode = match (require_tag, last_applied.is_some()) {
        (true, _) => pi_verify::VerifyMode::TagAndHead,
        (false, true) => pi_verify::VerifyMode::AllSince,
        (false, false) => pi_verify::VerifyMode::Head,
    };
    let url = if repo.contains("://") {
        repo.to_owned()
    } else {
        match std::fs::canonicalize(repo) {
            Ok(p) => format!("file://{}", p.display()),
            Err(e) => return usage(format!("cannot open `{repo}`: {e}")),
        }
    };
    let runtime = match crate::cli_runtime() {
        Ok(rt) => rt,
        Err(e) => return usage(e),
    };
    let cache = std::env::temp_dir().join(format!("pi-agent-verify-{}", std::process::id()));
    let result = runtime.block_on(async {
        // The verify command reads the user's own disk: file URLs are what it is for.
        let fetcher =
            Fetcher::new(&cache, std::time::Duration::from_secs(120)).allow_file_urls(true);
        let candidates: Vec<Reference> =
            if reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
                vec![
                    Reference::parse(&crate::api::GitRef {
                        commit: Some(reference.to_owned()),
                        ..Default::default()
                    })
                    .map_err(SourceError::InvalidSpec)?,
                ]
            } else if require_tag {
                vec![Reference::Tag(reference.to_owned())]
            } else {
                vec![
                    Reference::Branch(reference.to_owned()),
                    Reference::Tag(reference.to_owned()),
                ]
            };
        let mut last = None;
        for r in candidates {
            let history = match last_applied {
                Some(commit) => History::Since(commit),
                None => History::Shallow,
            };
            match fetcher.fetch(&url, &r, None, history).await {
                Ok(snapshot) => {
                    let v = Verification {
                        mode,
                        policy: Some(policy),
                        last_applied,
                        allow_rollback: false,
                    };
                    let verdict = tokio::task::spawn_blocking(move || {
                        snapshot.verify(&v).map(|d| (snapshot.revision.commit, d))
                    })
                    .await
                    .map_err(|e| SourceError::InvalidSpec(e.to_string()))?;
                    return verdict;
                }
                Err(e @ SourceError::ReferenceNotFound { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| SourceError::InvalidSpec(format!("`{reference}` not found"))))
    });
    let _ = std::fs::remove_dir_all(&cache);
    match result {
        Ok((commit, verdict)) => {
            println!("{commit}");
            eprintln!("verified: {}", verdict.summary);
            ExitCode::SUCCESS
        }
        Err(SourceError::VerificationFailed { revision, reason }) => {
            println!("rejected: {revision}: {reason}");
            ExitCode::from(1)
        }
        Err(e) => usage(e.to_string()),
    }
}
