//! The verifier: registry clients per (registry, credentials), a bounded verdict cache, a
//! concurrency limit and a timeout around each image.

use crate::bundle::{
    BundleFailure, MAX_BUNDLE_SIZE, is_bundle_media_type, parse_bundle, verify_bundle,
};
use crate::credentials::{Credential, Credentials};
use crate::error::ImageError;
use crate::extract::{extract_images, rewrite_image};
use crate::keys::KeySet;
use crate::payload::{PayloadError, check_payload};
use crate::policy::{ResolvedPolicy, ResolvedRule};
use crate::reference::{ImageRef, is_sha256_digest, signature_tag};
use crate::registry::{FetchError, MAX_SIGNATURE_LAYERS, RegistryClient, USER_AGENT, hex};
use base64::Engine;
use oci_client::client::{ClientConfig, ClientProtocol};
use ring::digest::{SHA256, digest};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The annotation of a signature layer that holds the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// How the verifier talks to registries. The defaults suit the agent.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// Registries (`host[:port]`, as in image references) reached over plain HTTP. Empty by
    /// default: every registry is HTTPS.
    pub plain_http_registries: Vec<String>,
    /// At most this many images verified at once (default 8).
    pub max_concurrent: usize,
    /// Longest one image may take, tag resolution and signatures included (default 30 s).
    pub timeout: Duration,
    /// Connect timeout of each request (default 10 s).
    pub connect_timeout: Duration,
    /// Verdicts kept (default 4096); the oldest goes first.
    pub cache_capacity: usize,
    /// How long a verdict is reused (default 1 h): a signature deleted from the registry stops
    /// counting after at most this long.
    pub cache_ttl: Duration,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            plain_http_registries: Vec::new(),
            max_concurrent: 8,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            cache_capacity: 4096,
            cache_ttl: Duration::from_secs(3600),
        }
    }
}

/// An image that passed, and what to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The image as written.
    pub image: String,
    /// The manifest or index digest the image resolved to; `None` only for a rule that neither
    /// requires a signature nor pins digests (nothing was fetched).
    pub digest: Option<String>,
    /// What the applied object says: `repository@sha256:…` when the rule pins digests, the
    /// image as written otherwise.
    pub reference: String,
    /// The id of the key whose signature verified ([`crate::keys::PublicKey::id`]); `None`
    /// for a rule that does not require signatures.
    pub signer: Option<String>,
    /// The signature verdict came from the cache.
    pub cached: bool,
}

/// Counters, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tags resolved to digests (one manifest HEAD each).
    pub tag_resolutions: u64,
    /// Signature manifests fetched (`sha256-….sig`).
    pub signature_fetches: u64,
    /// Payload and bundle blobs fetched.
    pub payload_fetches: u64,
    /// Referrer listings fetched (OCI 1.1 referrers API or tag schema), for bundles.
    pub referrer_fetches: u64,
    /// Signature verdicts served from the cache.
    pub cache_hits: u64,
}

#[derive(Default)]
struct Counters {
    tag_resolutions: AtomicU64,
    signature_fetches: AtomicU64,
    payload_fetches: AtomicU64,
    referrer_fetches: AtomicU64,
    cache_hits: AtomicU64,
}

/// Key of a verdict: the digest, the repository path the payload named, and the key set.
type CacheKey = (String, String, [u8; 32]);

struct VerdictCache {
    entries: HashMap<CacheKey, (Instant, String)>,
    order: VecDeque<CacheKey>,
    capacity: usize,
    ttl: Duration,
}

impl VerdictCache {
    fn get(&mut self, key: &CacheKey) -> Option<String> {
        match self.entries.get(key) {
            Some((at, signer)) if at.elapsed() < self.ttl => Some(signer.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: CacheKey, signer: String) {
        if self.capacity == 0 {
            return;
        }
        if let Some(entry) = self.entries.get_mut(&key) {
            *entry = (Instant::now(), signer);
            return;
        }
        while self.entries.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        self.order.push_back(key.clone());
        self.entries.insert(key, (Instant::now(), signer));
    }
}

/// Most distinct (registry, credentials) clients kept.
const MAX_CLIENTS: usize = 256;

/// Verifies images against cosign keys. Cheap to share (`Arc<Verifier>`); one per agent.
///
/// # Guarantees
/// Fail closed: any error, timeout included, is a refusal. A verdict is cached only when a
/// signature verified, keyed by digest, repository and the exact key set, so a verdict reached
/// with one set of keys never admits an image for another. Tags are resolved on every call
/// (they move); digests are not re-fetched while their verdict is cached.
pub struct Verifier {
    config: VerifierConfig,
    // One client per (registry, credential): oci-client keeps one credential per registry in
    // a client, so sharing a client across pull secrets would lend one tenant's credentials to
    // another.
    clients: Mutex<HashMap<(String, String), RegistryClient>>,
    cache: Mutex<VerdictCache>,
    permits: Semaphore,
    counters: Counters,
}

impl Verifier {
    /// A verifier. A rustls crypto provider must be installed first (the agent installs
    /// ring's at start-up: `rustls::crypto::ring::default_provider().install_default()`).
    pub fn new(config: VerifierConfig) -> Self {
        let cache = VerdictCache {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: config.cache_capacity,
            ttl: config.cache_ttl,
        };
        Verifier {
            permits: Semaphore::new(config.max_concurrent.max(1)),
            config,
            clients: Mutex::new(HashMap::new()),
            cache: Mutex::new(cache),
            counters: Counters::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            tag_resolutions: c.tag_resolutions.load(Ordering::Relaxed),
            signature_fetches: c.signature_fetches.load(Ordering::Relaxed),
            payload_fetches: c.payload_fetches.load(Ordering::Relaxed),
            referrer_fetches: c.referrer_fetches.load(Ordering::Relaxed),
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
        }
    }

    /// Verifies one image with one rule (the policy's `select` picks it; the CLI uses
    /// [`ResolvedRule::for_keys`]). The rule's registry allow-lists are the caller's business
    /// ([`ResolvedPolicy::select`] checks them).
    ///
    /// # Errors
    /// Every refusal, as an [`ImageError`] naming the image.
    pub async fn verify(
        &self,
        image: &str,
        rule: &ResolvedRule,
        credentials: &Credentials,
    ) -> Result<Verified, ImageError> {
        let parsed = ImageRef::parse(image)?;
        self.verify_ref(&parsed, rule, credentials).await
    }

    async fn verify_ref(
        &self,
        image: &ImageRef,
        rule: &ResolvedRule,
        credentials: &Credentials,
    ) -> Result<Verified, ImageError> {
        if !rule.required && !rule.mutate_digest {
            return Ok(Verified {
                image: image.original().to_owned(),
                digest: image.digest().map(str::to_owned),
                reference: image.original().to_owned(),
                signer: None,
                cached: false,
            });
        }
        // The semaphore is never closed: an error here cannot happen, but fail closed anyway.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ImageError::Timeout {
                image: image.original().to_owned(),
                seconds: 0,
            })?;
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, self.verify_inner(image, rule, credentials)).await {
            Ok(result) => result,
            Err(_) => Err(ImageError::Timeout {
                image: image.original().to_owned(),
                seconds: timeout.as_secs(),
            }),
        }
    }

    async fn verify_inner(
        &self,
        image: &ImageRef,
        rule: &ResolvedRule,
        credentials: &Credentials,
    ) -> Result<Verified, ImageError> {
        let client = self.client(image.registry(), credentials.for_registry(image.registry()))?;
        let fetch_error = |e: FetchError| registry_error(image, e);
        let digest = match image.digest() {
            Some(d) => d.to_owned(),
            None => {
                self.counters
                    .tag_resolutions
                    .fetch_add(1, Ordering::Relaxed);
                let tag = image.tag().unwrap_or("latest");
                let d = client
                    .resolve_digest(image.registry(), image.repository(), tag)
                    .await
                    .map_err(fetch_error)?;
                if !is_sha256_digest(&d) {
                    return Err(ImageError::RegistryFailed {
                        image: image.original().to_owned(),
                        registry: image.registry().to_owned(),
                        why: format!("tag resolved to `{d}`, not a sha256 digest"),
                    });
                }
                d
            }
        };
        let reference = if rule.mutate_digest {
            image.pinned(&digest)
        } else {
            image.original().to_owned()
        };
        let mut verified = Verified {
            image: image.original().to_owned(),
            digest: Some(digest.clone()),
            reference,
            signer: None,
            cached: false,
        };
        if !rule.required {
            return Ok(verified);
        }
        let key: CacheKey = (
            digest.clone(),
            image.repository().to_owned(),
            rule.keys.id(),
        );
        let hit = self.cache.lock().ok().and_then(|mut c| c.get(&key));
        if let Some(signer) = hit {
            self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
            verified.signer = Some(signer);
            verified.cached = true;
            return Ok(verified);
        }
        let signer = self
            .check_signatures(&client, image, &digest, &rule.keys)
            .await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, signer.clone());
        }
        verified.signer = Some(signer);
        Ok(verified)
    }

    /// Looks for a signature of `digest` by one of `keys`: cosign's legacy signature manifest
    /// (`sha256-<hex>.sig`) first, then the Sigstore bundles among the digest's OCI 1.1
    /// referrers (cosign v3's default). Returns the id of the first key that verified.
    async fn check_signatures(
        &self,
        client: &RegistryClient,
        image: &ImageRef,
        digest: &str,
        keys: &KeySet,
    ) -> Result<String, ImageError> {
        // Why each signature failed; the most telling failure is reported when none passes.
        let mut failures: Vec<ImageError> = Vec::new();
        if let Some(signer) = self
            .check_legacy(client, image, digest, keys, &mut failures)
            .await?
        {
            return Ok(signer);
        }
        if let Some(signer) = self
            .check_bundles(client, image, digest, keys, &mut failures)
            .await?
        {
            return Ok(signer);
        }
        Err(
            most_telling(failures).unwrap_or_else(|| ImageError::NoSignature {
                image: image.original().to_owned(),
                signature_tag: signature_tag(digest),
            }),
        )
    }

    /// The legacy format: each layer of the `sha256-<hex>.sig` manifest is a simple-signing
    /// payload, its signature in an annotation.
    async fn check_legacy(
        &self,
        client: &RegistryClient,
        image: &ImageRef,
        digest: &str,
        keys: &KeySet,
        failures: &mut Vec<ImageError>,
    ) -> Result<Option<String>, ImageError> {
        let original = || image.original().to_owned();
        let tag = signature_tag(digest);
        self.counters
            .signature_fetches
            .fetch_add(1, Ordering::Relaxed);
        let Some((_, manifest)) = client
            .image_manifest(image.registry(), image.repository(), &tag)
            .await
            .map_err(|e| registry_error(image, e))?
        else {
            return Ok(None);
        };
        for (i, layer) in manifest
            .layers
            .iter()
            .take(MAX_SIGNATURE_LAYERS)
            .enumerate()
        {
            let malformed = |why: String| ImageError::MalformedSignature {
                image: original(),
                why: format!("signature {i}: {why}"),
            };
            let Some(encoded) = layer
                .annotations
                .as_ref()
                .and_then(|a| a.get(SIGNATURE_ANNOTATION))
            else {
                failures.push(malformed(format!("no `{SIGNATURE_ANNOTATION}` annotation")));
                continue;
            };
            let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(encoded.trim())
            else {
                failures.push(malformed("signature is not base64".into()));
                continue;
            };
            let all_ecdsa = keys.keys().iter().all(|k| k.kind().is_ecdsa());
            if all_ecdsa && !is_der_ecdsa_signature(&signature) {
                failures.push(malformed(
                    "signature is not an ASN.1 DER ECDSA signature".into(),
                ));
                continue;
            }
            if layer.size < 0 || layer.size as usize > crate::payload::MAX_PAYLOAD_SIZE {
                failures.push(malformed(format!(
                    "payload size {} is out of bounds",
                    layer.size
                )));
                continue;
            }
            self.counters
                .payload_fetches
                .fetch_add(1, Ordering::Relaxed);
            let payload = match client
                .blob(
                    image.registry(),
                    image.repository(),
                    &layer.digest,
                    layer.size,
                    crate::payload::MAX_PAYLOAD_SIZE,
                )
                .await
            {
                Ok(p) => p,
                Err(FetchError::NotFound(why)) => {
                    failures.push(malformed(format!("payload {}: {why}", layer.digest)));
                    continue;
                }
                // Content that does not match its descriptor is tampering, not a signature
                // that failed: the whole image is refused, whatever the other layers say.
                Err(e) => return Err(registry_error(image, e)),
            };
            let Some(key) = keys.verify(&payload, &signature) else {
                failures.push(ImageError::UntrustedSignature {
                    image: original(),
                    digest: digest.to_owned(),
                    signatures: manifest.layers.len(),
                    keys: keys.len(),
                });
                continue;
            };
            match check_payload(&payload, digest) {
                Ok(_) => return Ok(Some(key.id().to_owned())),
                Err(PayloadError::DigestMismatch { signed }) => {
                    failures.push(ImageError::DigestMismatch {
                        image: original(),
                        digest: digest.to_owned(),
                        signed,
                    })
                }
                Err(PayloadError::Malformed(why)) => failures.push(ImageError::MalformedPayload {
                    image: original(),
                    why,
                }),
            }
        }
        Ok(None)
    }

    /// cosign v3's format: Sigstore bundles attached to the digest as OCI 1.1 referrers (the
    /// referrers API, or the `sha256-<hex>` tag schema on registries without it).
    async fn check_bundles(
        &self,
        client: &RegistryClient,
        image: &ImageRef,
        digest: &str,
        keys: &KeySet,
        failures: &mut Vec<ImageError>,
    ) -> Result<Option<String>, ImageError> {
        let original = || image.original().to_owned();
        let (registry, repository) = (image.registry(), image.repository());
        let fetch = |e| registry_error(image, e);
        self.counters
            .referrer_fetches
            .fetch_add(1, Ordering::Relaxed);
        let referrers = client
            .referrers(registry, repository, digest)
            .await
            .map_err(fetch)?;
        let bundles: Vec<_> = referrers
            .iter()
            .filter(|r| r.artifact_type.as_deref().is_some_and(is_bundle_media_type))
            .take(MAX_SIGNATURE_LAYERS)
            .collect();
        let mut manifest_bytes: Option<Vec<u8>> = None;
        for (i, entry) in bundles.iter().enumerate() {
            let malformed = |why: String| ImageError::MalformedSignature {
                image: original(),
                why: format!("bundle {i} ({}): {why}", entry.digest),
            };
            // Read by digest: bytes of another digest are tampering (refused right away).
            let Some((_, referrer)) = client
                .image_manifest(registry, repository, &entry.digest)
                .await
                .map_err(fetch)?
            else {
                failures.push(malformed("listed, but its manifest is not found".into()));
                continue;
            };
            match &referrer.subject {
                Some(subject) if subject.digest == digest => {}
                other => {
                    failures.push(ImageError::UntrustedContent {
                        image: original(),
                        registry: registry.to_owned(),
                        why: format!(
                            "referrer {} of {digest} has subject {}",
                            entry.digest,
                            other.as_ref().map_or("none", |s| s.digest.as_str())
                        ),
                    });
                    continue;
                }
            }
            let Some(layer) = referrer
                .layers
                .iter()
                .find(|l| is_bundle_media_type(&l.media_type))
            else {
                failures.push(malformed("no layer holds a Sigstore bundle".into()));
                continue;
            };
            self.counters
                .payload_fetches
                .fetch_add(1, Ordering::Relaxed);
            let bytes = match client
                .blob(
                    registry,
                    repository,
                    &layer.digest,
                    layer.size,
                    MAX_BUNDLE_SIZE,
                )
                .await
            {
                Ok(b) => b,
                Err(FetchError::NotFound(why)) => {
                    failures.push(malformed(why));
                    continue;
                }
                Err(e) => return Err(fetch(e)),
            };
            let bundle = match parse_bundle(&bytes) {
                Ok(b) => b,
                Err(why) => {
                    failures.push(malformed(why));
                    continue;
                }
            };
            let mut verdict = verify_bundle(&bundle, digest, keys, manifest_bytes.as_deref());
            if verdict == Err(BundleFailure::NeedsManifest) {
                let raw = client
                    .manifest(registry, repository, digest)
                    .await
                    .map_err(fetch)?
                    .ok_or_else(|| ImageError::ImageNotFound {
                        image: original(),
                        why: format!("manifest {digest} not found"),
                    })?;
                manifest_bytes = Some(raw.bytes);
                verdict = verify_bundle(&bundle, digest, keys, manifest_bytes.as_deref());
            }
            match verdict {
                Ok(signer) => return Ok(Some(signer)),
                Err(BundleFailure::Keyless) => failures.push(malformed(
                    "signed with a certificate (keyless), which is not supported: give the signer's public key".into(),
                )),
                Err(BundleFailure::Untrusted) | Err(BundleFailure::NeedsManifest) => {
                    failures.push(ImageError::UntrustedSignature {
                        image: original(),
                        digest: digest.to_owned(),
                        signatures: bundles.len(),
                        keys: keys.len(),
                    })
                }
                Err(BundleFailure::Payload(PayloadError::DigestMismatch { signed })) => {
                    failures.push(ImageError::DigestMismatch {
                        image: original(),
                        digest: digest.to_owned(),
                        signed,
                    })
                }
                Err(BundleFailure::Payload(PayloadError::Malformed(why))) => {
                    failures.push(ImageError::MalformedPayload {
                        image: original(),
                        why,
                    })
                }
            }
        }
        Ok(None)
    }

    /// The client for `registry` with `credential`, made on first use.
    fn client(
        &self,
        registry: &str,
        credential: Option<&Credential>,
    ) -> Result<RegistryClient, ImageError> {
        let identity = credential.map_or_else(String::new, credential_fingerprint);
        let key = (registry.to_owned(), identity);
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| ImageError::RegistryFailed {
                image: String::new(),
                registry: registry.to_owned(),
                why: "client table poisoned".into(),
            })?;
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let plain = self
            .config
            .plain_http_registries
            .iter()
            .any(|r| r == registry);
        let config = ClientConfig {
            protocol: if plain {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(self.config.connect_timeout),
            read_timeout: Some(self.config.timeout),
            user_agent: USER_AGENT,
            ..ClientConfig::default()
        };
        let build_error = |e: String| ImageError::RegistryFailed {
            image: String::new(),
            registry: registry.to_owned(),
            why: format!("cannot build an HTTP client: {e}"),
        };
        let oci = oci_client::Client::try_from(config).map_err(|e| build_error(e.to_string()))?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(self.config.connect_timeout)
            .timeout(self.config.timeout)
            .build()
            .map_err(|e| build_error(e.to_string()))?;
        let client = RegistryClient {
            oci,
            auth: RegistryClient::auth_for(credential),
            http,
            scheme: if plain { "http" } else { "https" },
            tokens: Default::default(),
        };
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// The failure to report when no signature layer passed: a trusted signature over the wrong
/// content says more than an untrusted one, which says more than an undecodable one.
fn most_telling(failures: Vec<ImageError>) -> Option<ImageError> {
    let rank = |e: &ImageError| match e {
        ImageError::DigestMismatch { .. } => 0,
        ImageError::MalformedPayload { .. } => 2,
        ImageError::UntrustedSignature { .. } => 3,
        _ => 4,
    };
    failures.into_iter().min_by_key(rank)
}

/// `SEQUENCE { INTEGER r, INTEGER s }` in DER, as cosign writes it (at most 72 bytes for
/// P-256, 104 for P-384). Only the structure is checked, so that a mangled signature is reported as corrupted
/// rather than as signed by another key; ring checks the rest.
fn is_der_ecdsa_signature(sig: &[u8]) -> bool {
    fn integer(bytes: &[u8]) -> Option<&[u8]> {
        match bytes {
            [0x02, len, rest @ ..] if *len >= 1 && *len <= 49 && rest.len() >= *len as usize => {
                Some(&rest[*len as usize..])
            }
            _ => None,
        }
    }
    match sig {
        [0x30, len, body @ ..] if *len as usize == body.len() => integer(body)
            .and_then(integer)
            .is_some_and(<[u8]>::is_empty),
        _ => false,
    }
}

fn credential_fingerprint(c: &Credential) -> String {
    let material = match c {
        Credential::Basic { username, password } => format!("basic\0{username}\0{password}"),
        Credential::Bearer(token) => format!("bearer\0{token}"),
    };
    hex(digest(&SHA256, material.as_bytes()).as_ref())
}

fn registry_error(image: &ImageRef, e: FetchError) -> ImageError {
    let (image_s, registry) = (image.original().to_owned(), image.registry().to_owned());
    match e {
        FetchError::NotFound(why) => ImageError::ImageNotFound {
            image: image_s,
            why,
        },
        FetchError::Unreachable(why) => ImageError::RegistryUnreachable {
            image: image_s,
            registry,
            why,
        },
        FetchError::Failed(why) | FetchError::Status(_, why) => ImageError::RegistryFailed {
            image: image_s,
            registry,
            why,
        },
        FetchError::Untrusted(why) => ImageError::UntrustedContent {
            image: image_s,
            registry,
            why,
        },
    }
}

/// Checks every image of `objects` against `policy`, and pins those whose rule says
/// `mutateDigest` to their digest, in place.
///
/// Images are deduplicated and verified concurrently (bounded by the verifier). Returns one
/// [`Verified`] per distinct image, in the order the images first appear.
///
/// # Errors
/// The first refused image in manifest order.
///
/// # Guarantees
/// On error `objects` is left exactly as it was: images are rewritten only once every image
/// passed.
pub async fn check_objects(
    verifier: &Verifier,
    policy: &ResolvedPolicy,
    objects: &mut [Value],
) -> Result<Vec<Verified>, ImageError> {
    let uses = extract_images(objects);
    let mut distinct: Vec<&str> = Vec::new();
    for u in &uses {
        if !distinct.contains(&u.image.as_str()) {
            distinct.push(&u.image);
        }
    }
    let checks = distinct.iter().map(|image| async move {
        let parsed = ImageRef::parse(image)?;
        let rule = policy.select(&parsed)?;
        let verified = verifier
            .verify_ref(&parsed, rule, &policy.credentials)
            .await?;
        Ok::<_, ImageError>((verified, rule.mutate_digest))
    });
    let results = futures::future::join_all(checks).await;
    let mut verified = Vec::with_capacity(results.len());
    let mut pin: HashMap<String, String> = HashMap::new();
    for result in results {
        let (v, mutate) = result?;
        if mutate {
            pin.insert(v.image.clone(), v.reference.clone());
        }
        verified.push(v);
    }
    for u in &uses {
        if let Some(reference) = pin.get(&u.image) {
            rewrite_image(objects, u, reference);
        }
    }
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(d: &str) -> CacheKey {
        (d.into(), "app".into(), [0; 32])
    }

    #[test]
    fn cache_should_evict_the_oldest_beyond_capacity() {
        let mut c = VerdictCache {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: 2,
            ttl: Duration::from_secs(60),
        };
        c.insert(key("a"), "k".into());
        c.insert(key("b"), "k".into());
        c.insert(key("a"), "k2".into());
        assert_eq!(c.entries.len(), 2);
        c.insert(key("c"), "k".into());
        assert_eq!(c.get(&key("a")), None);
        assert_eq!(c.get(&key("b")).as_deref(), Some("k"));
        assert_eq!(c.get(&key("c")).as_deref(), Some("k"));
    }

    #[test]
    fn cache_entries_should_expire() {
        let mut c = VerdictCache {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: 2,
            ttl: Duration::ZERO,
        };
        c.insert(key("a"), "k".into());
        assert_eq!(c.get(&key("a")), None);
        let mut off = VerdictCache { capacity: 0, ..c };
        off.insert(key("a"), "k".into());
        assert!(off.entries.is_empty());
    }

    #[test]
    fn the_most_telling_failure_should_be_reported() {
        let e = |reason: &str| match reason {
            "digest" => ImageError::DigestMismatch {
                image: "i".into(),
                digest: "d".into(),
                signed: "s".into(),
            },
            "untrusted" => ImageError::UntrustedSignature {
                image: "i".into(),
                digest: "d".into(),
                signatures: 2,
                keys: 1,
            },
            _ => ImageError::MalformedSignature {
                image: "i".into(),
                why: "w".into(),
            },
        };
        let picked = most_telling(vec![e("malformed"), e("untrusted"), e("digest")]).unwrap();
        assert_eq!(picked.reason(), "DigestMismatch");
        let picked = most_telling(vec![e("malformed"), e("untrusted")]).unwrap();
        assert_eq!(picked.reason(), "UntrustedSignature");
        assert!(most_telling(Vec::new()).is_none());
    }

    #[test]
    fn der_signature_structure_should_be_checked() {
        let (pair, _) = crate::keys::tests::key_pair();
        let sig = crate::keys::tests::sign(&pair, b"payload");
        assert!(is_der_ecdsa_signature(&sig));
        assert!(!is_der_ecdsa_signature(&sig[..sig.len() - 1]));
        assert!(!is_der_ecdsa_signature(b""));
        assert!(!is_der_ecdsa_signature(b"\x30\x00"));
        let mut bad = sig.clone();
        bad[2] = 0x04;
        assert!(!is_der_ecdsa_signature(&bad));
    }

    #[test]
    fn credentials_should_get_distinct_clients() {
        let a = Credential::Basic {
            username: "a".into(),
            password: "p".into(),
        };
        let b = Credential::Basic {
            username: "a".into(),
            password: "q".into(),
        };
        assert_ne!(credential_fingerprint(&a), credential_fingerprint(&b));
        assert_ne!(
            credential_fingerprint(&Credential::Bearer("x".into())),
            credential_fingerprint(&a)
        );
    }

    #[tokio::test]
    async fn rules_that_check_nothing_should_not_touch_the_registry() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let v = Verifier::new(VerifierConfig::default());
        let rule = ResolvedRule {
            required: false,
            mutate_digest: false,
            ..ResolvedRule::for_keys(KeySet::new(Vec::new()))
        };
        let got = v
            .verify("unreachable.invalid/app:v1", &rule, &Credentials::none())
            .await
            .unwrap();
        assert_eq!(got.reference, "unreachable.invalid/app:v1");
        assert_eq!(v.stats(), Stats::default());
    }

    #[tokio::test]
    async fn an_unreachable_registry_should_be_a_transient_refusal() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // A port nothing listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let registry = format!("127.0.0.1:{port}");
        let v = Verifier::new(VerifierConfig {
            plain_http_registries: vec![registry.clone()],
            ..VerifierConfig::default()
        });
        let image = format!("{registry}/app:v1");
        let (_, pem) = crate::keys::tests::key_pair();
        let rule = ResolvedRule::for_keys(KeySet::from_pems(&[pem]).unwrap());
        let e = v
            .verify(&image, &rule, &Credentials::none())
            .await
            .unwrap_err();
        assert_eq!(e.reason(), "RegistryUnreachable", "{e}");
        assert_eq!(e.retry_class(), crate::RetryClass::Transient);
        assert!(
            e.to_string()
                .starts_with(&format!("image {image}: registry `{registry}` unreachable")),
            "{e}"
        );
    }
}
