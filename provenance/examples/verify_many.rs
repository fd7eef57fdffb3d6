//! Verifies many images with one [`Verifier`], twice: cold (empty cache) and warm (every
//! verdict cached), and prints the wall times as JSON. The driver of `benches/images/run`.
//!
//! Usage: `verify_many [--plain-http REGISTRY]... --key PEM_FILE IMAGE...`

use provenance::{Credentials, KeySet, ResolvedRule, Verifier, VerifierConfig};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let (mut plain, mut keys, mut images) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--plain-http" => plain.push(args.next().ok_or("--plain-http REGISTRY")?),
            "--key" => keys.push(std::fs::read_to_string(args.next().ok_or("--key FILE")?)?),
            _ => images.push(a),
        }
    }
    let rule = ResolvedRule::for_keys(KeySet::from_pems(&keys)?);
    let verifier = Verifier::new(VerifierConfig {
        plain_http_registries: plain,
        ..VerifierConfig::default()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let creds = Credentials::none();
    let mut times = Vec::new();
    for round in ["cold", "warm"] {
        let start = Instant::now();
        let results = runtime.block_on(futures::future::join_all(
            images.iter().map(|i| verifier.verify(i, &rule, &creds)),
        ));
        let elapsed = start.elapsed().as_secs_f64();
        for r in &results {
            if let Err(e) = r {
                return Err(format!("{round}: {e}").into());
            }
        }
        let cached = results
            .iter()
            .filter(|r| r.as_ref().is_ok_and(|v| v.cached))
            .count();
        times.push(format!(
            "\"{round}\": {{\"seconds\": {elapsed:.4}, \"images\": {}, \"cached\": {cached}}}",
            results.len()
        ));
    }
    let s = verifier.stats();
    println!(
        "{{{}, \"signature_fetches\": {}, \"referrer_fetches\": {}, \"payload_fetches\": {}, \"tag_resolutions\": {}}}",
        times.join(", "),
        s.signature_fetches,
        s.referrer_fetches,
        s.payload_fetches,
        s.tag_resolutions
    );
    Ok(())
}
