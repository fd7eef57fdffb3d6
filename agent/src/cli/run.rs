//! `pi-agent run`: the controller and the HTTP server. Every flag is validated into a
//! [`RunConfig`] before a port is bound or the runtime starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

use crate::context::Context;
use crate::controller;
use crate::leader::{self, ElectionConfig};
use crate::report::Metrics;
use crate::server::{self, TokenSource};
use crate::source::Fetcher;

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// Flags of `pi-agent run` (each also from the environment).
#[derive(clap::Args)]
pub struct RunArgs {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Watch only this namespace (default: all namespaces the agent may read).
    #[arg(long, env = "PI_AGENT_NAMESPACE")]
    namespace: Option<String>,
    /// Reconcile only the Applications this label selector matches (sharding, as Flux's
    /// `--watch-label-selector`: e.g. `sharding.pi-agent.io/key in (shard1)`). Each shard is
    /// its own Deployment with its own Lease (named after the selector unless `--lease-name`).
    #[arg(long, env = "PI_AGENT_WATCH_LABEL_SELECTOR")]
    watch_label_selector: Option<String>,
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
    /// The region's age key file (a mounted Secret, `age-keygen` output): the SOPS keys of
    /// Applications whose `spec.decryption` names no Secret of their own. Read at each use,
    /// so a rotated Secret applies without a restart.
    #[arg(long, env = "PI_AGENT_SOPS_AGE_KEY_FILE")]
    sops_age_key_file: Option<PathBuf>,
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
    #[arg(long, default_value = DEFAULT_LEASE_NAME, env = "PI_AGENT_LEASE_NAME")]
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
    /// Applications reconciled at once (the others wait in the queue; a forced sync or a push
    /// webhook takes a separate lane; the final health wait gives the slot back).
    #[arg(long, default_value_t = crate::context::DEFAULT_CONCURRENT, env = "PI_AGENT_CONCURRENT")]
    concurrent: u16,
    #[command(flatten)]
    report: super::report_args::ReportArgs,
}

/// Default of `--lease-name`.
pub const DEFAULT_LEASE_NAME: &str = "pi-agent";

/// The Lease of a shard: `pi-agent-<12 hex of the selector's SHA-256>`, the same for every
/// replica of the shard and different between shards.
fn shard_lease_name(selector: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, selector.as_bytes());
    let hex: String = digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{DEFAULT_LEASE_NAME}-{hex}")
}

/// The validated configuration of `pi-agent run`.
pub struct RunConfig {
    log_format: LogFormat,
    kubeconfig: Option<PathBuf>,
    namespace: Option<String>,
    selector: Option<String>,
    listen: SocketAddr,
    token: TokenSource,
    cache_dir: PathBuf,
    allow_file_urls: bool,
    fetch_timeout: Duration,
    max_repo_bytes: u64,
    trust_files: crate::source::TrustFiles,
    sops_age_key_file: Option<PathBuf>,
    plain_http_registries: Vec<String>,
    election: Option<ElectionConfig>,
    shutdown_timeout: Duration,
    report: crate::report::ReportConfig,
    webhook_secret_file: Option<PathBuf>,
    webhook_trusted_proxies: Vec<server::webhook::Cidr>,
    concurrent: u16,
}

impl TryFrom<RunArgs> for RunConfig {
    type Error = String;

    fn try_from(args: RunArgs) -> Result<Self, String> {
        let RunArgs {
            kubeconfig,
            namespace,
            watch_label_selector,
            listen,
            sync_token_file,
            cache_dir,
            allow_file_urls,
            fetch_timeout,
            max_repo_size,
            allowed_signers,
            openpgp_keys,
            sops_age_key_file,
            plain_http_registries,
            log_format,
            leader_elect,
            lease_name,
            lease_namespace,
            lease_duration,
            lease_renew_period,
            leader_identity,
            shutdown_timeout,
            concurrent,
            report,
        } = args;
        if concurrent == 0 {
            return Err(
                "`--concurrent 0`: at least one Application must be reconciled at a time".into(),
            );
        }
        if listen.port() <= 1024 {
            return Err(format!(
                "`--listen {listen}`: the port must be above 1024 (rootless pods)"
            ));
        }
        let fetch_timeout = crate::error::parse_duration(&fetch_timeout)
            .map_err(|e| format!("`--fetch-timeout`: {e}"))?;
        let max_repo_bytes = crate::error::parse_size(&max_repo_size)
            .map_err(|e| format!("`--max-repo-size`: {e}"))?;
        let durations = [
            ("--lease-duration", &lease_duration),
            ("--lease-renew-period", &lease_renew_period),
            ("--shutdown-timeout", &shutdown_timeout),
        ]
        .map(|(flag, text)| {
            crate::error::parse_duration(text).map_err(|e| format!("`{flag}`: {e}"))
        });
        let [lease_duration, lease_renew_period, shutdown_timeout] = match durations {
            [Ok(a), Ok(b), Ok(c)] => [a, b, c],
            [Err(e), ..] | [_, Err(e), _] | [.., Err(e)] => return Err(e),
        };
        let report_config = report.config()?;
        let selector = match watch_label_selector.map(|s| s.trim().to_owned()) {
            Some(s) if s.is_empty() => {
                return Err("`--watch-label-selector` is empty".into());
            }
            other => other,
        };
        // Two shards must not share a Lease: each elects its own leader.
        let lease_name = match &selector {
            Some(s) if lease_name == DEFAULT_LEASE_NAME => shard_lease_name(s),
            _ => lease_name,
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
            config.validate()?;
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
                        return Err(format!("`--sync-token-file {}`: {e}", path.display()));
                    }
                }
                TokenSource::File(path)
            }
            None => TokenSource::None,
        };
        if let Some(path) = &sops_age_key_file {
            check_age_key_file(path)?;
        }
        let cache_dir = cache_dir.unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir)
                .join("pi-agent/repos")
        });
        Ok(RunConfig {
            log_format,
            kubeconfig,
            namespace,
            selector,
            listen,
            token,
            cache_dir,
            allow_file_urls,
            fetch_timeout,
            max_repo_bytes,
            trust_files: crate::source::TrustFiles {
                allowed_signers,
                openpgp_keys,
            },
            sops_age_key_file,
            plain_http_registries,
            election,
            shutdown_timeout,
            report: report_config,
            webhook_secret_file: report.webhook_secret_file,
            webhook_trusted_proxies: report.webhook_trusted_proxies,
            concurrent,
        })
    }
}

/// `--sops-age-key-file`: a file that exists must hold age identities; a missing file in an
/// existing directory is an optional Secret not created yet (Applications that need it fail
/// until it appears); a missing directory is a typo.
fn check_age_key_file(path: &std::path::Path) -> Result<(), String> {
    let flag = format!("`--sops-age-key-file {}`", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = zeroize::Zeroizing::new(text);
            let mut keys = sops::Keyring::new();
            let n = keys
                .add_age_identities(&flag, &text)
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(format!("{flag}: the file holds no age identity"));
            }
            Ok(())
        }
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && path.parent().is_some_and(|d| d.is_dir()) =>
        {
            eprintln!(
                "warning: {flag} does not exist (yet): Applications that need the region's SOPS keys fail until it does"
            );
            Ok(())
        }
        Err(e) => Err(format!("{flag}: {e}")),
    }
}

/// Runs the agent until SIGTERM.
pub fn main(args: RunArgs) -> ExitCode {
    let config = match RunConfig::try_from(args) {
        Ok(c) => c,
        Err(e) => return super::error(e),
    };
    init_logs(config.log_format);
    crate::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return super::error(format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(run(config));
    // Blocking tasks (a fetch) are not waited for: what they did is resumed by the next
    // reconcile, whichever replica runs it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::error(format!("{e:#}")),
    }
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

async fn run(config: RunConfig) -> anyhow::Result<()> {
    let kube_config = super::kube_config(config.kubeconfig).await?;
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
    )?
    .with_concurrency(usize::from(config.concurrent));
    ctx.trust_files = config.trust_files;
    ctx.sops_age_key_file = config.sops_age_key_file;
    ctx.images = Arc::new(provenance::Verifier::new(provenance::VerifierConfig {
        plain_http_registries: config.plain_http_registries,
        ..Default::default()
    }));
    ctx.reporter = crate::report::Reporter::new(ctx.client.clone(), config.report, metrics.clone());
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
    let selector = config.selector;
    if let Some(selector) = &selector {
        // A selector the API server refuses would only show as watch errors: check it now.
        let api: kube::Api<crate::api::Application> = match &namespace {
            Some(ns) => kube::Api::namespaced(ctx.client.clone(), ns),
            None => kube::Api::all(ctx.client.clone()),
        };
        api.list_metadata(&kube::api::ListParams::default().labels(selector).limit(1))
            .await
            .map_err(|e| anyhow::anyhow!("`--watch-label-selector {selector}`: {e}"))?;
        tracing::info!(
            selector,
            "sharding: reconciling only the Applications it selects"
        );
    }
    let start_controller = || {
        metrics.leader.set(1);
        let (handles, controller) = controller::start(
            ctx.clone(),
            namespace.as_deref(),
            selector.as_deref(),
            stopped(stop_rx.clone()),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_should_get_distinct_stable_lease_names() {
        let a = shard_lease_name("sharding.pi-agent.io/key in (shard1)");
        let b = shard_lease_name("sharding.pi-agent.io/key in (shard2)");
        assert_ne!(a, b);
        assert_eq!(a, shard_lease_name("sharding.pi-agent.io/key in (shard1)"));
        assert!(
            a.starts_with("pi-agent-") && a.len() == "pi-agent-".len() + 12,
            "{a}"
        );
        // A valid Lease name (DNS subdomain).
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
