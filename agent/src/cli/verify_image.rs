//! `pi-agent verify-image`: an image verified as the controller verifies it.

use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `pi-agent verify-image`.
#[derive(clap::Args)]
pub struct VerifyImageArgs {
    /// The image (`registry.example/app:v1`, or `…@sha256:…`).
    image: String,
    /// Cosign public key files (PEM: ECDSA P-256 or P-384, Ed25519, RSA); repeatable, any one
    /// may have signed (legacy `.sig` signatures and cosign v3 Sigstore bundles).
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    /// Reach the image's registry over plain HTTP (a local or test registry).
    #[arg(long)]
    plain_http: bool,
    /// Registries the image may come from (host, or host/repository prefix); repeatable.
    #[arg(long = "allowed-registry")]
    allowed_registries: Vec<String>,
}

/// Verifies and prints the pinned reference, or why it is rejected.
pub fn main(args: VerifyImageArgs) -> ExitCode {
    verify_image(
        &args.image,
        &args.keys,
        args.plain_http,
        args.allowed_registries,
    )
}

fn verify_image(
    image: &str,
    key_files: &[PathBuf],
    plain_http: bool,
    allowed_registries: Vec<String>,
) -> ExitCode {
    use provenance::{
        Credentials, ImageRef, KeySet, ResolvedPolicy, ResolvedRule, RetryClass, Verifier,
        VerifierConfig,
    };
    let usage = |m: String| {
        eprintln!("error: {m}");
        ExitCode::from(2)
    };
    let mut pems = Vec::with_capacity(key_files.len());
    for f in key_files {
        match std::fs::read_to_string(f) {
            Ok(text) => pems.push(text),
            Err(e) => return usage(format!("cannot read `{}`: {e}", f.display())),
        }
    }
    let keys = match KeySet::from_pems(&pems) {
        Ok(k) => k,
        Err(provenance::PolicyError::InvalidKey { index, why }) => {
            return usage(format!("`{}`: {why}", key_files[index].display()));
        }
        Err(e) => return usage(e.to_string()),
    };
    let parsed = match ImageRef::parse(image) {
        Ok(p) => p,
        Err(e) => return usage(e.to_string()),
    };
    let policy = ResolvedPolicy {
        allowed_registries,
        rules: vec![ResolvedRule::for_keys(keys)],
        credentials: Credentials::none(),
    };
    let rejected = |e: provenance::ImageError| match e.retry_class() {
        RetryClass::Terminal => {
            println!("rejected: {e}");
            ExitCode::from(1)
        }
        RetryClass::Transient => usage(e.to_string()),
    };
    let rule = match policy.select(&parsed) {
        Ok(r) => r,
        Err(e) => return rejected(e),
    };
    let runtime = match crate::cli_runtime() {
        Ok(rt) => rt,
        Err(e) => return usage(e),
    };
    let verifier = Verifier::new(VerifierConfig {
        plain_http_registries: if plain_http {
            vec![parsed.registry().to_owned()]
        } else {
            Vec::new()
        },
        ..VerifierConfig::default()
    });
    match runtime.block_on(verifier.verify(image, rule, &policy.credentials)) {
        Ok(v) => {
            println!("{}", v.reference);
            eprintln!(
                "verified: {image} is {} signed by key {}",
                v.digest.as_deref().unwrap_or("?"),
                v.signer.as_deref().unwrap_or("?")
            );
            ExitCode::SUCCESS
        }
        Err(e) => rejected(e),
    }
}
