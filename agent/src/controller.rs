//! Wires the stages to kube-runtime: one reconcile per Application, triggered by spec and
//! annotation changes, the interval, and forced syncs from the HTTP API.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::Predicate;
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, field, info, info_span, warn};

use crate::api::KeyRef;
use crate::api::{
    Application, ApplicationStatus, DeletionPolicy, FIELD_MANAGER, FINALIZER,
    REQUESTED_AT_ANNOTATION,
};
use crate::apply::{
    Applier, ApplyError, DriftWatcher, ObjectId, Owner, Tenancy, inventory_of, stale,
};
use crate::error::{RetryClass, parse_duration};
use crate::health;
use crate::render::{self, RenderError};
use crate::report::Metrics;
use crate::report::conditions::{self, reason};
use crate::report::metrics::{AppLabels, OutcomeLabels};
use crate::source::{Auth, Fetcher, History, Reference, SourceError, TrustFiles, Verification};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use pi_verify::{TrustPolicy, VerifyMode};

/// Default `spec.source.interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Why a reconcile failed. Each variant is a stage; `reason()` is its status reason.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The Application's spec is invalid.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// Fetching or resolving the source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The manifests do not render.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Applying failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// An Application of `spec.sync.dependsOn` is not Ready yet.
    #[error("{0}")]
    DependencyNotReady(String),
    /// The applied objects did not become healthy.
    #[error(transparent)]
    Health(#[from] health::HealthError),
    /// An image of the revision is refused.
    #[error(transparent)]
    Images(#[from] crate::images::ImageStageError),
    /// A blue-green Deployment is misconfigured, or its live state cannot be read.
    #[error(transparent)]
    BlueGreen(#[from] crate::bluegreen::BlueGreenError),
    /// Writing status failed.
    #[error("writing status failed: {0}")]
    Status(#[source] kube::Error),
}

impl ReconcileError {
    /// The status reason of the failing stage.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::InvalidSpec(_) => reason::INVALID_SPEC,
            ReconcileError::Source(SourceError::InvalidSpec(_)) => reason::INVALID_SPEC,
            ReconcileError::Source(SourceError::VerificationFailed { .. }) => {
                reason::SOURCE_VERIFICATION_FAILED
            }
            ReconcileError::Source(_) => reason::SOURCE_FAILED,
            ReconcileError::Render(_) => reason::RENDER_FAILED,
            ReconcileError::Images(_) => reason::IMAGE_VERIFICATION_FAILED,
            ReconcileError::Apply(
                ApplyError::PruneFailed { .. } | ApplyError::EmptyRender { .. },
            ) => reason::PRUNE_FAILED,
            ReconcileError::Apply(ApplyError::TenancyViolation { .. }) => reason::TENANCY_VIOLATION,
            ReconcileError::Apply(_) | ReconcileError::Status(_) => reason::APPLY_FAILED,
            ReconcileError::Health(_) => reason::HEALTH_CHECK_FAILED,
            ReconcileError::DependencyNotReady(_) => reason::DEPENDENCY_NOT_READY,
            ReconcileError::BlueGreen(crate::bluegreen::BlueGreenError::InvalidSpec { .. }) => {
                reason::INVALID_SPEC
            }
            ReconcileError::BlueGreen(_) => reason::APPLY_FAILED,
        }
    }

    /// How the controller retries.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            ReconcileError::InvalidSpec(_) => RetryClass::Terminal,
            ReconcileError::Source(e) => e.retry_class(),
            ReconcileError::Render(e) => e.retry_class(),
            ReconcileError::Images(e) => e.retry_class(),
            ReconcileError::Apply(e) => e.retry_class(),
            ReconcileError::Status(_) => RetryClass::Transient,
            ReconcileError::Health(e) => e.retry_class(),
            ReconcileError::DependencyNotReady(_) => RetryClass::Waiting,
            ReconcileError::BlueGreen(e) => e.retry_class(),
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    /// The cluster.
    pub client: kube::Client,
    /// Repositories.
    pub fetcher: Fetcher,
    /// Server-side apply with the agent's own identity.
    pub applier: Arc<Applier>,
    // Appliers impersonating ServiceAccounts, by user name.
    impersonating: std::sync::Mutex<HashMap<String, Arc<Applier>>>,
    config: kube::Config,
    /// Drift correction.
    pub drift: Arc<DriftWatcher>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The region's default trust files, for Applications that name no trust material.
    pub trust_files: TrustFiles,
    /// Image verification (one verdict cache for every Application).
    pub images: Arc<provenance::Verifier>,
    /// Events, console and commit-status reports of each outcome.
    pub reporter: Arc<crate::report::Reporter>,
    failures: std::sync::Mutex<HashMap<ObjectRef<Application>, u32>>,
    // Set by `start`: lets the drift watcher ask for a reconcile, which records the correction
    // in status.
    trigger: Arc<std::sync::Mutex<Option<futures::channel::mpsc::Sender<ObjectRef<Application>>>>>,
}

impl Context {
    /// A context over a client.
    ///
    /// # Errors
    /// When no client can be built from `config`.
    pub fn new(
        config: kube::Config,
        fetcher: Fetcher,
        metrics: Arc<Metrics>,
    ) -> Result<Self, kube::Error> {
        let client = kube::Client::try_from(config.clone())?;
        let applier = Arc::new(Applier::new(client.clone()));
        let m = metrics.clone();
        let trigger: Arc<std::sync::Mutex<Option<futures::channel::mpsc::Sender<_>>>> =
            Arc::default();
        let t = trigger.clone();
        let on_drift = Box::new(move |owner: &Owner, _object: &str, corrected: bool| {
            let labels = OutcomeLabels {
                namespace: owner.namespace.clone(),
                name: owner.name.clone(),
                result: if corrected { "corrected" } else { "ignored" }.to_owned(),
            };
            m.drift.get_or_create(&labels).inc();
            // A correction is recorded in status by a reconcile; with selfHeal off, no reconcile
            // is asked for (it would re-apply, which is the correction the user turned off).
            if !corrected {
                return;
            }
            if let Some(tx) = t.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                let _ = tx.try_send(ObjectRef::new(&owner.name).within(&owner.namespace));
            }
        });
        let drift = DriftWatcher::new(client.clone(), on_drift);
        Ok(Context {
            trust_files: TrustFiles::default(),
            images: Arc::new(provenance::Verifier::new(Default::default())),
            reporter: crate::report::Reporter::new(
                client.clone(),
                Default::default(),
                metrics.clone(),
            ),
            applier,
            impersonating: Default::default(),
            config,
            drift,
            client,
            fetcher,
            metrics,
            failures: Default::default(),
            trigger,
        })
    }

    /// The applier for an Application: its ServiceAccount's identity when
    /// `spec.destination.serviceAccountName` is set (impersonation), else the agent's own.
    ///
    /// # Errors
    /// When the impersonating client cannot be built.
    pub fn applier_for(&self, app: &Application) -> Result<Arc<Applier>, ReconcileError> {
        let Some(sa) = &app.spec.destination.service_account_name else {
            return Ok(self.applier.clone());
        };
        let user = format!(
            "system:serviceaccount:{}:{sa}",
            app.namespace().unwrap_or_default()
        );
        let mut cache = self.impersonating.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = cache.get(&user) {
            return Ok(a.clone());
        }
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.clone());
        config.auth_info.impersonate_groups = None;
        let client = kube::Client::try_from(config).map_err(|e| {
            ReconcileError::InvalidSpec(format!("cannot impersonate `{user}`: {e}"))
        })?;
        let applier = Arc::new(Applier::new(client));
        cache.insert(user, applier.clone());
        Ok(applier)
    }
}

fn interval_of(app: &Application) -> Result<Duration, ReconcileError> {
    match &app.spec.source.interval {
        None => Ok(DEFAULT_INTERVAL),
        Some(text) => match parse_duration(text) {
            Ok(d) if d >= Duration::from_secs(1) => Ok(d),
            Ok(_) => Err(ReconcileError::InvalidSpec(format!(
                "`spec.source.interval` `{text}` is under 1s"
            ))),
            Err(e) => Err(ReconcileError::InvalidSpec(format!(
                "`spec.source.interval`: {e}"
            ))),
        },
    }
}

/// The verification an Application asks for, with its trust material read from the cluster
/// (every reconcile, so a rotated Secret applies without a restart).
///
/// # Errors
/// An unknown mode, missing or unparsable trust material: all refusals (fail closed).
/// The commit of a reported revision (`main@sha1:<hex>`).
fn commit_of(revision: &str) -> Option<gix::ObjectId> {
    gix::ObjectId::from_hex(crate::source::revision_commit(revision)?.as_bytes()).ok()
}

/// The history a fetch must bring: down to the last applied commit when the anti-rollback
/// check needs it, else the revision alone (a new cache is then fetched shallow).
fn history_for(app: &Application, last_applied: Option<&str>) -> History {
    match last_applied.and_then(commit_of) {
        Some(commit) if !app.spec.verify.allow_rollback => History::Since(commit),
        _ => History::Shallow,
    }
}

async fn verification_for(
    app: &Application,
    client: &kube::Client,
    trust_files: &TrustFiles,
    last_applied: Option<&str>,
) -> Result<Verification, ReconcileError> {
    let v = &app.spec.verify;
    let refused = |reason: String| {
        ReconcileError::Source(SourceError::VerificationFailed {
            revision: "policy".into(),
            reason,
        })
    };
    let mode_text = v.mode.as_deref().unwrap_or("HEAD");
    let mode: VerifyMode = mode_text.parse().map_err(|_| {
        ReconcileError::InvalidSpec(format!(
            "`spec.verify.mode` `{mode_text}` is not one of HEAD, Tag, TagAndHEAD, AllSince, None"
        ))
    })?;
    let last_applied = last_applied.and_then(commit_of);
    let policy = if mode == VerifyMode::None {
        None
    } else {
        let ns = app.namespace().unwrap_or_default();
        let mut ssh = match &v.allowed_signers {
            Some(r) => Some(read_key(client, &ns, r, "spec.verify.allowedSigners").await?),
            None => None,
        };
        let mut pgp = match &v.openpgp_keys {
            Some(r) => Some(read_key(client, &ns, r, "spec.verify.openpgpKeys").await?),
            None => None,
        };
        // Naming none of its own, an Application is verified against the region's files.
        if v.allowed_signers.is_none() && v.openpgp_keys.is_none() {
            let defaults = trust_files.read().map_err(refused)?;
            ssh = defaults.allowed_signers;
            pgp = defaults.openpgp_keys;
        }
        if ssh.is_none() && pgp.is_none() {
            return Err(refused(
                "no trust material: set `spec.verify.allowedSigners` or `spec.verify.openpgpKeys` (or `spec.verify.mode: None` to apply unsigned commits)".into(),
            ));
        }
        Some(
            TrustPolicy::parse(ssh.as_deref(), pgp.as_deref(), v.allowed_identities.clone())
                .map_err(|e| refused(format!("trust material does not parse: {e}")))?,
        )
    };
    Ok(Verification {
        mode,
        policy,
        last_applied,
        allow_rollback: v.allow_rollback,
    })
}

/// Why a referenced key could not be read.
pub(crate) enum KeyError {
    /// The object or key is missing or unreadable: named.
    Missing(String),
    /// The API server did not answer.
    Unavailable(kube::Error),
    /// The reference itself is invalid.
    Invalid(String),
}

/// Reads one key of a Secret or ConfigMap of `namespace` (`field` names the spec field in errors).
pub(crate) async fn read_ref(
    client: &kube::Client,
    namespace: &str,
    r: &KeyRef,
    field: &str,
) -> Result<String, KeyError> {
    let missing = KeyError::Missing;
    match (&r.secret_ref, &r.config_map_ref) {
        (Some(s), None) => {
            let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
            let secret = api
                .get_opt(&s.name)
                .await
                .map_err(KeyError::Unavailable)?
                .ok_or_else(|| {
                    missing(format!(
                        "`{field}`: Secret `{namespace}/{}` not found",
                        s.name
                    ))
                })?;
            let data = secret.data.unwrap_or_default();
            let bytes = data.get(&s.key).ok_or_else(|| {
                missing(format!(
                    "`{field}`: Secret `{namespace}/{}` has no key `{}`",
                    s.name, s.key
                ))
            })?;
            String::from_utf8(bytes.0.clone()).map_err(|_| {
                missing(format!(
                    "`{field}`: key `{}` of Secret `{}` is not UTF-8",
                    s.key, s.name
                ))
            })
        }
        (None, Some(c)) => {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
            let cm = api
                .get_opt(&c.name)
                .await
                .map_err(KeyError::Unavailable)?
                .ok_or_else(|| {
                    missing(format!(
                        "`{field}`: ConfigMap `{namespace}/{}` not found",
                        c.name
                    ))
                })?;
            cm.data.unwrap_or_default().remove(&c.key).ok_or_else(|| {
                missing(format!(
                    "`{field}`: ConfigMap `{namespace}/{}` has no key `{}`",
                    c.name, c.key
                ))
            })
        }
        _ => Err(KeyError::Invalid(format!(
            "`{field}` must set exactly one of `secretRef`, `configMapRef`"
        ))),
    }
}

/// Reads trust material for signature verification: a missing key is a refusal.
async fn read_key(
    client: &kube::Client,
    namespace: &str,
    r: &KeyRef,
    field: &str,
) -> Result<String, ReconcileError> {
    read_ref(client, namespace, r, field)
        .await
        .map_err(|e| match e {
            KeyError::Missing(reason) => ReconcileError::Source(SourceError::VerificationFailed {
                revision: "policy".into(),
                reason,
            }),
            KeyError::Unavailable(e) => ReconcileError::Source(SourceError::RepositoryFailed {
                url: field.into(),
                message: e.to_string(),
            }),
            KeyError::Invalid(m) => ReconcileError::InvalidSpec(m),
        })
}

/// The credentials (and the CA of an https source) of `spec.source.secretRef`, read at every
/// reconcile (a rotated Secret applies at once).
///
/// # Errors
/// A missing Secret or one without usable keys, named.
async fn source_auth(
    app: &Application,
    client: &kube::Client,
) -> Result<(Option<Auth>, Option<String>), ReconcileError> {
    let Some(r) = &app.spec.source.secret_ref else {
        return Ok((None, None));
    };
    let ns = app.namespace().unwrap_or_default();
    let invalid = |m: String| ReconcileError::InvalidSpec(format!("`spec.source.secretRef`: {m}"));
    let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = api
        .get_opt(&r.name)
        .await
        .map_err(ReconcileError::Status)?
        .ok_or_else(|| invalid(format!("Secret `{ns}/{}` not found", r.name)))?;
    let data = secret.data.unwrap_or_default();
    let text = |k: &str| {
        data.get(k)
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_owned())
    };
    let ca = text("ca.crt").filter(|c| !c.is_empty());
    if let Some(pem) = &ca {
        if !app.spec.source.url.starts_with("https://") {
            return Err(invalid(format!(
                "Secret `{}` has `ca.crt`, which is for https:// sources only",
                r.name
            )));
        }
        crate::source::parse_ca(pem)
            .map_err(|e| invalid(format!("Secret `{}` key `ca.crt`: {e}", r.name)))?;
    }
    if crate::source::is_ssh_url(&app.spec.source.url) {
        let known_hosts = text("known_hosts").unwrap_or_default();
        crate::source::check_known_hosts(&known_hosts)
            .map_err(|e| invalid(format!("Secret `{}` key `known_hosts`: {e}", r.name)))?;
        let identity = text("identity").filter(|i| !i.is_empty());
        if let Some(key) = &identity {
            crate::source::check_identity(key)
                .map_err(|e| invalid(format!("Secret `{}` key `identity`: {e}", r.name)))?;
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
            return Err(invalid(format!(
                "Secret `{}` needs `username` and `password`, or `bearerToken` (and optionally `ca.crt`)",
                r.name
            )));
        }
    };
    Ok((auth, ca))
}

/// Waits for every Application of `spec.sync.dependsOn` to be Ready at its current generation.
///
/// # Errors
/// [`ReconcileError::DependencyNotReady`] naming the first one that is not (a waiting state).
async fn check_dependencies(
    app: &Application,
    client: &kube::Client,
) -> Result<(), ReconcileError> {
    for dep in &app.spec.sync.depends_on {
        let ns = dep
            .namespace
            .clone()
            .unwrap_or_else(|| app.namespace().unwrap_or_default());
        let api: Api<Application> = Api::namespaced(client.clone(), &ns);
        let other = api
            .get_opt(&dep.name)
            .await
            .map_err(ReconcileError::Status)?;
        let ready = other.as_ref().is_some_and(|o| {
            let status = o.status.as_ref();
            status.is_some_and(|s| {
                s.observed_generation == o.metadata.generation
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == conditions::READY && c.status == "True")
            })
        });
        if !ready {
            let why = if other.is_none() {
                "does not exist"
            } else {
                "is not Ready"
            };
            return Err(ReconcileError::DependencyNotReady(format!(
                "dependency `{ns}/{}` {why}",
                dep.name
            )));
        }
    }
    Ok(())
}

/// How often the health check polls objects that are not ready yet.
const HEALTH_POLL: Duration = Duration::from_secs(1);
/// Default `spec.sync.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

fn timeout_of(app: &Application) -> Result<Duration, ReconcileError> {
    match &app.spec.sync.timeout {
        None => Ok(DEFAULT_TIMEOUT),
        Some(text) => parse_duration(text)
            .map_err(|e| ReconcileError::InvalidSpec(format!("`spec.sync.timeout`: {e}"))),
    }
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Reconciles one Application: fetch, render, apply, report.
///
/// # Errors
/// The failing stage's error, after it was written to status.
///
/// # Guarantees
/// A failure before apply leaves the cluster untouched; the status always says what happened.
pub async fn reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let span = info_span!("reconcile", app = %format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any()), revision = field::Empty);
    async move {
        let start = Instant::now();
        let labels = AppLabels {
            namespace: app.namespace().unwrap_or_default(),
            name: app.name_any(),
        };
        let result = reconcile_inner(&app, &ctx).await;
        ctx.metrics
            .reconcile_duration
            .get_or_create(&labels)
            .observe(start.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(_) => "success".to_owned(),
            Err(e) => e.reason().to_owned(),
        };
        ctx.metrics
            .reconciles
            .get_or_create(&OutcomeLabels {
                namespace: labels.namespace,
                name: labels.name,
                result: outcome,
            })
            .inc();
        let key = ObjectRef::from_obj(app.as_ref());
        let mut failures = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => {
                failures.remove(&key);
            }
            Err(e) => {
                *failures.entry(key).or_default() += 1;
                warn!(reason = e.reason(), error = %e, "reconcile failed");
            }
        }
        result
    }
    .instrument(span)
    .await
}

fn owner_of(app: &Application) -> Owner {
    Owner {
        name: app.name_any(),
        namespace: app.namespace().unwrap_or_default(),
    }
}

async fn reconcile_inner(cached: &Application, ctx: &Context) -> Result<Action, ReconcileError> {
    let api: Api<Application> =
        Api::namespaced(ctx.client.clone(), &cached.namespace().unwrap_or_default());
    // The cache may lag behind our own last status write (a reconcile can start right after one):
    // work from the current object, so an old status is never written back.
    let Some(fresh) = api
        .get_opt(&cached.name_any())
        .await
        .map_err(ReconcileError::Status)?
    else {
        return Ok(Action::await_change());
    };
    let app = &fresh;
    if app.meta().deletion_timestamp.is_some() {
        return finalize(app, ctx, &api).await;
    }
    if !app.finalizers().iter().any(|f| f == FINALIZER) {
        // Added before anything is applied, so an Application deleted at any point still
        // prunes what it applied.
        let mut finalizers = app.finalizers().to_vec();
        finalizers.push(FINALIZER.to_owned());
        let patch = json!({"metadata": {"resourceVersion": app.resource_version(), "finalizers": finalizers}});
        api.patch(
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(ReconcileError::Status)?;
    }

    let generation = app.meta().generation;
    let requested_at = app.annotations().get(REQUESTED_AT_ANNOTATION).cloned();
    let owner = owner_of(app);
    let mut status = app.status.clone().unwrap_or_default();
    // What the cluster holds now: a status write is skipped when nothing changed.
    let mut written = status.clone();
    status.drift_corrections += ctx.drift.take_counts(&owner).corrected;

    if app.spec.sync.suspend {
        conditions::remove_condition(&mut status.conditions, conditions::RECONCILING);
        status.last_handled_reconcile_at = requested_at.or(status.last_handled_reconcile_at);
        write_status(&api, app, &written, &status).await?;
        info!("suspended");
        return Ok(Action::await_change());
    }

    let attempt = async {
        let interval = interval_of(app)?;
        let reference =
            Reference::parse(&app.spec.source.reference).map_err(ReconcileError::InvalidSpec)?;
        let url = app.spec.source.url.clone();
        let ready = status
            .conditions
            .iter()
            .any(|c| c.type_ == conditions::READY && c.status == "True");
        if !ready || status.observed_generation != generation {
            let msg = format!("Fetching {reference} from `{url}`");
            report_progress(&api, app, &mut written, &mut status, &msg).await?;
        }

        check_dependencies(app, &ctx.client).await?;

        let fetch_start = Instant::now();
        let (auth, ca) = source_auth(app, &ctx.client).await?;
        let history = history_for(app, status.last_applied_revision.as_deref());
        let snapshot = ctx
            .fetcher
            .fetch_with_ca(&url, &reference, auth.as_ref(), ca.as_deref(), history)
            .await?;
        let labels = AppLabels {
            namespace: owner.namespace.clone(),
            name: owner.name.clone(),
        };
        ctx.metrics
            .fetch_duration
            .get_or_create(&labels)
            .observe(fetch_start.elapsed().as_secs_f64());
        let revision = snapshot.revision.to_string();
        tracing::Span::current().record("revision", revision.as_str());
        status.last_attempted_revision = Some(revision.clone());

        // Verify before anything is read from the tree: an unverified revision is never rendered.
        let verification = verification_for(
            app,
            &ctx.client,
            &ctx.trust_files,
            status.last_applied_revision.as_deref(),
        )
        .await?;
        let path = app.spec.source.path.clone().unwrap_or_default();
        let (verdict, objects) =
            tokio::task::spawn_blocking(move || -> Result<_, ReconcileError> {
                let verdict = snapshot.verify(&verification)?;
                let objects = render::render(&snapshot.tree_fs()?, &path)?;
                Ok((verdict, objects))
            })
            .await
            .map_err(|e| ReconcileError::InvalidSpec(format!("render task failed: {e}")))?
            .inspect_err(|e| {
                if matches!(
                    e,
                    ReconcileError::Source(SourceError::VerificationFailed { .. })
                ) {
                    let l = OutcomeLabels {
                        namespace: owner.namespace.clone(),
                        name: owner.name.clone(),
                        result: "refused".into(),
                    };
                    ctx.metrics.verifications.get_or_create(&l).inc();
                }
            })?;
        let (verified, result) = if verdict.signatures == 0 {
            (false, "disabled")
        } else {
            (true, "verified")
        };
        let l = OutcomeLabels {
            namespace: owner.namespace.clone(),
            name: owner.name.clone(),
            result: result.into(),
        };
        ctx.metrics.verifications.get_or_create(&l).inc();
        let reason = if verified {
            reason::VERIFIED
        } else {
            reason::VERIFICATION_DISABLED
        };
        conditions::set_condition(
            &mut status.conditions,
            conditions::SOURCE_VERIFIED,
            verified,
            reason,
            &verdict.summary,
            generation,
            &now(),
        );

        // Images: verified and pinned before anything of the revision is written.
        let mut objects = objects;
        if let Some(policy) = &app.spec.images {
            let ns = app.namespace().unwrap_or_default();
            let outcome = async {
                let resolved = crate::images::resolve(&ctx.client, &ns, policy).await?;
                crate::images::admit(&ctx.images, &resolved, &mut objects).await
            }
            .await;
            let count = |result: &str, n: u64| {
                let l = OutcomeLabels {
                    namespace: owner.namespace.clone(),
                    name: owner.name.clone(),
                    result: result.into(),
                };
                ctx.metrics.image_verifications.get_or_create(&l).inc_by(n);
            };
            match outcome {
                Ok(admitted) => {
                    count("verified", admitted.images.len() as u64);
                    conditions::set_condition(
                        &mut status.conditions,
                        conditions::IMAGES_VERIFIED,
                        true,
                        reason::VERIFIED,
                        &admitted.summary(),
                        generation,
                        &now(),
                    );
                }
                Err(e) => {
                    count("refused", 1);
                    return Err(e.into());
                }
            }
        } else {
            conditions::remove_condition(&mut status.conditions, conditions::IMAGES_VERIFIED);
        }

        // A verified revision about to change the cluster: `running` on the commit, for example.
        if status.last_applied_revision.as_deref() != Some(revision.as_str()) {
            ctx.reporter.progress(app, &revision);
        }
        // Blue-green: opted-in Deployments become versions; their Services follow the live one.
        let (objects, switches) =
            crate::bluegreen::stage(&ctx.client, app, &owner, objects).await?;

        // An empty revision would prune everything: refuse it unless asked for.
        if objects.is_empty() && !status.inventory.is_empty() && !app.spec.sync.allow_empty {
            return Err(ApplyError::EmptyRender {
                count: status.inventory.len(),
            }
            .into());
        }

        // The drift watcher must not correct an object while its new revision is applied.
        let lock = ctx.drift.lock_for(&owner);
        let guard = lock.lock().await;
        let applier = ctx.applier_for(app)?;
        let tenancy = Tenancy::of(&app.spec.destination, &app.target_namespace());
        let waves = render::waves(&objects)?;
        // A re-sync of the revision applied last, at the same generation, was fully checked when it
        // was first applied: skip the dry-run pass (half the API server's work per interval).
        let resync = status.last_applied_revision.as_deref() == Some(revision.as_str())
            && status.observed_generation == generation;
        let applied = if waves.len() == 1 && resync {
            applier.apply_checked(&objects, &tenancy, &owner).await?
        } else if waves.len() == 1 {
            applier.apply(&objects, &tenancy, &owner).await?
        } else {
            // Sync waves: the whole revision is checked first (nothing written if any object is
            // refused), then each wave is applied and, with `wait`, must be healthy before the next.
            applier.check(&objects, &tenancy, &owner).await?;
            let timeout = timeout_of(app)?;
            let mut all = Vec::new();
            for (i, (wave, members)) in waves.iter().enumerate() {
                let batch: Vec<render::Object> = members.iter().map(|o| (*o).clone()).collect();
                let applied = applier.apply(&batch, &tenancy, &owner).await?;
                info!(wave, objects = applied.len(), "wave applied");
                if app.spec.sync.wait && i + 1 < waves.len() {
                    let applied: Vec<_> = applied
                        .iter()
                        .filter(|a| {
                            !switches.skip_health(a.namespace.as_deref(), &a.resource.kind, &a.name)
                        })
                        .cloned()
                        .collect();
                    health::wait_healthy(&applier, &applied, timeout, HEALTH_POLL).await?;
                }
                all.extend(applied);
            }
            all
        };
        // The rendered revision is not needed past this point (the health wait may be long).
        drop(waves);
        drop(objects);
        switches.record(&ctx.metrics.bluegreen, &owner.namespace, &owner.name);
        let inventory = inventory_of(applied.iter().map(|a| &a.entry));
        ctx.drift
            .track(&owner, app.spec.sync.self_heal, &applier, &applied);
        let mut applied = applied;
        // The drift watcher keeps its own compact copy of the bodies: release these now.
        for a in &mut applied {
            a.body = serde_json::Value::Null;
        }
        // Versions that take no traffic are not waited for (the switch itself waits for them).
        applied
            .retain(|a| !switches.skip_health(a.namespace.as_deref(), &a.resource.kind, &a.name));

        // Prune only after everything applied: a failed apply never deletes anything.
        let mut kept = Vec::new();
        if app.spec.sync.prune {
            let (ids, unparsable) = stale(&status.inventory, &inventory);
            for e in &unparsable {
                warn!(id = %e.id, "inventory entry does not parse; not pruned");
            }
            match applier.prune(&ids, &owner).await {
                Ok(report) => {
                    for d in &report.deleted {
                        info!(object = %d, "pruned");
                    }
                    ctx.metrics
                        .pruned_objects
                        .get_or_create(&labels)
                        .inc_by(report.deleted.len() as u64);
                }
                Err(e) => {
                    // Keep every stale entry so the next reconcile retries the prune.
                    status.inventory =
                        inventory_of(inventory.iter().chain(status.inventory.iter()));
                    return Err(e.into());
                }
            }
        } else {
            // Without pruning, objects that left Git stay in the inventory: still ours.
            let (ids, _) = stale(&status.inventory, &inventory);
            kept = status
                .inventory
                .iter()
                .filter(|e| ObjectId::parse(e).is_some_and(|id| ids.contains(&id)))
                .cloned()
                .collect();
        }
        drop(guard);
        ctx.metrics
            .applied_objects
            .get_or_create(&labels)
            .set(inventory.len() as i64);
        let inventory = inventory_of(inventory.iter().chain(kept.iter()));

        if app.spec.sync.wait {
            // The objects exist now: record them, whatever the health check says.
            status.inventory = inventory.clone();
            let timeout = timeout_of(app)?;
            let pending = applied.iter().filter(|a| a.live.is_some()).count();
            if pending > 0 {
                let msg = format!(
                    "Applied revision {revision}; waiting for {pending} objects to be ready"
                );
                report_progress(&api, app, &mut written, &mut status, &msg).await?;
            }
            health::wait_healthy(&applier, &applied, timeout, HEALTH_POLL).await?;
        }
        Ok::<_, ReconcileError>((interval, revision, inventory, switches))
    };

    let result = match attempt.await {
        Ok((interval, revision, inventory, switches)) => {
            let mut msg = format!("Applied revision: {revision}");
            if switches.report(&mut status, &msg, generation, &now()) {
                msg = format!("{msg}; blue-green switch in progress or aborted");
            } else {
                conditions::set_condition(
                    &mut status.conditions,
                    conditions::READY,
                    true,
                    reason::SUCCEEDED,
                    &msg,
                    generation,
                    &now(),
                );
                conditions::remove_condition(&mut status.conditions, conditions::RECONCILING);
                conditions::remove_condition(&mut status.conditions, conditions::STALLED);
            }
            status.observed_generation = generation;
            status.last_applied_revision = Some(revision);
            status.last_handled_reconcile_at = requested_at.or(status.last_handled_reconcile_at);
            status.inventory = inventory;
            write_status(&api, app, &written, &status).await?;
            info!(objects = status.inventory.len(), "{msg}");
            Ok(Action::requeue(switches.requeue(interval)))
        }
        Err(e) => {
            let t = now();
            let msg = e.to_string();
            if let ReconcileError::Source(SourceError::VerificationFailed { .. }) = &e {
                conditions::set_condition(
                    &mut status.conditions,
                    conditions::SOURCE_VERIFIED,
                    false,
                    reason::SOURCE_VERIFICATION_FAILED,
                    &msg,
                    generation,
                    &t,
                );
            }
            conditions::set_condition(
                &mut status.conditions,
                conditions::READY,
                false,
                e.reason(),
                &msg,
                generation,
                &t,
            );
            if e.retry_class() == RetryClass::Terminal {
                conditions::set_condition(
                    &mut status.conditions,
                    conditions::STALLED,
                    true,
                    e.reason(),
                    &msg,
                    generation,
                    &t,
                );
                conditions::remove_condition(&mut status.conditions, conditions::RECONCILING);
            } else {
                conditions::set_condition(
                    &mut status.conditions,
                    conditions::RECONCILING,
                    true,
                    reason::PROGRESSING,
                    &format!("Retrying: {msg}"),
                    generation,
                    &t,
                );
                conditions::remove_condition(&mut status.conditions, conditions::STALLED);
            }
            status.observed_generation = generation;
            status.last_handled_reconcile_at = requested_at.or(status.last_handled_reconcile_at);
            if let Err(write) = write_status(&api, app, &written, &status).await {
                warn!(error = %write, "could not record the failure in status");
            }
            Err(e)
        }
    };
    ctx.reporter.outcome(app, &status);
    result
}

/// The Application is being deleted: prune its inventory (deletion policy `Delete`, not
/// suspended) or leave it (`Orphan`), then remove the finalizer.
///
/// # Guarantees
/// Idempotent; the finalizer is removed only after every object is deleted, so a failure or a
/// crash retries the cleanup.
async fn finalize(
    app: &Application,
    ctx: &Context,
    api: &Api<Application>,
) -> Result<Action, ReconcileError> {
    let Some(index) = app.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(Action::await_change());
    };
    let owner = owner_of(app);
    let inventory = app
        .status
        .as_ref()
        .map(|s| s.inventory.clone())
        .unwrap_or_default();
    let delete = app.spec.sync.deletion_policy == DeletionPolicy::Delete && !app.spec.sync.suspend;
    if delete {
        let lock = ctx.drift.lock_for(&owner);
        let _guard = lock.lock().await;
        ctx.drift.untrack(&owner);
        let (ids, _) = stale(&inventory, &[]);
        let report = ctx.applier_for(app)?.prune(&ids, &owner).await?;
        info!(
            deleted = report.deleted.len(),
            kept = report.skipped.len(),
            "Application deleted: inventory pruned"
        );
    } else {
        ctx.drift.untrack(&owner);
        info!(
            objects = inventory.len(),
            "Application deleted: objects orphaned"
        );
    }
    let mut finalizers = app.finalizers().to_vec();
    finalizers.remove(index);
    let patch =
        json!({"metadata": {"resourceVersion": app.resource_version(), "finalizers": finalizers}});
    match api
        .patch(
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(ReconcileError::Status(e)),
    }
    ctx.metrics.forget(&owner.namespace, &owner.name);
    Ok(Action::await_change())
}

/// Writes one progress message (`Reconciling=True`) and remembers it as what the cluster holds.
async fn report_progress(
    api: &Api<Application>,
    app: &Application,
    written: &mut ApplicationStatus,
    status: &mut ApplicationStatus,
    message: &str,
) -> Result<(), ReconcileError> {
    let generation = app.meta().generation;
    conditions::set_condition(
        &mut status.conditions,
        conditions::RECONCILING,
        true,
        reason::PROGRESSING,
        message,
        generation,
        &now(),
    );
    write_status(api, app, written, status).await?;
    *written = status.clone();
    Ok(())
}

/// Writes status with server-side apply (so fields we stop setting disappear), only if changed.
async fn write_status(
    api: &Api<Application>,
    app: &Application,
    before: &ApplicationStatus,
    status: &ApplicationStatus,
) -> Result<(), ReconcileError> {
    if before == status {
        return Ok(());
    }
    let body = json!({
        "apiVersion": Application::api_version(&()),
        "kind": Application::kind(&()),
        "status": status,
    });
    api.patch_status(
        &app.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(ReconcileError::Status)?;
    Ok(())
}

/// Requeue delay after a failure, by retry class and consecutive failures.
pub fn error_policy(app: Arc<Application>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let interval = interval_of(&app).unwrap_or(DEFAULT_INTERVAL);
    let failures = ctx
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&ObjectRef::from_obj(app.as_ref()))
        .copied()
        .unwrap_or(1);
    Action::requeue(error.retry_class().requeue_after(interval, failures))
}

/// A kind of object an Application reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Referenced {
    Secret,
    ConfigMap,
}

/// The names of the Secrets (or ConfigMaps) an Application reads: trust material and the source
/// credentials.
fn referenced(app: &Application, kind: Referenced) -> Vec<&str> {
    let v = &app.spec.verify;
    let keys = [&v.allowed_signers, &v.openpgp_keys].into_iter().flatten();
    let mut names: Vec<&str> = keys
        .filter_map(|k| match kind {
            Referenced::Secret => k.secret_ref.as_ref(),
            Referenced::ConfigMap => k.config_map_ref.as_ref(),
        })
        .map(|r| r.name.as_str())
        .collect();
    if kind == Referenced::Secret {
        names.extend(app.spec.source.secret_ref.as_ref().map(|r| r.name.as_str()));
    }
    names
}

/// The Applications of the object's namespace that read it.
fn readers_of<K: Resource>(
    apps: &Store<Application>,
    object: &K,
    kind: Referenced,
) -> Vec<ObjectRef<Application>> {
    let (ns, name) = (
        object.meta().namespace.clone().unwrap_or_default(),
        object.meta().name.clone().unwrap_or_default(),
    );
    apps.state()
        .iter()
        .filter(|a| {
            a.metadata.namespace.as_deref() == Some(ns.as_str())
                && referenced(a, kind).contains(&name.as_str())
        })
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}

/// Handles the HTTP server gets to the controller.
#[derive(Clone)]
pub struct Handles {
    /// The controller's cache of Applications.
    pub store: Store<Application>,
    /// Sends an immediate reconcile.
    pub trigger: futures::channel::mpsc::Sender<ObjectRef<Application>>,
    /// True once the cache is synced.
    pub ready: Arc<AtomicBool>,
}

/// Starts the controller over every Application the client may see (or one namespace); returns
/// the handles for the HTTP server and the future that runs the controller until `shutdown`.
pub fn start(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> (Handles, impl std::future::Future<Output = ()>) {
    let api: Api<Application> = match namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let (reader, writer) = reflector::store();
    // Status writes change neither the generation nor the annotations: filtering on both keeps
    // our own status updates from triggering reconciles, while spec edits and the
    // `requestedAt` annotation still do.
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            // Not the finalizers: adding ours would start a second full reconcile.
            predicates::generation
                .combine(predicates::annotations)
                .combine(|app: &Application| app.metadata.deletion_timestamp.as_ref().map(|_| 1)),
            Default::default(),
        );
    let (trigger, triggers) = futures::channel::mpsc::channel(1024);
    *ctx.trigger.lock().unwrap_or_else(|p| p.into_inner()) = Some(trigger.clone());
    let ready = Arc::new(AtomicBool::new(false));
    let handles = Handles {
        store: reader.clone(),
        trigger,
        ready: ready.clone(),
    };
    // Trust material and credentials are read at every reconcile; a change to a Secret or
    // ConfigMap an Application reads triggers that reconcile at once (metadata-only watches).
    let (secrets, config_maps) = match namespace {
        Some(ns) => (
            Api::namespaced(ctx.client.clone(), ns),
            Api::namespaced(ctx.client.clone(), ns),
        ),
        None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
    };
    let secret_events = watcher::<PartialObjectMeta<Secret>>(secrets, watcher::Config::default())
        .default_backoff()
        .touched_objects();
    let config_map_events =
        watcher::<PartialObjectMeta<ConfigMap>>(config_maps, watcher::Config::default())
            .default_backoff()
            .touched_objects();
    let (apps_s, apps_c) = (reader.clone(), reader.clone());
    let trust_changes = watch_trust_files(ctx.clone(), reader.clone());
    let controller = kube::runtime::Controller::for_stream(stream, reader.clone())
        .watches_stream(secret_events, move |s| {
            readers_of(&apps_s, &s, Referenced::Secret)
        })
        .watches_stream(config_map_events, move |c| {
            readers_of(&apps_c, &c, Referenced::ConfigMap)
        })
        .reconcile_on(triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()));
    let run = async move {
        let wait_ready = async move {
            if reader.wait_until_ready().await.is_ok() {
                ready.store(true, Ordering::SeqCst);
                info!("cache synced; ready");
            }
        };
        futures::join!(controller, wait_ready, trust_changes);
    };
    (handles, run)
}

/// Reconciles the Applications that use the region's trust files whenever the files change.
async fn watch_trust_files(ctx: Arc<Context>, apps: reflector::Store<Application>) {
    if ctx.trust_files.is_empty() {
        return;
    }
    let (_watcher, mut changes) = match ctx.trust_files.watch(Duration::from_millis(200)) {
        Ok(w) => w,
        Err(e) => {
            // Reconciles still read the files every time; only the immediate reaction is lost.
            warn!(error = %e, "trust files are not watched; changes apply at the next reconcile");
            return;
        }
    };
    while changes.recv().await.is_some() {
        let trigger = ctx
            .trigger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(mut trigger) = trigger else {
            continue;
        };
        let users: Vec<_> = apps
            .state()
            .into_iter()
            .filter(|a| {
                a.spec.verify.allowed_signers.is_none() && a.spec.verify.openpgp_keys.is_none()
            })
            .collect();
        info!(applications = users.len(), "trust files changed");
        for app in users {
            let _ = trigger.try_send(ObjectRef::from_obj(&*app));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_objects_should_cover_trust_material_and_credentials() {
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "a", "namespace": "n"},
            "spec": {"source": {"url": "https://x/y.git", "secretRef": {"name": "creds"}},
                     "verify": {"allowedSigners": {"secretRef": {"name": "signers", "key": "k"}},
                                "openpgpKeys": {"configMapRef": {"name": "keys", "key": "k"}}}}
        }))
        .unwrap();
        assert_eq!(referenced(&app, Referenced::Secret), ["signers", "creds"]);
        assert_eq!(referenced(&app, Referenced::ConfigMap), ["keys"]);
    }

    #[test]
    fn stage_errors_should_map_to_reasons_and_classes() {
        let e = ReconcileError::Render(RenderError::Kustomize(
            "a.yaml: line 1: malformed YAML".into(),
        ));
        assert_eq!(e.reason(), reason::RENDER_FAILED);
        assert_eq!(e.retry_class(), RetryClass::Terminal);
        let e = ReconcileError::Source(SourceError::FetchFailed {
            url: "u".into(),
            message: "m".into(),
        });
        assert_eq!(e.reason(), reason::SOURCE_FAILED);
        assert_eq!(e.retry_class(), RetryClass::Transient);
        assert_eq!(
            ReconcileError::InvalidSpec("x".into()).reason(),
            reason::INVALID_SPEC
        );
    }
}
