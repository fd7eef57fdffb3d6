//! Stage `fetch`: the source's credentials read from its Secret, the repository fetched into
//! the shared cache (one fetch per URL at a time), the reference resolved to a commit. Nothing
//! is checked out and nothing is read from the tree yet.

use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::reason;
use crate::error::{RetryClass, StageError, StatusError};
use crate::report::recorder::{Outcome, Record, Recorder};
use crate::source::{Auth, History, Snapshot, SourceError};
use crate::work::{Prior, Work};

/// A fetched, not yet verified, revision.
pub struct Fetched {
    /// The repository and the resolved commit.
    pub snapshot: Snapshot,
    /// `main@sha1:…`.
    pub revision: String,
    took: Duration,
}

impl Outcome for Fetched {
    fn record(&self, record: &mut Record<'_>) {
        record.fetched(&self.revision, self.took);
    }
}

/// Why the fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The repository or the reference.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The credentials Secret is missing or unusable.
    #[error("invalid spec: `spec.source.secretRef`: {0}")]
    Credentials(String),
    /// The credentials Secret could not be read.
    #[error("reading Secret `{namespace}/{name}` failed: {source}")]
    SecretUnavailable {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// The progress message could not be written.
    #[error(transparent)]
    Status(#[from] StatusError),
}

impl Outcome for FetchError {}

impl StageError for FetchError {
    fn reason(&self) -> &'static str {
        match self {
            FetchError::Source(e) => e.reason(),
            FetchError::Credentials(_) => reason::INVALID_SPEC,
            FetchError::SecretUnavailable { .. } => reason::SOURCE_FAILED,
            FetchError::Status(e) => e.reason(),
        }
    }
    fn retry_class(&self) -> RetryClass {
        match self {
            FetchError::Source(e) => e.retry_class(),
            FetchError::Credentials(_) => RetryClass::Terminal,
            FetchError::SecretUnavailable { .. } => RetryClass::Transient,
            FetchError::Status(e) => e.retry_class(),
        }
    }
}

/// Fetches the work's source.
///
/// # Errors
/// Unusable credentials, a network or repository failure, a missing reference.
pub async fn fetch(
    work: &Work,
    prior: &Prior,
    ctx: &Context,
    rec: &Recorder<'_>,
) -> Result<Fetched, FetchError> {
    let source = &work.source;
    if !rec.ready_at_generation() {
        rec.progress(&format!(
            "Fetching {} from `{}`",
            source.reference, source.url
        ))
        .await?;
    }
    let start = Instant::now();
    let (auth, ca) = credentials(work, &ctx.client).await?;
    let snapshot = ctx
        .fetcher
        .fetch_with_ca(
            &source.url,
            &source.reference,
            auth.as_ref(),
            ca.as_deref(),
            history(work, prior),
        )
        .await?;
    Ok(Fetched {
        revision: snapshot.revision.to_string(),
        snapshot,
        took: start.elapsed(),
    })
}

/// The history a fetch must bring: down to the last applied commit when the anti-rollback
/// check needs it, else the revision alone (a new cache is then fetched shallow).
fn history(work: &Work, prior: &Prior) -> History {
    match prior.last_applied_commit() {
        Some(commit) if !work.verify.allow_rollback => History::Since(commit),
        _ => History::Shallow,
    }
}

/// The credentials (and the CA of an https source) of the source's Secret, read at every
/// reconcile (a rotated Secret applies at once).
async fn credentials(
    work: &Work,
    client: &kube::Client,
) -> Result<(Option<Auth>, Option<String>), FetchError> {
    let Some(name) = &work.source.secret_name else {
        return Ok((None, None));
    };
    let ns = &work.subject.namespace;
    let data = crate::secrets::secret_data(client, ns, name)
        .await
        .map_err(|source| FetchError::SecretUnavailable {
            namespace: ns.clone(),
            name: name.clone(),
            source,
        })?
        .ok_or_else(|| FetchError::Credentials(format!("Secret `{ns}/{name}` not found")))?;
    credentials_from(&work.source.url, name, &data).map_err(FetchError::Credentials)
}

/// Reads the keys of a credentials Secret for `url` (pure).
fn credentials_from(
    url: &str,
    name: &str,
    data: &std::collections::BTreeMap<String, k8s_openapi::ByteString>,
) -> Result<(Option<Auth>, Option<String>), String> {
    let text = |k: &str| {
        data.get(k)
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_owned())
    };
    let ca = text("ca.crt").filter(|c| !c.is_empty());
    if let Some(pem) = &ca {
        if !url.starts_with("https://") {
            return Err(format!(
                "Secret `{name}` has `ca.crt`, which is for https:// sources only"
            ));
        }
        crate::source::parse_ca(pem).map_err(|e| format!("Secret `{name}` key `ca.crt`: {e}"))?;
    }
    if crate::source::is_ssh_url(url) {
        let known_hosts = text("known_hosts").unwrap_or_default();
        crate::source::check_known_hosts(&known_hosts)
            .map_err(|e| format!("Secret `{name}` key `known_hosts`: {e}"))?;
        let identity = text("identity").filter(|i| !i.is_empty());
        if let Some(key) = &identity {
            crate::source::check_identity(key)
                .map_err(|e| format!("Secret `{name}` key `identity`: {e}"))?;
        }
        return Ok((
            Some(Auth::Ssh {
                identity,
                known_hosts,
            }),
            None,
        ));
    }
    let auth = match (text("username"), text("password"), text("bearerToken")) {
        (_, _, Some(token)) if !token.is_empty() => Some(Auth::Bearer(token)),
        (Some(username), Some(password), _) => Some(Auth::Basic { username, password }),
        // A Secret with only a CA: an anonymous source behind a private CA.
        (None, None, None) if ca.is_some() => None,
        _ => {
            return Err(format!(
                "Secret `{name}` needs `username` and `password`, or `bearerToken` (and optionally `ca.crt`)"
            ));
        }
    };
    Ok((auth, ca))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, k8s_openapi::ByteString> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    k8s_openapi::ByteString(v.as_bytes().to_vec()),
                )
            })
            .collect()
    }

    #[test]
    fn https_credentials_should_be_basic_or_bearer_and_named_when_wrong() {
        let (auth, ca) = credentials_from(
            "https://h/r.git",
            "c",
            &data(&[("username", "u"), ("password", "p ")]),
        )
        .unwrap();
        assert!(matches!(auth, Some(Auth::Basic { ref password, .. }) if password == "p"));
        assert!(ca.is_none());
        let (auth, _) =
            credentials_from("https://h/r.git", "c", &data(&[("bearerToken", "t")])).unwrap();
        assert!(matches!(auth, Some(Auth::Bearer(_))));
        let e = credentials_from("https://h/r.git", "c", &data(&[("username", "u")])).unwrap_err();
        assert!(
            e.contains("Secret `c` needs `username` and `password`"),
            "{e}"
        );
        let e = credentials_from("http://h/r.git", "c", &data(&[("ca.crt", "x")])).unwrap_err();
        assert!(e.contains("for https:// sources only"), "{e}");
    }

    #[test]
    fn ssh_credentials_should_need_known_hosts() {
        let e = credentials_from("git@h:g/r.git", "c", &data(&[("identity", "k")])).unwrap_err();
        assert!(e.contains("key `known_hosts`"), "{e}");
    }
}
