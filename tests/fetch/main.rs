//! The source stage against real git servers: OpenSSH `sshd` running `git-upload-pack` on
//! loopback (strict host keys, deploy keys, protocol v2 and v1), shallow and incremental
//! fetches, the anti-rollback check over a shallow cache, and the repository size limit.

use std::time::Duration;

use harness::TempDir;
use harness::git::Repo;
use harness::ssh_server::{SshServer, keygen};
use pi_agent::source::{Auth, Fetcher, History, Reference, SourceError, Verification};

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

fn auth(server: &SshServer) -> Auth {
    Auth::Ssh {
        identity: Some(server.client_key()),
        known_hosts: server.known_hosts(),
    }
}

/// A repository with `n` commits; returns it and the commit ids, oldest first.
fn repo_with(n: usize) -> (Repo, Vec<String>) {
    let repo = Repo::new();
    let ids = (0..n)
        .map(|i| repo.commit(&[("cm.yaml", &format!("n: {i}\n"))], &format!("commit {i}")))
        .collect();
    (repo, ids)
}

fn cached_repo(cache: &TempDir) -> gix::Repository {
    let dir = std::fs::read_dir(cache.path())
        .expect("cache")
        .flatten()
        .find(|e| e.path().join("HEAD").exists())
        .expect("a cached repository");
    gix::open(dir.path()).expect("open cache")
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
    let server = SshServer::start(true);
    let (repo, ids) = repo_with(3);
    let cache = TempDir::new("cache");
    let fetcher = Fetcher::new(cache.path(), Duration::from_secs(60));
    let snapshot = block_on(fetcher.fetch(
        &server.url(repo.path()),
        &main_branch(),
        Some(&auth(&server)),
        History::Shallow,
    ))
    .unwrap_or_else(|e| panic!("{e}\nsshd log: {}", server.log()));
    assert_eq!(snapshot.revision.commit.to_string(), ids[2]);
    // Nothing of the key is left on disk once the fetch is over.
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "ssh"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_ssh_host_whose_key_is_not_in_known_hosts_is_refused() {
    let server = SshServer::start(true);
    let (repo, _) = repo_with(1);
    let other = TempDir::new("other-host");
    let other_key = keygen(other.path(), "other");
    let wrong = format!(
        "[127.0.0.1]:{} {}",
        server.port,
        std::fs::read_to_string(other_key.with_extension("pub")).unwrap()
    );
    let cache = TempDir::new("cache");
    let fetcher = Fetcher::new(cache.path(), Duration::from_secs(60));
    let e = block_on(fetcher.fetch(
        &server.url(repo.path()),
        &main_branch(),
        Some(&Auth::Ssh {
            identity: Some(server.client_key()),
            known_hosts: wrong,
        }),
        History::Shallow,
    ))
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
    let server = SshServer::start(true);
    let (repo, _) = repo_with(1);
    let other = TempDir::new("other-client");
    let key = std::fs::read_to_string(keygen(other.path(), "stranger")).unwrap();
    let cache = TempDir::new("cache");
    let fetcher = Fetcher::new(cache.path(), Duration::from_secs(60));
    let e = block_on(fetcher.fetch(
        &server.url(repo.path()),
        &main_branch(),
        Some(&Auth::Ssh {
            identity: Some(key),
            known_hosts: server.known_hosts(),
        }),
        History::Shallow,
    ))
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
    let server = SshServer::start(true);
    let (repo, ids) = repo_with(5);
    let url = server.url(repo.path());
    let cache = TempDir::new("cache");
    let fetcher = Fetcher::new(cache.path(), Duration::from_secs(60));
    let a = auth(&server);
    let first = block_on(fetcher.fetch(&url, &main_branch(), Some(&a), History::Shallow))
        .unwrap_or_else(|e| panic!("{e}\nsshd log: {}", server.log()));
    assert_eq!(first.revision.commit.to_string(), ids[4]);
    let cached = cached_repo(&cache);
    assert!(cached.is_shallow().unwrap(), "the first fetch is shallow");
    assert!(!cached.has_object(oid(&ids[3])), "depth 1: no parent");

    // Two new commits: fetched incrementally, descending from the last applied one.
    let new: Vec<String> = (5..7)
        .map(|i| repo.commit(&[("cm.yaml", &format!("n: {i}\n"))], "more"))
        .collect();
    let second =
        block_on(fetcher.fetch(&url, &main_branch(), Some(&a), History::Since(oid(&ids[4]))))
            .expect("incremental fetch");
    assert_eq!(second.revision.commit.to_string(), new[1]);
    second
        .verify(&no_signatures(Some(&ids[4])))
        .expect("descends from the last applied commit");
    assert!(cached_repo(&cache).is_shallow().unwrap(), "still shallow");

    // History rewritten to an unrelated commit: refused as a rollback, even over a shallow cache.
    repo.git(&["checkout", "-q", "--orphan", "rewritten"]);
    let rewritten = repo.commit(&[("cm.yaml", "n: rewritten\n")], "rewritten");
    repo.git(&["branch", "-q", "-M", "rewritten", "main"]);
    let third =
        block_on(fetcher.fetch(&url, &main_branch(), Some(&a), History::Since(oid(&new[1]))))
            .expect("fetch of the rewritten branch");
    assert_eq!(third.revision.commit.to_string(), rewritten);
    let e = third
        .verify(&no_signatures(Some(&new[1])))
        .err()
        .unwrap_or_else(|| panic!("rollback accepted"));
    assert!(e.to_string().contains("does not descend"), "{e}");
}

#[test]
fn a_shallow_cache_lacking_the_last_applied_commit_is_deepened() {
    let server = SshServer::start(true);
    let (repo, ids) = repo_with(4);
    let url = server.url(repo.path());
    let cache = TempDir::new("cache");
    let fetcher = Fetcher::new(cache.path(), Duration::from_secs(60));
    let a = auth(&server);
    block_on(fetcher.fetch(&url, &main_branch(), Some(&a), History::Shallow)).expect("shallow");
    assert!(!cached_repo(&cache).has_object(oid(&ids[0])));
    // As after a restart whose status names an older applied commit than the cache holds.
    let snapshot =
        block_on(fetcher.fetch(&url, &main_branch(), Some(&a), History::Since(oid(&ids[0]))))
            .expect("deepening fetch");
    let cached = cached_repo(&cache);
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
    let server = SshServer::start(false);
    let (repo, ids) = repo_with(3);
    let cache = TempDir::new("cache");
    let fetcher = Fetcher::new(cache.path(), Duration::from_secs(60));
    let snapshot = block_on(fetcher.fetch(
        &server.url(repo.path()),
        &main_branch(),
        Some(&auth(&server)),
        History::Shallow,
    ))
    .unwrap_or_else(|e| panic!("{e}\nsshd log: {}", server.log()));
    assert_eq!(snapshot.revision.commit.to_string(), ids[2]);
    let cached = cached_repo(&cache);
    assert!(cached.has_object(oid(&ids[0])), "full history over v1");
}

#[test]
fn a_repository_over_the_size_limit_is_refused_and_forgotten() {
    let server = SshServer::start(true);
    let (repo, _) = repo_with(2);
    let cache = TempDir::new("cache");
    let fetcher = Fetcher::new(cache.path(), Duration::from_secs(60)).max_repo_bytes(64);
    let e = block_on(fetcher.fetch(
        &server.url(repo.path()),
        &main_branch(),
        Some(&auth(&server)),
        History::Shallow,
    ))
    .err()
    .expect("too large");
    assert!(
        matches!(e, SourceError::TooLarge { .. }) && e.to_string().contains("--max-repo-size"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        0,
        "the cache is removed"
    );
}

#[test]
fn tags_and_semver_ranges_resolve_over_ssh() {
    let server = SshServer::start(true);
    let (repo, ids) = repo_with(3);
    repo.git(&["tag", "-a", "v1.2.0", "-m", "release", &ids[1]]);
    repo.git(&["tag", "v1.10.0", &ids[2]]);
    repo.git(&["tag", "v2.0.0", &ids[0]]);
    let url = server.url(repo.path());
    let cache = TempDir::new("cache");
    let fetcher = Fetcher::new(cache.path(), Duration::from_secs(60));
    let a = auth(&server);
    let tag = block_on(fetcher.fetch(
        &url,
        &Reference::Tag("v1.2.0".into()),
        Some(&a),
        History::Shallow,
    ))
    .expect("tag");
    assert_eq!(tag.revision.commit.to_string(), ids[1]);
    assert!(tag.revision.tag.is_some(), "annotated tag object kept");
    let range = pi_agent::source::parse_semver_range("~1").expect("range");
    let semver = block_on(fetcher.fetch(
        &url,
        &Reference::Semver {
            range,
            text: "~1".into(),
        },
        Some(&a),
        History::Shallow,
    ))
    .expect("semver");
    assert_eq!(semver.revision.commit.to_string(), ids[2]);
    assert_eq!(semver.revision.name.as_deref(), Some("v1.10.0"));
}
