//! The few registry reads verification needs, over `oci-client`: tag → digest, the cosign
//! signature manifest, a signature payload blob (size-bounded, digest-checked).

use crate::credentials::Credential;
use crate::payload::MAX_PAYLOAD_SIZE;
use futures::StreamExt;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use ring::digest::{SHA256, digest};

/// Largest signature manifest read.
pub const MAX_MANIFEST_SIZE: usize = 1024 * 1024;
/// Most signature layers looked at for one image.
pub const MAX_SIGNATURE_LAYERS: usize = 64;

/// Why a registry read failed, before it is tied to an image.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The registry said the tag, manifest or blob does not exist.
    NotFound(String),
    /// No answer: connection refused, DNS, TLS, timeout.
    Unreachable(String),
    /// An answer that is an error (authentication, 5xx, spec violation), or content that does
    /// not match its digest.
    Failed(String),
}

impl From<OciDistributionError> for FetchError {
    fn from(e: OciDistributionError) -> Self {
        let not_found = |envelope: &oci_client::errors::OciEnvelope| {
            envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                        | OciErrorCode::BlobUnknown
                )
            })
        };
        match &e {
            OciDistributionError::ImageManifestNotFoundError(_) => {
                FetchError::NotFound(e.to_string())
            }
            OciDistributionError::RegistryError { envelope, .. } if not_found(envelope) => {
                FetchError::NotFound(
                    envelope
                        .errors
                        .iter()
                        .map(|e| e.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            }
            OciDistributionError::ServerError { code: 404, url, .. } => {
                FetchError::NotFound(format!("404 for {url}"))
            }
            OciDistributionError::RequestError(r) => {
                // reqwest's Display is terse ("error sending request"): add the cause chain.
                let mut why = r.to_string();
                let mut source = std::error::Error::source(r);
                while let Some(s) = source {
                    why.push_str(": ");
                    why.push_str(&s.to_string());
                    source = s.source();
                }
                if r.is_status() {
                    FetchError::Failed(why)
                } else {
                    FetchError::Unreachable(why)
                }
            }
            _ => FetchError::Failed(e.to_string()),
        }
    }
}

/// One registry, one set of credentials.
#[derive(Clone)]
pub(crate) struct RegistryClient {
    pub(crate) client: Client,
    pub(crate) auth: RegistryAuth,
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

    /// The digest a tag resolves to, index or manifest, as the registry names it
    /// (`Docker-Content-Digest` of a HEAD, else the hash of the body). Trusting the registry
    /// here is safe: the signature must name this digest, and the kubelet pulls by it.
    pub(crate) async fn resolve_digest(&self, reference: &Reference) -> Result<String, FetchError> {
        Ok(self
            .client
            .fetch_manifest_digest(reference, &self.auth)
            .await?)
    }

    /// The cosign signature manifest at `reference` (the `sha256-….sig` tag); `None` when the
    /// registry says it does not exist.
    pub(crate) async fn signature_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<OciImageManifest>, FetchError> {
        let (body, _) = match self
            .client
            .pull_manifest_raw(
                reference,
                &self.auth,
                &[OCI_IMAGE_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE],
            )
            .await
            .map_err(FetchError::from)
        {
            Ok(found) => found,
            Err(FetchError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if body.len() > MAX_MANIFEST_SIZE {
            return Err(FetchError::Failed(format!(
                "signature manifest of {} bytes is over the {MAX_MANIFEST_SIZE} byte limit",
                body.len()
            )));
        }
        serde_json::from_slice(&body).map(Some).map_err(|e| {
            FetchError::Failed(format!("signature manifest is not an image manifest: {e}"))
        })
    }

    /// A payload blob, at most [`MAX_PAYLOAD_SIZE`] bytes, checked against its digest.
    pub(crate) async fn payload(
        &self,
        reference: &Reference,
        blob_digest: &str,
    ) -> Result<Vec<u8>, FetchError> {
        let descriptor = oci_client::manifest::OciDescriptor {
            digest: blob_digest.to_owned(),
            ..Default::default()
        };
        let mut stream = self.client.pull_blob_stream(reference, &descriptor).await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| FetchError::Unreachable(e.to_string()))?;
            if bytes.len() + chunk.len() > MAX_PAYLOAD_SIZE {
                return Err(FetchError::Failed(format!(
                    "payload blob over the {MAX_PAYLOAD_SIZE} byte limit"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let actual = format!("sha256:{}", hex(digest(&SHA256, &bytes).as_ref()));
        if actual != blob_digest {
            return Err(FetchError::Failed(format!(
                "payload blob is {actual}, not {blob_digest}"
            )));
        }
        Ok(bytes)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
