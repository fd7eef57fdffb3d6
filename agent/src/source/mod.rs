//! Source stage: fetch a repository with gix into a per-URL cache and resolve the Application's
//! reference to a commit. Nothing is checked out: rendering reads the tree straight from the
//! object database through [`Snapshot`].
//!
//! `file://` repositories are opened in place (no copy, and no `git-upload-pack` process);
//! `https://` and `http://` ones are mirrored into a bare repository under the cache directory.

mod https_ca;
mod reference;
mod ssh;
mod tree;
mod trust_files;
mod verify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use https_ca::parse_ca;
pub use reference::{
    Reference, Revision, highest_matching_tag, parse_semver_range, revision_commit,
};
pub use ssh::{check_identity, check_known_hosts, is_ssh_url};
pub use tree::TreeFs;
pub use trust_files::{TrustFiles, TrustText};
pub use verify::{MAX_COMMITS, Verdict, Verification};

use crate::error::RetryClass;

/// Fetches running at once (network, CPU for pack resolution); the others wait their turn.
pub const MAX_CONCURRENT_FETCHES: usize = 4;

/// Largest blob the renderer reads (a manifest larger than this is refused, not truncated).
pub const MAX_FILE_BYTES: usize = 8 << 20;

/// Default limit on the object database of one cached repository.
pub const DEFAULT_MAX_REPO_BYTES: u64 = 1 << 30;

/// How much history a fetch must bring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum History {
    /// Only the revision itself: a new cache is fetched shallow (depth 1).
    Shallow,
    /// The revision and its history down to this commit (the last applied one), which must be
    /// present: a shallow cache that lacks it is deepened to the full history.
    Since(gix::ObjectId),
}

/// Why the source stage failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SourceError {
    /// The spec names an impossible reference or URL.
    #[error("invalid source: {0}")]
    InvalidSpec(String),
    /// Network or remote failure.
    #[error("fetching `{url}` failed: {message}")]
    FetchFailed { url: String, message: String },
    /// The fetch did not finish in time.
    #[error("fetching `{url}` timed out after {seconds}s")]
    FetchTimedOut { url: String, seconds: u64 },
    /// The reference does not exist in the repository.
    #[error("{reference} not found in `{url}`")]
    ReferenceNotFound { url: String, reference: String },
    /// The revision's signatures or history do not satisfy the policy.
    #[error("revision {revision} refused: {reason}")]
    VerificationFailed { revision: String, reason: String },
    /// The repository is damaged or an object is missing.
    #[error("reading `{url}` failed: {message}")]
    RepositoryFailed { url: String, message: String },
    /// The repository's objects exceed the agent's limit (`--max-repo-size`).
    #[error(
        "`{url}` is too large: {size_mib} MiB of objects, over the limit of {limit_mib} MiB (agent flag `--max-repo-size`)"
    )]
    TooLarge {
        url: String,
        size_mib: u64,
        limit_mib: u64,
    },
}

impl crate::error::StageError for SourceError {
    fn reason(&self) -> &'static str {
        SourceError::reason(self)
    }
    fn retry_class(&self) -> RetryClass {
        SourceError::retry_class(self)
    }
}

impl SourceError {
    /// The status reason: `SourceVerificationFailed` for a refusal, `InvalidSpec` for an
    /// impossible reference or URL, else `SourceFailed`.
    pub fn reason(&self) -> &'static str {
        use crate::error::reason;
        match self {
            SourceError::InvalidSpec(_) => reason::INVALID_SPEC,
            SourceError::VerificationFailed { .. } => reason::SOURCE_VERIFICATION_FAILED,
            _ => reason::SOURCE_FAILED,
        }
    }

    /// How the controller retries this error.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            SourceError::FetchFailed { .. } | SourceError::FetchTimedOut { .. } => {
                RetryClass::Transient
            }
            SourceError::RepositoryFailed { .. } => RetryClass::Transient,
            SourceError::InvalidSpec(_)
            | SourceError::TooLarge { .. }
            | SourceError::ReferenceNotFound { .. }
            | SourceError::VerificationFailed { .. } => RetryClass::Terminal,
        }
    }
}

/// A resolved revision and the repository whose object database holds its tree.
#[derive(Clone)]
pub struct Snapshot {
    repo: gix::ThreadSafeRepository,
    /// The commit and the ref name it was resolved from.
    pub revision: Revision,
    url: String,
}

/// Fetches repositories into a cache shared by every Application that uses the same URL.
pub struct Fetcher {
    cache_dir: PathBuf,
    timeout: Duration,
    // At most this many fetches run at once, whatever the number of repositories.
    slots: Arc<tokio::sync::Semaphore>,
    allow_file_urls: bool,
    max_repo_bytes: u64,
    // One lock per URL: two Applications on one repository share one fetch at a time. It
    // guards the URL's recent fetches, which requests that queued behind them reuse.
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Recent>>>>,
}

/// The last fetches of one URL, one per (reference, credentials), with the instant each started.
///
/// A request reuses a fetch that *started after the request arrived*: that fetch saw the
/// remote as it was then or later, so its result is as fresh as the request's own fetch would
/// have been. With N Applications on one repository, the N requests that arrive while a fetch
/// runs are all answered by the next one: two fetches instead of N, and never a stale revision
/// (a push seen by a webhook after a fetch started is fetched again).
#[derive(Default)]
struct Recent(Vec<Fetch>);

struct Fetch {
    started: std::time::Instant,
    reference: Reference,
    auth: Option<Auth>,
    ca: Option<String>,
    result: Result<Snapshot, SourceError>,
}

/// Fetches kept per URL (distinct references and credentials); the oldest is forgotten first.
const RECENT_PER_URL: usize = 16;

impl Recent {
    /// The result of a fetch of the same reference with the same credentials that started at
    /// or after `arrived` and brought the history asked for.
    fn reusable(
        &self,
        arrived: std::time::Instant,
        reference: &Reference,
        auth: Option<&Auth>,
        ca: Option<&str>,
        history: History,
    ) -> Option<Result<Snapshot, SourceError>> {
        let fetch = self.0.iter().find(|f| {
            f.started >= arrived
                && f.reference == *reference
                && f.auth.as_ref() == auth
                && f.ca.as_deref() == ca
        })?;
        match (&fetch.result, history) {
            (Ok(snapshot), History::Since(commit)) if !snapshot.has_commit(commit) => None,
            (result, _) => Some(result.clone()),
        }
    }

    fn remember(&mut self, fetch: Fetch) {
        self.0.retain(|f| {
            !(f.reference == fetch.reference && f.auth == fetch.auth && f.ca == fetch.ca)
        });
        if self.0.len() >= RECENT_PER_URL {
            self.0.remove(0);
        }
        self.0.push(fetch);
    }
}

impl Fetcher {
    /// A fetcher that mirrors remote repositories under `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>, timeout: Duration) -> Self {
        Fetcher {
            cache_dir: cache_dir.into(),
            timeout,
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES)),
            allow_file_urls: false,
            max_repo_bytes: DEFAULT_MAX_REPO_BYTES,
            locks: Default::default(),
        }
    }

    /// Accept `file://` sources (refused by default: a file URL reads the agent's own disk,
    /// including its caches of other Applications' repositories).
    pub fn allow_file_urls(mut self, allow: bool) -> Self {
        self.allow_file_urls = allow;
        self
    }

    /// Refuse (and forget) a cached repository whose objects exceed `bytes`.
    pub fn max_repo_bytes(mut self, bytes: u64) -> Self {
        self.max_repo_bytes = bytes;
        self
    }

    /// Fetches `url` (when remote) and resolves `reference` to a commit, with at least the
    /// `history` asked for.
    ///
    /// # Errors
    /// See [`SourceError`]; a timeout is [`SourceError::FetchTimedOut`].
    ///
    /// # Guarantees
    /// Cancellation-safe for the caller: an abandoned fetch finishes or fails in its own thread
    /// while holding the URL's lock, so the cache is never written by two fetches at once.
    pub async fn fetch(
        &self,
        url: &str,
        reference: &Reference,
        auth: Option<&Auth>,
        history: History,
    ) -> Result<Snapshot, SourceError> {
        self.fetch_with_ca(url, reference, auth, None, history)
            .await
    }

    /// As [`Fetcher::fetch`], trusting only `ca` (PEM) for an `https://` source.
    ///
    /// # Errors
    /// See [`SourceError`].
    pub async fn fetch_with_ca(
        &self,
        url: &str,
        reference: &Reference,
        auth: Option<&Auth>,
        ca: Option<&str>,
        history: History,
    ) -> Result<Snapshot, SourceError> {
        if url.starts_with("file://") && !self.allow_file_urls {
            return Err(SourceError::InvalidSpec(format!(
                "`{url}`: file:// sources are disabled (start the agent with `--allow-file-urls` for local setups)"
            )));
        }
        let arrived = std::time::Instant::now();
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(url.to_owned()).or_default().clone()
        };
        let mut guard = lock.lock_owned().await;
        if let Some(result) = guard.reusable(arrived, reference, auth, ca, history) {
            return result;
        }
        let slot =
            self.slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| SourceError::FetchFailed {
                    url: url.to_owned(),
                    message: e.to_string(),
                })?;
        let url_owned = url.to_owned();
        let reference = reference.clone();
        let auth = auth.cloned();
        let ca = ca.map(str::to_owned);
        let dir = self.cache_dir.join(cache_key(url));
        let limit = self.max_repo_bytes;
        let task = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let started = std::time::Instant::now();
            let result = fetch_blocking(
                &url_owned,
                &reference,
                &dir,
                auth.as_ref(),
                ca.as_deref(),
                history,
                limit,
            );
            // Recorded even when the caller gave up waiting (a timeout), for those queued.
            guard.remember(Fetch {
                started,
                reference,
                auth,
                ca,
                result: result.clone(),
            });
            result
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(SourceError::FetchFailed {
                url: url.to_owned(),
                message: join.to_string(),
            }),
            Err(_) => Err(SourceError::FetchTimedOut {
                url: url.to_owned(),
                seconds: self.timeout.as_secs(),
            }),
        }
    }
}

impl Snapshot {
    /// True if the repository holds `commit` (the history a reused fetch must have brought).
    fn has_commit(&self, commit: gix::ObjectId) -> bool {
        self.repo.to_thread_local().has_object(commit)
    }
}

/// The cache directory name of a URL: readable host part plus a hash, so two URLs never share.
fn cache_key(url: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, url.as_bytes());
    let hex: String = digest.as_ref()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let readable: String = url
        .rsplit('/')
        .next()
        .unwrap_or("repo")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
        .take(40)
        .collect();
    format!("{readable}-{hex}")
}

/// Credentials for a remote repository.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP basic authentication.
    Basic { username: String, password: String },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// SSH: the private key (optional) and the host keys to accept (required).
    Ssh {
        identity: Option<String>,
        known_hosts: String,
    },
}

impl std::fmt::Debug for Auth {
    // Never print a secret, even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
            Auth::Ssh { identity, .. } => write!(
                f,
                "Ssh(identity: {}, known_hosts)",
                if identity.is_some() { "***" } else { "none" }
            ),
        }
    }
}

impl Auth {
    /// The `Authorization` header line of HTTP credentials.
    pub fn header(&self) -> Option<String> {
        use base64ct::Encoding;
        match self {
            Auth::Basic { username, password } => Some(format!(
                "Authorization: Basic {}",
                base64ct::Base64::encode_string(format!("{username}:{password}").as_bytes())
            )),
            Auth::Bearer(token) => Some(format!("Authorization: Bearer {token}")),
            Auth::Ssh { .. } => None,
        }
    }
}

fn fetch_blocking(
    url: &str,
    reference: &Reference,
    cache: &Path,
    auth: Option<&Auth>,
    ca: Option<&str>,
    history: History,
    max_bytes: u64,
) -> Result<Snapshot, SourceError> {
    let repo = if let Some(path) = url.strip_prefix("file://") {
        gix::open(path).map_err(|e| SourceError::FetchFailed {
            url: url.to_owned(),
            message: format!("cannot open repository at `{path}`: {e}"),
        })?
    } else if url.starts_with("https://") || url.starts_with("http://") || is_ssh_url(url) {
        let repo = mirror(url, reference, cache, auth, ca, history)?;
        let size = objects_size(&cache.join("objects"));
        if size > max_bytes {
            // Forget it: the next attempt starts from nothing rather than from a huge cache.
            let _ = std::fs::remove_dir_all(cache);
            return Err(SourceError::TooLarge {
                url: url.to_owned(),
                size_mib: size >> 20,
                limit_mib: max_bytes >> 20,
            });
        }
        repo
    } else {
        return Err(SourceError::InvalidSpec(format!(
            "unsupported URL `{url}`: use https://, http://, ssh://, user@host:path or file://"
        )));
    };
    let revision = resolve(&repo, url, reference)?;
    Ok(Snapshot {
        repo: repo.into_sync(),
        revision,
        url: url.to_owned(),
    })
}

/// Bytes of the files under `dir`, recursively (symbolic links not followed).
fn objects_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

fn mirror(
    url: &str,
    reference: &Reference,
    dir: &Path,
    auth: Option<&Auth>,
    ca: Option<&str>,
    history: History,
) -> Result<gix::Repository, SourceError> {
    let failed = |message: String| SourceError::FetchFailed {
        url: url.to_owned(),
        message,
    };
    let ssh = is_ssh_url(url);
    let ssh_credentials = match (ssh, auth) {
        (
            true,
            Some(Auth::Ssh {
                identity,
                known_hosts,
            }),
        ) => Some((identity.as_deref(), known_hosts.as_str())),
        (true, _) => {
            return Err(SourceError::InvalidSpec(format!(
                "`{url}` is an ssh URL: `spec.source.secretRef` must name a Secret with `known_hosts` (and `identity`); host keys are never trusted on first use"
            )));
        }
        (false, Some(Auth::Ssh { .. })) => {
            return Err(SourceError::InvalidSpec(format!(
                "`{url}` is not an ssh URL, but its Secret holds ssh credentials (`identity`/`known_hosts`)"
            )));
        }
        (false, _) => None,
    };
    let fresh = !dir.join("HEAD").exists();
    let repo = if !fresh {
        gix::open(dir).map_err(|e| failed(e.to_string()))?
    } else {
        std::fs::create_dir_all(dir)
            .map_err(|e| failed(format!("cannot create cache `{}`: {e}", dir.display())))?;
        gix::init_bare(dir).map_err(|e| failed(e.to_string()))?
    };
    let mut repo = repo;
    // Kept alive until the fetch ends: the ssh program reads these files.
    let mut session = None;
    {
        // In memory only: credentials are never written to the cache's config file.
        let mut config = repo.config_snapshot_mut();
        let mut set = |key: &'static dyn gix::config::tree::Key, value: &str| {
            config
                .set_value(key, value)
                .map(|_| ())
                .map_err(|e| failed(format!("cannot configure the fetch: {e}")))
        };
        if let Some(header) = auth.and_then(Auth::header) {
            set(&gix::config::tree::Http::EXTRA_HEADER, &header)?;
        }
        if let Some((identity, known_hosts)) = ssh_credentials {
            let s = ssh::SshSession::create(&dir.with_extension("ssh"), identity, known_hosts)
                .map_err(failed)?;
            set(&gix::config::tree::Core::SSH_COMMAND, &s.command())?;
            set(&gix::config::tree::Ssh::VARIANT, "ssh")?;
            session = Some(s);
        }
        config
            .commit()
            .map_err(|e| failed(format!("cannot configure the fetch: {e}")))?;
    }
    let shallow = match history {
        History::Shallow if fresh => {
            gix::remote::fetch::Shallow::DepthAtRemote(std::num::NonZeroU32::MIN)
        }
        History::Since(commit)
            if !fresh && repo.is_shallow().unwrap_or(true) && !repo.has_object(commit) =>
        {
            gix::remote::fetch::Shallow::undo()
        }
        _ => gix::remote::fetch::Shallow::NoChange,
    };
    let asked_shallow =
        matches!(shallow, gix::remote::fetch::Shallow::DepthAtRemote(d) if d.get() == 1);
    let specs = reference.refspecs();
    let remote = repo
        .remote_at(url)
        .map_err(|e| failed(e.to_string()))?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(
            specs.iter().map(String::as_str),
            gix::remote::Direction::Fetch,
        )
        .map_err(|e| failed(e.to_string()))?;
    let interrupt = AtomicBool::new(false);
    // The ssh program's own words say more than gix's transport error ("Host key verification
    // failed." behind "failed to fill whole buffer").
    let with_ssh = |message: String| match session.as_ref().map(ssh::SshSession::messages) {
        Some(ssh) if !ssh.is_empty() => failed(format!("{message} (ssh: {ssh})")),
        _ => failed(message),
    };
    let outcome = match ca {
        // Its own CA: gix speaks through our HTTP backend, which trusts only that CA.
        Some(ca) if url.starts_with("https://") => {
            let http = https_ca::CaHttp::new(ca)
                .map_err(|e| SourceError::InvalidSpec(format!("`ca.crt` for `{url}`: {e}")))?;
            let parsed = gix::url::parse(url.as_bytes()).map_err(|e| failed(e.to_string()))?;
            let transport = gix::protocol::transport::client::blocking_io::http::connect_http(
                http,
                parsed,
                gix::protocol::transport::Protocol::V2,
                false,
            );
            receive(
                remote.to_connection_with_transport(transport),
                shallow,
                &interrupt,
            )
            .map_err(failed)?
        }
        Some(_) => {
            return Err(SourceError::InvalidSpec(format!(
                "`ca.crt` is for https:// sources, not `{url}`"
            )));
        }
        None => receive(
            remote
                .connect(gix::remote::Direction::Fetch)
                .map_err(|e| with_ssh(error_chain(&e)))?,
            shallow,
            &interrupt,
        )
        .map_err(with_ssh)?,
    };
    drop(session);
    if asked_shallow && !repo.is_shallow().unwrap_or(true) {
        // gix honours depth over protocol v2 only: over v1 it silently brings everything.
        tracing::warn!(
            url,
            protocol = ?outcome.handshake.server_protocol_version,
            "shallow fetch asked, full history received (the server speaks git protocol v1: enable protocol v2 on it to fetch less)"
        );
    }
    Ok(repo)
}

/// Negotiates and receives the pack over an open connection.
fn receive<T: gix::protocol::transport::client::blocking_io::Transport>(
    connection: gix::remote::Connection<'_, '_, '_, T>,
    shallow: gix::remote::fetch::Shallow,
    interrupt: &AtomicBool,
) -> Result<gix::remote::fetch::Outcome, String> {
    connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| error_chain(&e))?
        .with_shallow(shallow)
        .receive(gix::progress::Discard, interrupt)
        .map_err(|e| error_chain(&e))
}

/// An error and its sources on one line (gix wraps the ssh program's message deep inside).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Resolves the reference in a repository whose refs sit at their usual names.
fn resolve(
    repo: &gix::Repository,
    url: &str,
    reference: &Reference,
) -> Result<Revision, SourceError> {
    let not_found = || SourceError::ReferenceNotFound {
        url: url.to_owned(),
        reference: reference.to_string(),
    };
    let broken = |message: String| SourceError::RepositoryFailed {
        url: url.to_owned(),
        message,
    };
    let peel = |name: &str| -> Result<Option<gix::ObjectId>, SourceError> {
        let Some(mut r) = repo
            .try_find_reference(name)
            .map_err(|e| broken(e.to_string()))?
        else {
            return Ok(None);
        };
        Ok(Some(
            r.peel_to_id().map_err(|e| broken(e.to_string()))?.detach(),
        ))
    };
    let (name, id) = match reference {
        Reference::Branch(b) => (
            Some(b.clone()),
            peel(&format!("refs/heads/{b}"))?.ok_or_else(not_found)?,
        ),
        Reference::Tag(t) => (
            Some(t.clone()),
            peel(&format!("refs/tags/{t}"))?.ok_or_else(not_found)?,
        ),
        Reference::Semver { range, .. } => {
            let refs = repo.references().map_err(|e| broken(e.to_string()))?;
            let tags: Vec<String> = refs
                .tags()
                .map_err(|e| broken(e.to_string()))?
                .filter_map(Result::ok)
                .map(|r| r.name().shorten().to_string())
                .collect();
            let best = highest_matching_tag(range, tags.iter().map(String::as_str))
                .ok_or_else(not_found)?;
            (
                Some(best.to_owned()),
                peel(&format!("refs/tags/{best}"))?.ok_or_else(not_found)?,
            )
        }
        Reference::Commit(c) => {
            if !repo.has_object(c) {
                return Err(not_found());
            }
            (None, *c)
        }
    };
    // An annotated tag: the object the tag ref points to directly (its signature is checked
    // under the `Tag` modes).
    let tag = match (reference, &name) {
        (Reference::Tag(_) | Reference::Semver { .. }, Some(t)) => {
            let direct = repo
                .try_find_reference(format!("refs/tags/{t}").as_str())
                .map_err(|e| broken(e.to_string()))?
                .and_then(|r| r.target().try_id().map(ToOwned::to_owned));
            match direct {
                Some(d) => {
                    let kind = repo.find_object(d).map_err(|e| broken(e.to_string()))?.kind;
                    (kind == gix::object::Kind::Tag).then_some(d)
                }
                None => None,
            }
        }
        _ => None,
    };
    // The reference must end on a commit (a tag may point at a tree or blob).
    let object = repo.find_object(id).map_err(|e| broken(e.to_string()))?;
    let commit = object.peel_to_commit().map_err(|_| {
        SourceError::InvalidSpec(format!("{reference} in `{url}` does not point to a commit"))
    })?;
    Ok(Revision {
        name,
        commit: commit.id,
        tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_should_be_refused_unless_allowed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let fetcher = Fetcher::new(std::env::temp_dir(), Duration::from_secs(5));
        let e = rt
            .block_on(fetcher.fetch(
                "file:///etc",
                &Reference::Branch("main".into()),
                None,
                History::Shallow,
            ))
            .err();
        assert!(matches!(e, Some(SourceError::InvalidSpec(m)) if m.contains("--allow-file-urls")));
        let fetcher = fetcher.allow_file_urls(true);
        let e = rt
            .block_on(fetcher.fetch(
                "file:///nonexistent-repo",
                &Reference::Branch("main".into()),
                None,
                History::Shallow,
            ))
            .err();
        assert!(matches!(e, Some(SourceError::FetchFailed { .. })), "{e:?}");
    }

    #[test]
    fn credentials_should_become_headers_and_never_print() {
        let basic = Auth::Basic {
            username: "pi".into(),
            password: "s3cret".into(),
        };
        assert_eq!(
            basic.header().as_deref(),
            Some("Authorization: Basic cGk6czNjcmV0")
        );
        assert_eq!(
            Auth::Bearer("t0k".into()).header().as_deref(),
            Some("Authorization: Bearer t0k")
        );
        let ssh = Auth::Ssh {
            identity: Some("PRIVATE".into()),
            known_hosts: "host key".into(),
        };
        assert_eq!(ssh.header(), None);
        assert!(!format!("{ssh:?}").contains("PRIVATE"));
        assert!(!format!("{basic:?}").contains("s3cret"));
        assert!(!format!("{:?}", Auth::Bearer("t0k".into())).contains("t0k"));
    }

    #[test]
    fn cache_keys_should_differ_per_url_and_stay_readable() {
        let a = cache_key("https://git.example/infra/team-a.git");
        let b = cache_key("https://git.example/infra2/team-a.git");
        assert_ne!(a, b);
        assert!(a.starts_with("team-a.git-"), "{a}");
        assert!(!cache_key("https://x/../../etc").contains('/'));
    }

    #[test]
    fn unsupported_urls_should_be_refused_before_any_io() {
        let e = fetch_blocking(
            "ftp://x/y",
            &Reference::Branch("main".into()),
            Path::new("/nonexistent"),
            None,
            None,
            History::Shallow,
            DEFAULT_MAX_REPO_BYTES,
        )
        .err();
        assert!(matches!(e, Some(SourceError::InvalidSpec(m)) if m.contains("ftp://x/y")));
    }

    fn failed_fetch(started: std::time::Instant, branch: &str, auth: Option<Auth>) -> Fetch {
        Fetch {
            started,
            reference: Reference::Branch(branch.into()),
            auth,
            ca: None,
            result: Err(SourceError::FetchFailed {
                url: "https://x/y.git".into(),
                message: branch.into(),
            }),
        }
    }

    #[test]
    fn only_fetches_started_after_a_request_arrived_should_answer_it() {
        let t0 = std::time::Instant::now();
        let t1 = t0 + Duration::from_millis(10);
        let main = Reference::Branch("main".into());
        let mut recent = Recent::default();
        recent.remember(failed_fetch(t1, "main", None));
        // Arrived before the fetch started: its result is at least as fresh as its own.
        assert!(
            recent
                .reusable(t0, &main, None, None, History::Shallow)
                .is_some()
        );
        assert!(
            recent
                .reusable(t1, &main, None, None, History::Shallow)
                .is_some()
        );
        // Arrived after it started (a push may have happened in between): fetch again.
        let later = t1 + Duration::from_millis(1);
        assert!(
            recent
                .reusable(later, &main, None, None, History::Shallow)
                .is_none()
        );
        // Another reference, other credentials or another CA never share a result.
        let dev = Reference::Branch("dev".into());
        assert!(
            recent
                .reusable(t0, &dev, None, None, History::Shallow)
                .is_none()
        );
        let token = Auth::Bearer("t".into());
        assert!(
            recent
                .reusable(t0, &main, Some(&token), None, History::Shallow)
                .is_none()
        );
        assert!(
            recent
                .reusable(t0, &main, None, Some("CA"), History::Shallow)
                .is_none()
        );
    }

    #[test]
    fn recent_fetches_should_keep_one_entry_per_key_and_stay_bounded() {
        let t0 = std::time::Instant::now();
        let mut recent = Recent::default();
        recent.remember(failed_fetch(t0, "main", None));
        recent.remember(failed_fetch(t0 + Duration::from_millis(5), "main", None));
        assert_eq!(recent.0.len(), 1);
        for i in 0..(RECENT_PER_URL * 2) {
            recent.remember(failed_fetch(t0, &format!("b{i}"), None));
        }
        assert_eq!(recent.0.len(), RECENT_PER_URL);
        let last = Reference::Branch(format!("b{}", RECENT_PER_URL * 2 - 1));
        assert!(
            recent
                .reusable(t0, &last, None, None, History::Shallow)
                .is_some()
        );
    }
}
