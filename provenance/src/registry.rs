//! The few registry reads verification needs: a manifest by tag or digest, a blob by
//! descriptor, the referrers of a digest. Every read is size-bounded while it streams, and every
//! digest is computed here from the bytes received: nothing the registry says about its content
//! (`Docker-Content-Digest`, `Content-Length`) is believed.
//!
//! `oci-client` is kept for the token dance (`WWW-Authenticate` challenge, token endpoint);
//! the reads themselves are plain `reqwest` GETs, so that their size and their content checks
//! are ours.

use crate::credentials::Credential;
use crate::reference::is_sha256_digest;
use oci_client::manifest::{OciImageIndex, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use ring::digest::{SHA256, digest};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Largest manifest or index read (distribution's own limit is 4 MiB).
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;
/// Most signature layers, referrers or bundles looked at for one image.
pub const MAX_SIGNATURE_LAYERS: usize = 64;
/// Largest error body read (only to quote the registry's message).
const MAX_ERROR_BODY: usize = 16 * 1024;

/// The `User-Agent` of every request (the oci-client token requests included).
pub(crate) const USER_AGENT: &str = concat!("pi-provenance/", env!("CARGO_PKG_VERSION"));

/// Manifest media types asked for (`Accept`).
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Why a registry read failed, before it is tied to an image.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The registry said the tag, manifest or blob does not exist.
    NotFound(String),
    /// No answer: connection refused, DNS, TLS, timeout, a connection cut mid-body.
    Unreachable(String),
    /// An answer that is an error (authentication, 5xx, rate limit).
    Failed(String),
    /// An HTTP error status other than 404 (kept apart so that a missing referrers API,
    /// 400/405, can be told from a failing one).
    Status(u16, String),
    /// Content that is not what it must be: bytes that do not hash to the digest they were
    /// asked by, a blob of another size than its descriptor, a body over its limit. A
    /// registry (or something between) that tampers: never retried.
    Untrusted(String),
}

/// A manifest as received, with the digest of its bytes.
pub(crate) struct RawManifest {
    pub(crate) bytes: Vec<u8>,
    /// `sha256:<hex>` of `bytes`, computed here.
    pub(crate) digest: String,
}

/// One registry, one set of credentials.
#[derive(Clone)]
pub(crate) struct RegistryClient {
    pub(crate) oci: Client,
    pub(crate) auth: RegistryAuth,
    pub(crate) http: reqwest::Client,
    /// `http` or `https`.
    pub(crate) scheme: &'static str,
    /// `Authorization` header value per repository, once the token dance was done.
    pub(crate) tokens: Arc<Mutex<HashMap<String, Option<String>>>>,
}

pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(digest(&SHA256, bytes).as_ref()))
}

impl RegistryClient {
    pub(crate) fn auth_for(credential: Option<&Credential>) -> RegistryAuth {
        match credential {
            None => RegistryAuth::Anonymous,
            Some(Credential::Basic { username, password }) => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Some(Credential::Bearer(token)) => RegistryAuth::Bearer(token.clone()),
        }
    }

    /// The `Authorization` header for `repository`: a bearer token from the registry's token
    /// endpoint, else basic credentials, else none. `fresh` redoes the dance (after a 401).
    async fn authorization(
        &self,
        registry: &str,
        repository: &str,
        fresh: bool,
    ) -> Result<Option<String>, FetchError> {
        if !fresh
            && let Some(known) = self
                .tokens
                .lock()
                .ok()
                .and_then(|t| t.get(repository).cloned())
        {
            return Ok(known);
        }
        let reference = Reference::with_tag(registry.to_owned(), repository.to_owned(), "x".into());
        let token = self
            .oci
            .auth(&reference, &self.auth, RegistryOperation::Pull)
            .await
            .map_err(|e| match e {
                oci_client::errors::OciDistributionError::RequestError(r) if !r.is_status() => {
                    unreachable(&format!("{registry} (authentication)"), &r)
                }
                e => FetchError::Failed(format!("authentication: {e}")),
            })?;
        let header = match (token, &self.auth) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, RegistryAuth::Basic(user, password)) => {
                use base64::Engine;
                let pair = format!("{user}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            (None, RegistryAuth::Bearer(token)) => Some(format!("Bearer {token}")),
            (None, _) => None,
        };
        if let Ok(mut tokens) = self.tokens.lock() {
            if tokens.len() > 1024 {
                tokens.clear();
            }
            tokens.insert(repository.to_owned(), header.clone());
        }
        Ok(header)
    }

    /// `GET /v2/<repository>/<path>`, the body read up to `limit` bytes. Returns `None` for a
    /// 404. A body over `limit` is [`FetchError::Untrusted`] (`what` names it).
    async fn get(
        &self,
        registry: &str,
        repository: &str,
        path: &str,
        accept: &str,
        limit: usize,
        what: &str,
    ) -> Result<Option<Vec<u8>>, FetchError> {
        let host = Reference::with_tag(registry.to_owned(), repository.to_owned(), "x".into())
            .resolve_registry()
            .to_owned();
        let url = format!("{}://{host}/v2/{repository}/{path}", self.scheme);
        let mut fresh = false;
        loop {
            let authorization = self.authorization(registry, repository, fresh).await?;
            let mut request = self.http.get(&url).header("Accept", accept);
            if let Some(a) = &authorization {
                request = request.header("Authorization", a);
            }
            let mut response = request.send().await.map_err(|e| unreachable(&url, &e))?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !fresh {
                // A token that expired, or a first read before any challenge: once more.
                fresh = true;
                continue;
            }
            if !status.is_success() {
                let body = read_limited(&mut response, MAX_ERROR_BODY, &url)
                    .await
                    .unwrap_or_default();
                if status == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                let message = registry_message(&body);
                return Err(FetchError::Status(
                    status.as_u16(),
                    format!("{status} for {url}{message}"),
                ));
            }
            if let Some(declared) = response.content_length()
                && declared > limit as u64
            {
                return Err(FetchError::Untrusted(format!(
                    "{what} of {declared} bytes is over the {limit} byte limit"
                )));
            }
            return match read_limited(&mut response, limit, &url).await? {
                Some(body) => Ok(Some(body)),
                None => Err(FetchError::Untrusted(format!(
                    "{what} is over the {limit} byte limit"
                ))),
            };
        }
    }

    /// The manifest (or index) at `reference` (a tag or a `sha256:` digest), its digest
    /// computed from the bytes; `None` when the registry says it does not exist. Asked by
    /// digest, bytes of another digest are [`FetchError::Untrusted`].
    pub(crate) async fn manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Option<RawManifest>, FetchError> {
        let Some(bytes) = self
            .get(
                registry,
                repository,
                &format!("manifests/{reference}"),
                MANIFEST_TYPES,
                MAX_MANIFEST_SIZE,
                &format!("manifest `{repository}:{reference}`"),
            )
            .await?
        else {
            return Ok(None);
        };
        let digest = sha256_digest(&bytes);
        if is_sha256_digest(reference) && digest != reference {
            return Err(FetchError::Untrusted(format!(
                "manifest asked as {reference} is {digest}"
            )));
        }
        Ok(Some(RawManifest { bytes, digest }))
    }

    /// The digest a tag resolves to (index or manifest), computed from the manifest bytes the
    /// registry serves: a registry that names another digest in `Docker-Content-Digest` than
    /// the bytes it serves is not believed. The kubelet then pulls by this digest.
    pub(crate) async fn resolve_digest(
        &self,
        registry: &str,
        repository: &str,
        tag: &str,
    ) -> Result<String, FetchError> {
        match self.manifest(registry, repository, tag).await? {
            Some(m) => Ok(m.digest),
            None => Err(FetchError::NotFound(format!("tag `{tag}` not found"))),
        }
    }

    /// The image manifest at `reference`, parsed; `None` when it does not exist.
    pub(crate) async fn image_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(RawManifest, OciImageManifest)>, FetchError> {
        let Some(raw) = self.manifest(registry, repository, reference).await? else {
            return Ok(None);
        };
        let parsed = serde_json::from_slice(&raw.bytes).map_err(|e| {
            FetchError::Untrusted(format!(
                "`{repository}:{reference}` is not an image manifest: {e}"
            ))
        })?;
        Ok(Some((raw, parsed)))
    }

    /// A blob, checked against its descriptor: exactly `size` bytes (at most `limit`) that hash
    /// to `blob_digest`. Anything else is [`FetchError::Untrusted`].
    pub(crate) async fn blob(
        &self,
        registry: &str,
        repository: &str,
        blob_digest: &str,
        size: i64,
        limit: usize,
    ) -> Result<Vec<u8>, FetchError> {
        if !is_sha256_digest(blob_digest) {
            return Err(FetchError::Untrusted(format!(
                "blob descriptor digest `{blob_digest}` is not a sha256 digest"
            )));
        }
        if size < 0 || size as u64 > limit as u64 {
            return Err(FetchError::Untrusted(format!(
                "blob {blob_digest}: descriptor size {size} is out of bounds (limit {limit})"
            )));
        }
        let size = size as usize;
        // One byte more than the descriptor says, so that a longer blob is seen as longer.
        let bytes = self
            .get(
                registry,
                repository,
                &format!("blobs/{blob_digest}"),
                "*/*",
                size + 1,
                &format!("blob {blob_digest}"),
            )
            .await?
            .ok_or_else(|| FetchError::NotFound(format!("blob {blob_digest} not found")))?;
        if bytes.len() != size {
            return Err(FetchError::Untrusted(format!(
                "blob {blob_digest} is {} bytes, its descriptor says {size}",
                bytes.len()
            )));
        }
        let actual = sha256_digest(&bytes);
        if actual != blob_digest {
            return Err(FetchError::Untrusted(format!(
                "blob {blob_digest} has content {actual}"
            )));
        }
        Ok(bytes)
    }

    /// The referrers of `subject` (OCI 1.1): the referrers API
    /// (`/v2/<name>/referrers/<digest>`) and, when the registry does not have it or lists
    /// nothing, the referrers tag schema (`sha256-<hex>`, an index). Both listings are merged.
    pub(crate) async fn referrers(
        &self,
        registry: &str,
        repository: &str,
        subject: &str,
    ) -> Result<Vec<oci_client::manifest::ImageIndexEntry>, FetchError> {
        let mut entries = Vec::new();
        let api = self
            .get(
                registry,
                repository,
                &format!("referrers/{subject}"),
                "application/vnd.oci.image.index.v1+json",
                MAX_MANIFEST_SIZE,
                &format!("referrers of {subject}"),
            )
            .await;
        match api {
            Ok(Some(body)) => {
                // A registry without the API may answer something else than an index: the tag
                // schema is then the only listing.
                if let Ok(index) = serde_json::from_slice::<OciImageIndex>(&body) {
                    entries.extend(index.manifests);
                }
            }
            // distribution 2.8 answers unknown routes with 404; some registries with 400/405.
            Ok(None) | Err(FetchError::NotFound(_)) | Err(FetchError::Status(400 | 405, _)) => {}
            Err(e) => return Err(e),
        }
        if entries.is_empty() {
            let tag = subject.replacen(':', "-", 1);
            if let Some(raw) = self.manifest(registry, repository, &tag).await? {
                let index: OciImageIndex = serde_json::from_slice(&raw.bytes).map_err(|e| {
                    FetchError::Untrusted(format!(
                        "referrers tag `{tag}` is not an image index: {e}"
                    ))
                })?;
                entries.extend(index.manifests);
            }
        }
        Ok(entries)
    }
}

/// Reads at most `limit` bytes of the body; `None` when there is more.
async fn read_limited(
    response: &mut reqwest::Response,
    limit: usize,
    url: &str,
) -> Result<Option<Vec<u8>>, FetchError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(url, &e))? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The `errors[].message` of a registry error body, as `: message`; empty when there is none.
fn registry_message(body: &Option<Vec<u8>>) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let Some(body) = body else {
        return String::new();
    };
    match serde_json::from_slice::<Envelope>(body) {
        Ok(e) if !e.errors.is_empty() => {
            let parts: Vec<String> = e
                .errors
                .iter()
                .map(|e| format!("{} {}", e.code, e.message).trim().to_owned())
                .collect();
            format!(": {}", parts.join("; "))
        }
        _ => String::new(),
    }
}

/// A transport error, with reqwest's cause chain (its Display alone is terse).
fn unreachable(url: &str, e: &reqwest::Error) -> FetchError {
    let mut why = format!("{url}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    FetchError::Unreachable(why)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
