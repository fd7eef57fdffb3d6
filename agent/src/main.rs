//! The `pi-agent` command line. Exit codes: 0 success, 1 checked and found a difference or a
//! rejection, 2 error.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use pi_agent::controller::{self, Context};
use pi_agent::leader::{self, ElectionConfig};
use pi_agent::report::Metrics;
use pi_agent::server::{self, TokenSource};
use pi_agent::source::Fetcher;

#[derive(Parser)]
#[command(
    name = "pi-agent",
    version,
    about = "A small rootless GitOps agent for one Kubernetes region"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

// Parsed once at start-up: the size of the `run` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the controller: reconcile Applications, serve health, metrics and the sync API.
    Run {
        /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: Option<PathBuf>,
        /// Watch only this namespace (default: all namespaces the agent may read).
        #[arg(long, env = "PI_AGENT_NAMESPACE")]
        namespace: Option<String>,
        /// Address of the HTTP server (health, metrics, sync API); the port must be > 1024.
        #[arg(long, default_value = "0.0.0.0:8080", env = "PI_AGENT_LISTEN")]
        listen: SocketAddr,
        /// File holding the bearer token of the forced-sync API (a mounted Secret).
        #[arg(long, env = "PI_AGENT_SYNC_TOKEN_FILE")]
        sync_token_file: Option<PathBuf>,
        /// Where fetched repositories are cached.
        #[arg(long, env = "PI_AGENT_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
        /// Accept `file://` sources. Off by default: a file URL reads the agent's own disk (its
        /// caches of other tenants' repositories included), so only local setups enable it.
        #[arg(long, env = "PI_AGENT_ALLOW_FILE_URLS")]
        allow_file_urls: bool,
        /// Longest a fetch may take, as a duration (`2m`).
        #[arg(long, default_value = "2m")]
        fetch_timeout: String,
        /// Largest object database of one cached repository (`512Mi`, `2Gi`); a repository
        /// over it is refused and its cache removed.
        #[arg(long, default_value = "1Gi")]
        max_repo_size: String,
        /// The region's git `allowed_signers` file (a mounted Secret): the trust of
        /// Applications that name none of their own; watched, a change applies at once.
        #[arg(long, env = "PI_AGENT_ALLOWED_SIGNERS")]
        allowed_signers: Option<PathBuf>,
        /// The region's armored OpenPGP public keys (a mounted Secret), as `--allowed-signers`.
        #[arg(long, env = "PI_AGENT_OPENPGP_KEYS")]
        openpgp_keys: Option<PathBuf>,
        /// Registries (`host[:port]`) reached over plain HTTP to verify images; repeatable or
        /// comma-separated. Only for local and test registries: every other one is HTTPS.
        #[arg(
            long = "plain-http-registry",
            env = "PI_AGENT_PLAIN_HTTP_REGISTRIES",
            value_delimiter = ','
        )]
        plain_http_registries: Vec<String>,
        /// Log format.
        #[arg(long, value_enum, default_value = "human", env = "PI_AGENT_LOG_FORMAT")]
        log_format: LogFormat,
        /// Run several replicas: only the holder of a Lease runs the controller; the others
        /// serve health, metrics and the sync API (handed to the leader).
        #[arg(long, env = "PI_AGENT_LEADER_ELECT")]
        leader_elect: bool,
        /// Name of the leader election Lease.
        #[arg(long, default_value = "pi-agent", env = "PI_AGENT_LEASE_NAME")]
        lease_name: String,
        /// Namespace of the Lease (default: $POD_NAMESPACE, else the in-cluster namespace).
        #[arg(long, env = "PI_AGENT_LEASE_NAMESPACE")]
        lease_namespace: Option<String>,
        /// How long the Lease stays valid after a renewal (whole seconds).
        #[arg(long, default_value = "15s")]
        lease_duration: String,
        /// How often the leader renews the Lease (whole seconds, below `--lease-duration`).
        #[arg(long, default_value = "5s")]
        lease_renew_period: String,
        /// This replica's identity in the Lease (default: $POD_NAME, else `<hostname>_<pid>`).
        #[arg(long)]
        leader_identity: Option<String>,
        /// On SIGTERM, how long in-flight reconciles may take to finish before the process
        /// exits anyway.
        #[arg(long, default_value = "25s")]
        shutdown_timeout: String,
        #[command(flatten)]
        report: pi_agent::report::ReportArgs,
    },
    /// Render a kustomization (or a plain directory of manifests) to stdout, exactly as
    /// `kustomize build DIR` prints it. Exit code 0, or 2 with the error on stderr.
    Render {
        /// The directory.
        dir: PathBuf,
    },
    /// Show what applying a directory would change in the cluster (server-side dry run).
    /// Exit code 0: no difference, 1: differences, 2: error.
    Diff {
        /// The directory.
        dir: PathBuf,
        /// Namespace for namespaced objects that name none.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: Option<PathBuf>,
    },
    /// Verify the signatures of a revision as the controller does (same code).
    /// Exit code 0: verified (prints the commit), 1: rejected (prints why), 2: usage or I/O error.
    Verify {
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
    },
    /// Fetch a repository into a cache as the controller does (same code) and print the
    /// resolved revision. Exit code 0, or 2 with the error.
    Fetch {
        /// A `file://`, `https://`, `http://`, `ssh://` or `user@host:path` URL.
        #[arg(long)]
        repo: String,
        /// A branch, a tag or a full commit id.
        #[arg(long = "ref")]
        reference: String,
        /// The cache directory (kept, so a second run is incremental).
        #[arg(long)]
        cache_dir: PathBuf,
        /// Bring the history down to this commit (the full history on a new cache) instead
        /// of a shallow first fetch.
        #[arg(long)]
        since: Option<String>,
        /// SSH private key (ssh URLs).
        #[arg(long)]
        identity: Option<PathBuf>,
        /// SSH known_hosts file (required for ssh URLs).
        #[arg(long)]
        known_hosts: Option<PathBuf>,
    },
    /// Verify an image as the controller does (same code): resolve its tag to a digest and
    /// check its cosign signature against the keys.
    /// Exit code 0: verified (prints `REPOSITORY@sha256:…`), 1: rejected (prints why),
    /// 2: usage, I/O or registry error.
    VerifyImage {
        /// The image (`registry.example/app:v1`, or `…@sha256:…`).
        image: String,
        /// Cosign public key files (PEM, ECDSA P-256); repeatable, any one may have signed.
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        /// Reach the image's registry over plain HTTP (a local or test registry).
        #[arg(long)]
        plain_http: bool,
        /// Registries the image may come from (host, or host/repository prefix); repeatable.
        #[arg(long = "allowed-registry")]
        allowed_registries: Vec<String>,
    },
    /// Print the Application CRD (the committed copy is under manifests/crds/).
    Crd,
    /// Show the Applications: READY, REVISION, AGE, MESSAGE (`-A`, `-n`, `-o json`, `--watch`).
    /// Exit code 0, or 2 with the error.
    Status(pi_agent::status::StatusArgs),
    /// Promote the blue-green switch of a Deployment once its new version is Available and
    /// checked (skips the auto-promotion wait or the manual gate); after an abort, try again.
    /// Exit code 0: requested, 1: no switch to promote, 2: error.
    Promote {
        /// The Deployment, as named in Git.
        deployment: String,
        /// Its namespace.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: Option<PathBuf>,
    },
    /// Abort the blue-green switch of a Deployment: the active Service stays on the current
    /// version, the new one is scaled down. Exit code 0: requested, 1: no switch to abort, 2: error.
    Abort {
        /// The Deployment, as named in Git.
        deployment: String,
        /// Its namespace.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        /// Why (shown in status).
        #[arg(long, default_value = "aborted by an operator")]
        reason: String,
        /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: Option<PathBuf>,
    },
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PI_AGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.with_target(false).init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", pi_agent::api::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Render { dir } => render(&dir),
        Command::Status(args) => pi_agent::status::main(args),
        Command::Promote {
            deployment,
            namespace,
            kubeconfig,
        } => switch_request(
            kubeconfig,
            &namespace,
            &deployment,
            pi_agent::bluegreen::control::Request::Promote,
        ),
        Command::Abort {
            deployment,
            namespace,
            reason,
            kubeconfig,
        } => switch_request(
            kubeconfig,
            &namespace,
            &deployment,
            pi_agent::bluegreen::control::Request::Abort(reason),
        ),
        Command::Fetch {
            repo,
            reference,
            cache_dir,
            since,
            identity,
            known_hosts,
        } => fetch(
            &repo,
            &reference,
            &cache_dir,
            since.as_deref(),
            identity.as_deref(),
            known_hosts.as_deref(),
        ),
        Command::VerifyImage {
            image,
            keys,
            plain_http,
            allowed_registries,
        } => verify_image(&image, &keys, plain_http, allowed_registries),
        Command::Verify {
            repo,
            reference,
            allowed_signers,
            keyring,
            since,
            require_tag,
        } => verify(
            &repo,
            &reference,
            &allowed_signers,
            &keyring,
            since.as_deref(),
            require_tag,
        ),
        Command::Diff {
            dir,
            namespace,
            kubeconfig,
        } => diff(&dir, &namespace, kubeconfig),
        Command::Run {
            kubeconfig,
            namespace,
            listen,
            sync_token_file,
            cache_dir,
            allow_file_urls,
            fetch_timeout,
            max_repo_size,
            allowed_signers,
            openpgp_keys,
            plain_http_registries,
            log_format,
            leader_elect,
            lease_name,
            lease_namespace,
            lease_duration,
            lease_renew_period,
            leader_identity,
            shutdown_timeout,
            report,
        } => {
            // Validate all configuration before binding a port or starting the runtime.
            if listen.port() <= 1024 {
                eprintln!(
                    "error: `--listen {listen}`: the port must be above 1024 (rootless pods)"
                );
                return ExitCode::from(2);
            }
            let fetch_timeout = match pi_agent::error::parse_duration(&fetch_timeout) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("error: `--fetch-timeout`: {e}");
                    return ExitCode::from(2);
                }
            };
            let max_repo_bytes = match pi_agent::error::parse_size(&max_repo_size) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("error: `--max-repo-size`: {e}");
                    return ExitCode::from(2);
                }
            };
            let durations = [
                ("--lease-duration", &lease_duration),
                ("--lease-renew-period", &lease_renew_period),
                ("--shutdown-timeout", &shutdown_timeout),
            ]
            .map(|(flag, text)| {
                pi_agent::error::parse_duration(text).map_err(|e| format!("`{flag}`: {e}"))
            });
            let [lease_duration, lease_renew_period, shutdown_timeout] = match durations {
                [Ok(a), Ok(b), Ok(c)] => [a, b, c],
                [Err(e), ..] | [_, Err(e), _] | [.., Err(e)] => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let report_config = match report.config() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let election = if leader_elect {
                let config = ElectionConfig {
                    lease_name,
                    lease_namespace: lease_namespace
                        .or_else(leader::default_namespace)
                        .unwrap_or_default(),
                    identity: leader_identity.unwrap_or_else(leader::default_identity),
                    duration: lease_duration,
                    renew_period: lease_renew_period,
                };
                if let Err(e) = config.validate() {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
                Some(config)
            } else {
                None
            };
            let token = match sync_token_file {
                Some(path) => {
                    // A missing file in an existing directory is an optional Secret not created
                    // yet (the manifests mount it so): the API refuses syncs until it appears.
                    // A missing directory is a typo.
                    let dir_exists = path.parent().is_some_and(|d| d.is_dir());
                    match std::fs::metadata(&path) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir_exists => {
                            eprintln!(
                                "warning: `--sync-token-file {}` does not exist (yet): the sync API refuses every request until it does",
                                path.display()
                            );
                        }
                        Err(e) => {
                            eprintln!("error: `--sync-token-file {}`: {e}", path.display());
                            return ExitCode::from(2);
                        }
                    }
                    TokenSource::File(path)
                }
                None => TokenSource::None,
            };
            let cache_dir = cache_dir.unwrap_or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(std::env::temp_dir)
                    .join("pi-agent/repos")
            });
            init_logs(log_format);
            pi_agent::install_crypto_provider();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            let config = RunConfig {
                kubeconfig,
                namespace,
                listen,
                token,
                cache_dir,
                allow_file_urls,
                fetch_timeout,
                max_repo_bytes,
                trust_files: pi_agent::source::TrustFiles {
                    allowed_signers,
                    openpgp_keys,
                },
                plain_http_registries,
                election,
                shutdown_timeout,
                report: report_config,
                webhook_secret_file: report.webhook_secret_file,
                webhook_trusted_proxies: report.webhook_trusted_proxies,
            };
            let result = runtime.block_on(run(config));
            // Blocking tasks (a fetch) are not waited for: what they did is resumed by the next
            // reconcile, whichever replica runs it.
            runtime.shutdown_timeout(Duration::from_secs(1));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// The file system a local directory is rendered from: rooted at the enclosing git repository
/// (so overlays reach their bases and messages name files as the agent does), else at `/`.
fn local_fs(dir: &std::path::Path) -> Result<(kustomize::DiskFs, String), String> {
    let abs =
        std::fs::canonicalize(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    let root = abs
        .ancestors()
        .find(|a| a.join(".git").exists())
        .unwrap_or(std::path::Path::new("/"))
        .to_owned();
    let rel = abs
        .strip_prefix(&root)
        .unwrap_or(&abs)
        .to_string_lossy()
        .into_owned();
    Ok((kustomize::DiskFs::new(root), rel))
}

/// Renders a local directory as the agent renders a revision's path.
fn load_dir(dir: &std::path::Path) -> Result<Vec<pi_agent::render::Object>, String> {
    let (fs, rel) = local_fs(dir)?;
    pi_agent::render::render(&fs, &rel).map_err(|e| e.to_string())
}

fn render(dir: &std::path::Path) -> ExitCode {
    let rendered = local_fs(dir)
        .and_then(|(fs, rel)| pi_agent::render::render_yaml(&fs, &rel).map_err(|e| e.to_string()));
    match rendered {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn diff(dir: &std::path::Path, namespace: &str, kubeconfig: Option<PathBuf>) -> ExitCode {
    let objects = match load_dir(dir) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match pi_agent::cli_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let config = kube_config(kubeconfig).await?;
        let applier = pi_agent::apply::Applier::new(kube::Client::try_from(config)?);
        let tenancy = pi_agent::apply::Tenancy::unrestricted(namespace);
        Ok::<_, anyhow::Error>(applier.diff(&objects, &tenancy).await?)
    });
    match result {
        Ok(changes) if changes.is_empty() => {
            eprintln!("no difference: {} objects match the cluster", objects.len());
            ExitCode::SUCCESS
        }
        Ok(changes) => {
            for (id, change) in &changes {
                match change {
                    pi_agent::apply::Change::Added(y) => {
                        println!("+++ {id} (new)");
                        for line in y.lines() {
                            println!("+{line}");
                        }
                    }
                    pi_agent::apply::Change::Changed(d) => print!("{d}"),
                }
            }
            eprintln!("{} of {} objects differ", changes.len(), objects.len());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `pi-agent promote` / `pi-agent abort`.
fn switch_request(
    kubeconfig: Option<PathBuf>,
    namespace: &str,
    deployment: &str,
    request: pi_agent::bluegreen::control::Request,
) -> ExitCode {
    use pi_agent::bluegreen::control::{self, ControlError};
    let runtime = match pi_agent::cli_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let config = kube_config(kubeconfig)
            .await
            .map_err(|e| ControlError::Failed(format!("{e:#}")))?;
        let client =
            kube::Client::try_from(config).map_err(|e| ControlError::Failed(e.to_string()))?;
        control::request(&client, namespace, deployment, &request).await
    });
    match result {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e @ ControlError::NoSwitch(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn fetch(
    repo: &str,
    reference: &str,
    cache_dir: &Path,
    since: Option<&str>,
    identity: Option<&Path>,
    known_hosts: Option<&Path>,
) -> ExitCode {
    use pi_agent::source::{Auth, Fetcher, History, Reference};
    let usage = |m: String| {
        eprintln!("error: {m}");
        ExitCode::from(2)
    };
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    };
    let auth = match (known_hosts, identity) {
        (None, None) => None,
        (None, Some(_)) => return usage("`--identity` needs `--known-hosts`".into()),
        (Some(k), i) => {
            let known_hosts = match read(k) {
                Ok(t) => t,
                Err(e) => return usage(e),
            };
            let identity = match i.map(read).transpose() {
                Ok(t) => t,
                Err(e) => return usage(e),
            };
            Some(Auth::Ssh {
                identity,
                known_hosts,
            })
        }
    };
    let history = match since.map(|c| gix::ObjectId::from_hex(c.as_bytes())) {
        Some(Ok(id)) => History::Since(id),
        Some(Err(_)) => {
            return usage(format!(
                "`--since {}` is not a full commit id",
                since.unwrap_or_default()
            ));
        }
        None => History::Shallow,
    };
    let reference = if reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        match gix::ObjectId::from_hex(reference.as_bytes()) {
            Ok(id) => Reference::Commit(id),
            Err(e) => return usage(e.to_string()),
        }
    } else if let Some(tag) = reference.strip_prefix("refs/tags/") {
        Reference::Tag(tag.to_owned())
    } else {
        Reference::Branch(reference.trim_start_matches("refs/heads/").to_owned())
    };
    let runtime = match pi_agent::cli_runtime() {
        Ok(rt) => rt,
        Err(e) => return usage(e),
    };
    let fetcher = Fetcher::new(cache_dir, std::time::Duration::from_secs(600))
        .allow_file_urls(true)
        .max_repo_bytes(u64::MAX);
    let start = std::time::Instant::now();
    match runtime.block_on(fetcher.fetch(repo, &reference, auth.as_ref(), history)) {
        Ok(snapshot) => {
            println!("{}", snapshot.revision);
            eprintln!("fetched in {} ms", start.elapsed().as_millis());
            ExitCode::SUCCESS
        }
        Err(e) => usage(e.to_string()),
    }
}

fn verify(
    repo: &str,
    reference: &str,
    allowed_signers: &[PathBuf],
    keyrings: &[PathBuf],
    since: Option<&str>,
    require_tag: bool,
) -> ExitCode {
    use pi_agent::source::{Fetcher, History, Reference, SourceError, Verification};
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
    let runtime = match pi_agent::cli_runtime() {
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
                    Reference::parse(&pi_agent::api::GitRef {
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
    let runtime = match pi_agent::cli_runtime() {
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

struct RunConfig {
    kubeconfig: Option<PathBuf>,
    namespace: Option<String>,
    listen: SocketAddr,
    token: TokenSource,
    cache_dir: PathBuf,
    allow_file_urls: bool,
    fetch_timeout: Duration,
    max_repo_bytes: u64,
    trust_files: pi_agent::source::TrustFiles,
    plain_http_registries: Vec<String>,
    election: Option<ElectionConfig>,
    shutdown_timeout: Duration,
    report: pi_agent::report::ReportConfig,
    webhook_secret_file: Option<PathBuf>,
    webhook_trusted_proxies: Vec<server::webhook::Cidr>,
}

async fn kube_config(kubeconfig: Option<PathBuf>) -> anyhow::Result<kube::Config> {
    Ok(match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(&path)
                .map_err(|e| anyhow::anyhow!("cannot read kubeconfig `{}`: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    })
}

async fn run(config: RunConfig) -> anyhow::Result<()> {
    let kube_config = kube_config(config.kubeconfig).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on `{}`: {e}", config.listen))?;
    tracing::info!(listen = %config.listen, version = env!("CARGO_PKG_VERSION"), "pi-agent starting");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let metrics = Arc::new(Metrics::default());
    let mut ctx = Context::new(
        kube_config,
        Fetcher::new(config.cache_dir, config.fetch_timeout)
            .allow_file_urls(config.allow_file_urls)
            .max_repo_bytes(config.max_repo_bytes),
        metrics.clone(),
    )?;
    ctx.trust_files = config.trust_files;
    ctx.images = Arc::new(provenance::Verifier::new(provenance::VerifierConfig {
        plain_http_registries: config.plain_http_registries,
        ..Default::default()
    }));
    ctx.reporter =
        pi_agent::report::Reporter::new(ctx.client.clone(), config.report, metrics.clone());
    let ctx = Arc::new(ctx);
    let state = Arc::new(server::State {
        metrics: metrics.clone(),
        handles: Arc::default(),
        token: config.token,
        client: ctx.client.clone(),
        webhooks: server::webhook::Webhooks::new(config.webhook_secret_file)
            .trusting_proxies(config.webhook_trusted_proxies),
    });
    let namespace = config.namespace;
    let start_controller = || {
        metrics.leader.set(1);
        let (handles, controller) =
            controller::start(ctx.clone(), namespace.as_deref(), stopped(stop_rx.clone()));
        let _ = state.handles.set(handles);
        controller
    };
    // Without leader election the controller starts before the server, so that `/readyz`
    // never answers as a follower would.
    let mut controller = config.election.is_none().then(start_controller);
    // Every replica serves from here on: health, metrics, and the sync API (a follower hands
    // forced syncs to the leader).
    let server = tokio::spawn(server::serve(
        listener,
        state.clone(),
        stopped(stop_rx.clone()),
    ));
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: no new reconciles; waiting for those in flight");
        let _ = stop_tx.send(true);
    });

    let mut leadership = None;
    if let Some(election) = config.election {
        tokio::select! {
            acquired = leader::acquire(ctx.client.clone(), election) => {
                leadership = Some(acquired?);
                controller = Some(start_controller());
            }
            // Stopped while a follower: nothing is in flight.
            () = stopped(stop_rx.clone()) => {}
        }
    }
    if let Some(controller) = controller {
        // After SIGTERM, in-flight reconciles get `--shutdown-timeout` to finish.
        let bounded = async {
            tokio::pin!(controller);
            tokio::select! {
                () = &mut controller => {}
                () = stopped(stop_rx.clone()) => {
                    if tokio::time::timeout(config.shutdown_timeout, &mut controller).await.is_err() {
                        tracing::warn!(timeout = ?config.shutdown_timeout,
                            "in-flight reconciles did not finish within --shutdown-timeout; exiting anyway");
                    }
                }
            }
        };
        let lost = async {
            match leadership.as_mut() {
                Some(l) => l.lost().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = bounded => {}
            why = lost => {
                // Another replica may take over now: stop reconciling at once. Exiting is the
                // simplest way to cancel every in-flight apply; the kubelet restarts the
                // container as a follower, and a reconcile cut short resumes correctly on the
                // new leader (a crash at any point does).
                tracing::error!(reason = %why, "lost the leader lease; exiting");
                std::process::exit(2);
            }
        }
        metrics.leader.set(0);
    }
    // The controller stopped: give the Lease up so that a follower takes over at once rather
    // than when the Lease expires.
    if let Some(l) = leadership {
        l.release().await;
    }
    server.await??;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            return;
        }
    }
    let _ = ctrl_c.await;
}
