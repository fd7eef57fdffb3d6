//! The source stage against real git servers: OpenSSH `sshd` running `git-upload-pack` on
//! loopback (strict host keys, deploy keys, protocol v2 and v1), shallow and incremental
//! fetches, the anti-rollback check over a shallow cache, and the repository size limit.

use std::time::Duration;

use harness::TempDir;
use harness::git::Repo;
use harness::ssh_server::{SshServer, keygen};
use pi_agent::source::{Auth, Fetcher, History, Reference, Snapshot, SourceError, Verification};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn main_branch() -> Reference {
    Reference::Branch("main".into())
}

/// A repository with `n` commits; returns it and the commit ids, oldest first.
fn repo_with(n: usize) -> (Repo, Vec<String>) {
    let repo = Repo::new();
    let ids = (0..n)
        .map(|i| repo.commit(&[("cm.yaml", &format!("n: {i}\n"))], &format!("commit {i}")))
        .collect();
    (repo, ids)
}

/// An sshd serving a repository of `n` commits, and a fetcher over an empty cache.
struct Fixture {
    server: SshServer,
    repo: Repo,
    /// The commits, oldest first.
    ids: Vec<String>,
    cache: TempDir,
    fetcher: Fetcher,
}

impl Fixture {
    fn new(protocol_v2: bool, n: usize) -> Self {
        let server = SshServer::start(protocol_v2);
        let (repo, ids) = repo_with(n);
        let cache = TempDir::new("cache");
        let fetcher = Fetcher::new(cache.path(), Duration::from_secs(60));
        Fixture {
            server,
            repo,
            ids,
            cache,
            fetcher,
        }
    }

    /// The authorized key and the server's own host key.
    fn auth(&self) -> Auth {
        Auth::Ssh {
            identity: Some(self.server.client_key()),
            known_hosts: self.server.known_hosts(),
        }
    }

    fn fetch_with(
        &self,
        reference: &Reference,
        auth: &Auth,
        history: History,
    ) -> Result<Snapshot, SourceError> {
        block_on(self.fetcher.fetch(
            &self.server.url(self.repo.path()),
            reference,
            Some(auth),
            history,
        ))
    }

    /// `main` with the right credentials; a failure panics with the server's log.
    fn fetch(&self, history: History) -> Snapshot {
        self.fetch_with(&main_branch(), &self.auth(), history)
            .unwrap_or_else(|e| panic!("{e}\nsshd log: {}", self.server.log()))
    }

    /// The cached repository.
    fn cached(&self) -> gix::Repository {
        let dir = std::fs::read_dir(self.cache.path())
            .expect("cache")
            .flatten()
            .find(|e| e.path().join("HEAD").exists())
            .expect("a cached repository");
        gix::open(dir.path()).expect("open cache")
    }
}

fn oid(hex: &str) -> gix::ObjectId {
    gix::ObjectId::from_hex(hex.as_bytes()).expect("commit id")
}

fn no_signatures(last_applied: Option<&str>) -> Verification {
    Verification {
        mode: pi_verify::VerifyMode::None,
        policy: None,
        last_applied: last_applied.map(oid),
        allow_rollback: false,
    }
}

#[test]
fn an_ssh_source_is_fetched_with_a_deploy_key_and_a_pinned_host_key() {
    let fx = Fixture::new(true, 3);
    let snapshot = fx.fetch(History::Shallow);
    assert_eq!(snapshot.revision.commit.to_string(), fx.ids[2]);
    // Nothing of the key is left on disk once the fetch is over.
    let leftovers: Vec<_> = std::fs::read_dir(fx.cache.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "ssh"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_ssh_host_whose_key_is_not_in_known_hosts_is_refused() {
    let fx = Fixture::new(true, 1);
    let other = TempDir::new("other-host");
    let other_key = keygen(other.path(), "other");
    let wrong = format!(
        "[127.0.0.1]:{} {}",
        fx.server.port,
        std::fs::read_to_string(other_key.with_extension("pub")).unwrap()
    );
    let auth = Auth::Ssh {
        identity: Some(fx.server.client_key()),
        known_hosts: wrong,
    };
    let e = fx
        .fetch_with(&main_branch(), &auth, History::Shallow)
        .err()
        .expect("refused");
    let text = e.to_string();
    assert!(
        matches!(e, SourceError::FetchFailed { .. })
            && text.contains("Host key verification failed"),
        "{text}"
    );
}

#[test]
fn an_ssh_key_the_server_does_not_know_is_refused() {
    let fx = Fixture::new(true, 1);
    let other = TempDir::new("other-client");
    let key = std::fs::read_to_string(keygen(other.path(), "stranger")).unwrap();
    let auth = Auth::Ssh {
        identity: Some(key),
        known_hosts: fx.server.known_hosts(),
    };
    let e = fx
        .fetch_with(&main_branch(), &auth, History::Shallow)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("Permission denied"), "{e}");
}

#[test]
fn an_ssh_url_without_known_hosts_is_refused_before_connecting() {
    let cache = TempDir::new("cache");
    let fetcher = Fetcher::new(cache.path(), Duration::from_secs(60));
    for auth in [None, Some(Auth::Bearer("token".into()))] {
        let e = block_on(fetcher.fetch(
            "git@127.0.0.1:infra.git",
            &main_branch(),
            auth.as_ref(),
            History::Shallow,
        ))
        .err()
        .expect("refused");
        assert!(
            matches!(&e, SourceError::InvalidSpec(m) if m.contains("known_hosts")),
            "{e}"
        );
    }
}

#[test]
fn a_first_fetch_is_shallow_and_later_ones_bring_the_history_since_the_last_applied_commit() {
    let fx = Fixture::new(true, 5);
    let ids = &fx.ids;
    let first = fx.fetch(History::Shallow);
    assert_eq!(first.revision.commit.to_string(), ids[4]);
    let cached = fx.cached();
    assert!(cached.is_shallow().unwrap(), "the first fetch is shallow");
    assert!(!cached.has_object(oid(&ids[3])), "depth 1: no parent");

    // Two new commits: fetched incrementally, descending from the last applied one.
    let new: Vec<String> = (5..7)
        .map(|i| fx.repo.commit(&[("cm.yaml", &format!("n: {i}\n"))], "more"))
        .collect();
    let second = fx.fetch(History::Since(oid(&ids[4])));
    assert_eq!(second.revision.commit.to_string(), new[1]);
    second
        .verify(&no_signatures(Some(&ids[4])))
        .expect("descends from the last applied commit");
    assert!(fx.cached().is_shallow().unwrap(), "still shallow");

    // History rewritten to an unrelated commit: refused as a rollback, even over a shallow cache.
    fx.repo.git(&["checkout", "-q", "--orphan", "rewritten"]);
    let rewritten = fx
        .repo
        .commit(&[("cm.yaml", "n: rewritten\n")], "rewritten");
    fx.repo.git(&["branch", "-q", "-M", "rewritten", "main"]);
    let third = fx.fetch(History::Since(oid(&new[1])));
    assert_eq!(third.revision.commit.to_string(), rewritten);
    let e = third
        .verify(&no_signatures(Some(&new[1])))
        .err()
        .unwrap_or_else(|| panic!("rollback accepted"));
    assert!(e.to_string().contains("does not descend"), "{e}");
}

#[test]
fn a_shallow_cache_lacking_the_last_applied_commit_is_deepened() {
    let fx = Fixture::new(true, 4);
    let ids = &fx.ids;
    fx.fetch(History::Shallow);
    assert!(!fx.cached().has_object(oid(&ids[0])));
    // As after a restart whose status names an older applied commit than the cache holds.
    let snapshot = fx.fetch(History::Since(oid(&ids[0])));
    let cached = fx.cached();
    assert!(cached.has_object(oid(&ids[0])));
    assert!(!cached.is_shallow().unwrap(), "unshallowed");
    snapshot
        .verify(&no_signatures(Some(&ids[0])))
        .expect("ancestry known");
}

#[test]
fn a_protocol_v1_server_still_serves_a_complete_repository() {
    // Without `AcceptEnv GIT_PROTOCOL`, git-upload-pack speaks v1, where gix ignores the depth:
    // the agent logs it and carries on with the full history.
    let fx = Fixture::new(false, 3);
    let snapshot = fx.fetch(History::Shallow);
    assert_eq!(snapshot.revision.commit.to_string(), fx.ids[2]);
    assert!(
        fx.cached().has_object(oid(&fx.ids[0])),
        "full history over v1"
    );
}

#[test]
fn a_repository_over_the_size_limit_is_refused_and_forgotten() {
    let mut fx = Fixture::new(true, 2);
    fx.fetcher = Fetcher::new(fx.cache.path(), Duration::from_secs(60)).max_repo_bytes(64);
    let e = fx
        .fetch_with(&main_branch(), &fx.auth(), History::Shallow)
        .err()
        .expect("too large");
    assert!(
        matches!(e, SourceError::TooLarge { .. }) && e.to_string().contains("--max-repo-size"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(fx.cache.path()).unwrap().count(),
        0,
        "the cache is removed"
    );
}

#[test]
fn tags_and_semver_ranges_resolve_over_ssh() {
    let fx = Fixture::new(true, 3);
    let ids = &fx.ids;
    fx.repo
        .git(&["tag", "-a", "v1.2.0", "-m", "release", &ids[1]]);
    fx.repo.git(&["tag", "v1.10.0", &ids[2]]);
    fx.repo.git(&["tag", "v2.0.0", &ids[0]]);
    let tag = fx
        .fetch_with(
            &Reference::Tag("v1.2.0".into()),
            &fx.auth(),
            History::Shallow,
        )
        .expect("tag");
    assert_eq!(tag.revision.commit.to_string(), ids[1]);
    assert!(tag.revision.tag.is_some(), "annotated tag object kept");
    let semver = Reference::Semver {
        range: pi_agent::source::parse_semver_range("~1").expect("range"),
        text: "~1".into(),
    };
    let semver = fx
        .fetch_with(&semver, &fx.auth(), History::Shallow)
        .expect("semver");
    assert_eq!(semver.revision.commit.to_string(), ids[2]);
    assert_eq!(semver.revision.name.as_deref(), Some("v1.10.0"));
}
