//! The adapter of pi-agent's own `Application` (`gitops.pi-agent.io/v1alpha1`): the [`Work`]
//! its spec describes, what its status remembers ([`Prior`]), and its status written back
//! ([`Sink`]). Its lifecycle (finalizer, deletion, suspension) is in
//! `controller::application`.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use pi_verify::VerifyMode;
use serde_json::json;

use crate::api::{Application, ApplicationStatus, FIELD_MANAGER};
use crate::apply::Tenancy;
use crate::error::{SpecError, parse_duration};
use crate::report::conditions;
use crate::source::Reference;

use super::{
    DecryptionSpec, Dependency, Prior, RenderSpec, SourceSpec, StatusSink, Subject, SyncSpec,
    VerifySpec, Work,
};

/// Default `spec.source.interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default `spec.sync.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The resource, as the pipeline and the reports name it.
pub fn subject_of(app: &Application) -> Subject {
    Subject {
        api_version: Application::api_version(&()).into_owned(),
        kind: Application::kind(&()).into_owned(),
        namespace: app.namespace().unwrap_or_default(),
        name: app.name_any(),
        uid: app.metadata.uid.clone(),
    }
}

/// `spec.source.interval`, validated.
///
/// # Errors
/// A malformed duration or one under a second.
pub fn interval_of(app: &Application) -> Result<Duration, SpecError> {
    match &app.spec.source.interval {
        None => Ok(DEFAULT_INTERVAL),
        Some(text) => match parse_duration(text) {
            Ok(d) if d >= Duration::from_secs(1) => Ok(d),
            Ok(_) => Err(SpecError(format!(
                "`spec.source.interval` `{text}` is under 1s"
            ))),
            Err(e) => Err(SpecError(format!("`spec.source.interval`: {e}"))),
        },
    }
}

/// The work an Application's spec describes. Pure.
///
/// # Errors
/// The first invalid field, named.
pub fn work_of(app: &Application) -> Result<Work, SpecError> {
    let spec = &app.spec;
    let interval = interval_of(app)?;
    let reference = Reference::parse(&spec.source.reference).map_err(SpecError)?;
    let mode_text = spec.verify.mode.as_deref().unwrap_or("HEAD");
    let mode: VerifyMode = mode_text.parse().map_err(|_| {
        SpecError(format!(
            "`spec.verify.mode` `{mode_text}` is not one of HEAD, Tag, TagAndHEAD, AllSince, None"
        ))
    })?;
    let timeout = match &spec.sync.timeout {
        None => DEFAULT_TIMEOUT,
        Some(text) => {
            parse_duration(text).map_err(|e| SpecError(format!("`spec.sync.timeout`: {e}")))?
        }
    };
    let subject = subject_of(app);
    let depends_on = spec
        .sync
        .depends_on
        .iter()
        .map(|d| Dependency {
            namespace: d
                .namespace
                .clone()
                .unwrap_or_else(|| subject.namespace.clone()),
            name: d.name.clone(),
        })
        .collect();
    Ok(Work {
        generation: app.meta().generation,
        interval,
        depends_on,
        source: SourceSpec {
            url: spec.source.url.clone(),
            reference,
            secret_name: spec.source.secret_ref.as_ref().map(|r| r.name.clone()),
        },
        verify: VerifySpec {
            mode,
            allowed_signers: spec.verify.allowed_signers.clone(),
            openpgp_keys: spec.verify.openpgp_keys.clone(),
            allowed_identities: spec.verify.allowed_identities.clone(),
            allow_rollback: spec.verify.allow_rollback,
        },
        render: RenderSpec::Kustomize {
            path: spec.source.path.clone().unwrap_or_default(),
        },
        decryption: spec.decryption.as_ref().map(|d| DecryptionSpec {
            secret_name: d.secret_ref.as_ref().map(|r| r.name.clone()),
        }),
        post_build: spec.post_build.clone(),
        images: spec.images.clone(),
        tenancy: Tenancy::of(&spec.destination, &app.target_namespace()),
        sync: SyncSpec {
            prune: spec.sync.prune,
            self_heal: spec.sync.self_heal,
            allow_empty: spec.sync.allow_empty,
            wait: spec.sync.wait,
            timeout,
            deletion_policy: spec.sync.deletion_policy,
            suspend: spec.sync.suspend,
            service_account: spec.destination.service_account_name.clone(),
            health_checks: spec.sync.health_check_exprs.clone(),
            ignore: spec.sync.ignore.clone(),
        },
        report: spec.report.clone(),
        subject,
    })
}

/// What an Application's status remembers.
pub fn prior_of(status: &ApplicationStatus) -> Prior {
    Prior {
        last_applied_revision: status.last_applied_revision.clone(),
        inventory: status.inventory.clone(),
        observed_generation: status.observed_generation,
        ready: status
            .conditions
            .iter()
            .any(|c| c.type_ == conditions::READY && c.status == "True"),
    }
}

/// Writes an Application's status with server-side apply (so fields no longer set disappear).
pub struct Sink {
    api: Api<Application>,
    namespace: String,
    name: String,
    written: std::sync::Arc<crate::context::Written>,
}

impl Sink {
    /// The status of Application `namespace/name` through `api`; every write's resulting
    /// version is noted in `written`.
    pub fn new(
        api: Api<Application>,
        namespace: String,
        name: String,
        written: std::sync::Arc<crate::context::Written>,
    ) -> Self {
        Sink {
            api,
            namespace,
            name,
            written,
        }
    }
}

impl StatusSink for Sink {
    fn write<'a>(
        &'a self,
        status: &'a ApplicationStatus,
    ) -> BoxFuture<'a, Result<(), kube::Error>> {
        async move {
            let body = json!({
                "apiVersion": Application::api_version(&()),
                "kind": Application::kind(&()),
                "status": status,
            });
            let result = self
                .api
                .patch_status(
                    &self.name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&body),
                )
                .await;
            let version = result.as_ref().ok().and_then(|a| a.resource_version());
            self.written.note(&self.namespace, &self.name, version);
            result.map(|_| ())
        }
        .boxed()
    }
}

/// Requeue delay of an Application after a failure.
pub fn interval_or_default(app: &Arc<Application>) -> Duration {
    interval_of(app).unwrap_or(DEFAULT_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(spec: serde_json::Value) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "gitops.pi-agent.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "team-a", "generation": 3},
            "spec": spec
        }))
        .unwrap()
    }

    #[test]
    fn the_work_should_carry_the_spec_with_defaults() {
        let w = work_of(&app(json!({
            "source": {"url": "https://h/r.git", "path": "apps/web", "secretRef": {"name": "c"}},
            "destination": {"namespace": "web", "serviceAccountName": "deployer"},
            "sync": {"dependsOn": [{"name": "base"}], "timeout": "30s"}
        })))
        .unwrap();
        assert_eq!(w.subject.display(), "team-a/web");
        assert_eq!(w.generation, Some(3));
        assert_eq!(w.interval, DEFAULT_INTERVAL);
        assert_eq!(w.source.reference, Reference::Branch("main".into()));
        assert_eq!(w.source.secret_name.as_deref(), Some("c"));
        assert_eq!(w.verify.mode, VerifyMode::Head);
        assert!(w.verify.uses_region_trust());
        assert_eq!(
            w.render,
            RenderSpec::Kustomize {
                path: "apps/web".into()
            }
        );
        assert_eq!(w.tenancy.namespace, "web");
        assert_eq!(w.sync.timeout, Duration::from_secs(30));
        assert_eq!(w.sync.service_account.as_deref(), Some("deployer"));
        assert_eq!(
            w.depends_on,
            [Dependency {
                namespace: "team-a".into(),
                name: "base".into()
            }]
        );
    }

    #[test]
    fn the_flux_extras_should_be_carried_into_the_work() {
        let w = work_of(&app(json!({
            "source": {"url": "https://h/r.git"},
            "decryption": {"provider": "sops"},
            "postBuild": {"substitute": {"env": "prod"}},
            "sync": {"healthCheckExprs": [{"apiVersion": "x.io/v1", "kind": "W", "current": "true"}],
                     "ignore": [{"paths": ["/spec/replicas"]}]}
        })))
        .unwrap();
        assert_eq!(w.decryption, Some(DecryptionSpec { secret_name: None }));
        assert_eq!(
            w.post_build.map(|p| p.substitute),
            Some([("env".to_owned(), "prod".to_owned())].into())
        );
        assert_eq!(w.sync.health_checks.len(), 1);
        assert_eq!(w.sync.ignore[0].paths, ["/spec/replicas"]);
        let w = work_of(&app(json!({"source": {"url": "u"}}))).unwrap();
        assert!(w.decryption.is_none() && w.post_build.is_none());
    }

    #[test]
    fn an_invalid_spec_should_name_the_field() {
        let bad = |spec| work_of(&app(spec)).unwrap_err().to_string();
        let e = bad(json!({"source": {"url": "u", "interval": "10ms"}}));
        assert_eq!(e, "invalid spec: `spec.source.interval` `10ms` is under 1s");
        let e = bad(json!({"source": {"url": "u"}, "verify": {"mode": "Sometimes"}}));
        assert!(e.contains("`spec.verify.mode` `Sometimes`"), "{e}");
        let e = bad(json!({"source": {"url": "u", "ref": {"branch": "a", "tag": "b"}}}));
        assert!(e.contains("only one of"), "{e}");
        let e = bad(json!({"source": {"url": "u"}, "sync": {"timeout": "soon"}}));
        assert!(e.contains("`spec.sync.timeout`"), "{e}");
    }

    #[test]
    fn the_prior_state_should_come_from_status() {
        let status: ApplicationStatus = serde_json::from_value(json!({
            "conditions": [{"type": "Ready", "status": "True", "reason": "R", "message": "m",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "observedGeneration": 2,
            "lastAppliedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
            "inventory": [{"id": "n_a__ConfigMap", "v": "v1"}]
        }))
        .unwrap();
        let p = prior_of(&status);
        assert!(p.ready);
        assert_eq!(p.observed_generation, Some(2));
        assert_eq!(p.inventory.len(), 1);
        assert_eq!(
            p.last_applied_commit().map(|c| c.to_string()).as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
    }
}
