//! The `Application` resource (`gitops.pi-agent.io/v1alpha1`): what users write, and the status
//! pi-agent reports. The CRD under `manifests/` is generated from these types (`pi-agent crd`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every pi-agent resource.
pub const GROUP: &str = "gitops.pi-agent.io";
/// Field manager used for every server-side apply and status write.
pub const FIELD_MANAGER: &str = "pi-agent";
/// Setting this annotation to a new value asks for an immediate reconcile; the value is echoed in
/// `status.lastHandledReconcileAt` once handled (the same contract as Flux's `requestedAt`).
pub const REQUESTED_AT_ANNOTATION: &str = "reconcile.pi-agent.io/requestedAt";
/// An applied object with this annotation set to `disabled` is never pruned.
pub const PRUNE_ANNOTATION: &str = "gitops.pi-agent.io/prune";
/// Label set on every applied object: the owning Application's name.
pub const OWNER_NAME_LABEL: &str = "gitops.pi-agent.io/name";
/// Label set on every applied object: the owning Application's namespace.
pub const OWNER_NAMESPACE_LABEL: &str = "gitops.pi-agent.io/namespace";
/// Objects are applied in ascending order of this annotation (an integer, default 0), each wave
/// healthy before the next when `spec.sync.wait` is on, as Argo CD's sync waves.
pub const SYNC_WAVE_ANNOTATION: &str = "gitops.pi-agent.io/sync-wave";
/// Finalizer that prunes (or orphans) the applied objects when the Application is deleted.
pub const FINALIZER: &str = "gitops.pi-agent.io/finalizer";

/// One infrastructure repository path, reconciled into one destination.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "gitops.pi-agent.io",
    version = "v1alpha1",
    kind = "Application",
    namespaced,
    shortname = "piapp",
    category = "pi-agent",
    status = "ApplicationStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.lastAppliedRevision"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// Where the manifests come from.
    pub source: Source,
    /// Which signatures the source must carry. Required by default: without trust material
    /// nothing is applied, unless `mode: None` is written explicitly.
    #[serde(default)]
    pub verify: Verify,
    /// Where they go.
    #[serde(default)]
    pub destination: Destination,
    /// How they are kept in sync.
    #[serde(default)]
    pub sync: SyncPolicy,
    /// Which container images may run, signed by whom (cosign), and whether they are pinned to
    /// digests. Without it images are not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<provenance::ImagePolicy>,
    /// Where reconcile outcomes are reported besides status and Kubernetes Events: a console
    /// (signed JSON events) and the commit status of the Git host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// How SOPS-encrypted values of the render are decrypted before apply (Flux's
    /// `spec.decryption`). Without it nothing is decrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<Decryption>,
    /// Variable substitution over the rendered objects (Flux's `spec.postBuild`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,
}

/// Where the keys that decrypt SOPS-encrypted objects are (Flux's `spec.decryption`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    /// The decryption engine: `sops`, the only one.
    pub provider: DecryptionProvider,
    /// A Secret of the Application's namespace holding the private keys, as Flux names them:
    /// each key ending in `.agekey` holds age identities (`AGE-SECRET-KEY-1…`, one a line),
    /// each key ending in `.asc` an armored OpenPGP secret key. Without it the region's key file
    /// (`--sops-age-key-file`) is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,
}

/// A decryption engine.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecryptionProvider {
    /// SOPS (age and OpenPGP keys).
    #[default]
    Sops,
}

/// What is done to the rendered objects before they are applied (Flux's `spec.postBuild`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// Variables and their values: `${name}` in the rendered objects is replaced by the value
    /// (bash forms `${name:=default}`, `${name:-default}`, `${name:position:length}`,
    /// `${name/from/to}`… as Flux's envsubst). They take precedence over `substituteFrom`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub substitute: std::collections::BTreeMap<String, String>,
    /// ConfigMaps and Secrets of the Application's namespace whose data keys are variables; a
    /// later one takes precedence over an earlier one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
    /// `WithVariables` (default): substitute only when at least one variable is defined;
    /// `Always`: also when none is (so that `${name:=default}` forms are expanded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute_strategy: Option<SubstituteStrategy>,
}

/// When substitution runs.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SubstituteStrategy {
    /// Only when at least one variable is defined (inline or from a ConfigMap or Secret).
    #[default]
    WithVariables,
    /// Even when no variable is defined.
    Always,
}

/// A ConfigMap or Secret holding variables.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: SubstituteKind,
    /// Its name, in the Application's namespace.
    pub name: String,
    /// Proceed as if it were empty when it does not exist (default false: its absence fails
    /// the reconcile).
    #[serde(default)]
    pub optional: bool,
}

/// The kind of a variables source.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SubstituteKind {
    /// A ConfigMap: its `data`.
    #[default]
    ConfigMap,
    /// A Secret: its `data`, decoded.
    Secret,
}

/// A CEL health check for one kind (Flux's `healthCheckExprs` entry): the expressions see the
/// object's top-level fields (`metadata`, `spec`, `status`…) as variables. `inProgress`, then
/// `failed`, then `current` are evaluated; the first that is true gives the status; none true is
/// in progress.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomHealthCheck {
    /// The API version of the kind (`group/version`); its group is what is matched.
    pub api_version: String,
    /// The kind; empty: every kind of the group.
    #[serde(default)]
    pub kind: String,
    /// True when the object is healthy (required).
    pub current: String,
    /// True when the object is still on its way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,
    /// True when the object will not get there without a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// Fields of the applied objects left to other managers (Flux's `ignore` rule): they are set
/// when an object is created and never corrected afterwards.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreRule {
    /// JSON pointers (RFC 6901: `/spec/replicas`, `~1` for `/`, `~0` for `~`, array indices).
    pub paths: Vec<String>,
    /// The objects the rule applies to; none: every object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// Selects objects, as kustomize's patch targets: every field set must match; `group`,
/// `version`, `kind`, `name` and `namespace` are regular expressions matched against the whole
/// value.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// API group (`""` for the core group).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// A label selector (`app=web,tier in (a,b),!legacy`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label_selector: String,
    /// An annotation selector, in the syntax of a label selector.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub annotation_selector: String,
}

/// Where reconcile outcomes are reported (besides status, Events and the agent-wide
/// `--report-url`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// A console receiving each outcome as a JSON event in the shape of Flux's `generic-hmac`
    /// provider, signed with `X-Signature: sha256=<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleReport>,
    /// The commit status of the applied (or refused) commit on GitLab or GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_status: Option<CommitStatusReport>,
}

/// A console endpoint.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleReport {
    /// The URL events are POSTed to (`https://…`).
    pub url: String,
    /// A Secret of the Application's namespace whose key `hmacKey` signs every event body.
    /// Without it events are sent unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,
}

/// The Git host that receives commit statuses.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommitStatusProvider {
    /// GitLab: `POST /api/v4/projects/:id/statuses/:sha`, `PRIVATE-TOKEN`.
    #[default]
    Gitlab,
    /// GitHub: `POST /repos/{owner}/{repo}/statuses/{sha}`, `Authorization: Bearer`.
    Github,
}

/// Commit statuses on GitLab or GitHub.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitStatusReport {
    /// `gitlab` or `github`.
    pub provider: CommitStatusProvider,
    /// The API base: GitLab's server URL (`https://gitlab.example`, `/api/v4` is appended;
    /// default `https://gitlab.com`), GitHub's API URL (default `https://api.github.com`;
    /// GitHub Enterprise: `https://ghe.example/api/v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// GitLab: the project id or its path (`group/project`); GitHub: `owner/repo`.
    pub project: String,
    /// A Secret of the Application's namespace whose key `token` holds the API token.
    pub secret_ref: LocalObjectRef,
}

/// A path in a git repository at a reference.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Repository URL: `https://…` or `file:///…`.
    pub url: String,
    /// Which revision to follow; defaults to the branch `main`.
    #[serde(default, rename = "ref")]
    pub reference: GitRef,
    /// Directory inside the repository, `/`-separated, relative to its root (default: the root).
    #[serde(default)]
    pub path: Option<String>,
    /// Credentials for `https://` (a Secret in the Application's namespace with `username` and
    /// `password`, or `bearerToken`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,
    /// How often the source is fetched and the cluster re-synced, as a Go duration (`30s`, `1m`,
    /// `1h30m`). Default `1m`.
    #[serde(default)]
    pub interval: Option<String>,
}

/// An object in the Application's namespace, by name.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectRef {
    /// Its name.
    pub name: String,
}

/// Exactly one of `branch`, `tag`, `semver` or `commit`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRef {
    /// Follow the tip of this branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Use this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Use the highest tag matching this semver range (`>=1.0 <2`, `~1.2`, `^1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// Use exactly this commit (full 40-hex SHA-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// The signature policy of the source.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verify {
    /// `HEAD` (the commit, default), `Tag` (the annotated tag), `TagAndHEAD`, `AllSince` (every
    /// commit since the last applied one), or `None` (no verification: shown as a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// SSH signers in git's `allowed_signers` format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_signers: Option<KeyRef>,
    /// OpenPGP public keys, armored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openpgp_keys: Option<KeyRef>,
    /// Only these signers are accepted: SSH principals, e-mail addresses, OpenPGP user IDs or key
    /// fingerprints. Empty: any signer the trust material accepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_identities: Vec<String>,
    /// Accept a revision that does not descend from the last applied one (default false).
    #[serde(default)]
    pub allow_rollback: bool,
}

/// Where trust material is: one key of a Secret or ConfigMap in the Application's namespace (the
/// same shape for commit signers and cosign keys).
pub use provenance::{KeyRef, NameKey};

/// Where objects go, and the tenancy limits of what the repository may create.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// Namespace for namespaced objects that name none; defaults to the Application's namespace.
    /// Namespaced objects may only go there (or to `allowedNamespaces`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Other namespaces objects may name explicitly; `*` allows any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_namespaces: Vec<String>,
    /// Cluster-scoped kinds the repository may create (none by default), like Argo CD's
    /// `clusterResourceWhitelist`; `*` matches any group or kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_cluster_resources: Vec<GroupKind>,
    /// Apply, prune and correct drift as this ServiceAccount of the Application's namespace
    /// (impersonation), so its RBAC bounds what the repository can do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

/// An API group and kind; `*` matches any.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GroupKind {
    /// API group (`""` for the core group).
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
}

/// How the Application is synced.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Stop reconciling (nothing is fetched, applied or pruned) while true.
    #[serde(default)]
    pub suspend: bool,
    /// Delete the objects that left Git (default true). Objects annotated
    /// `gitops.pi-agent.io/prune: disabled` are never deleted.
    #[serde(default = "yes")]
    pub prune: bool,
    /// Revert changes made in the cluster to the fields this Application manages, as soon as they
    /// happen (default true).
    #[serde(default = "yes")]
    pub self_heal: bool,
    /// Allow a revision that renders no object to prune every object of the inventory
    /// (default false: such a revision is refused).
    #[serde(default)]
    pub allow_empty: bool,
    /// What happens to the applied objects when the Application is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Wait for the applied objects to be healthy (kstatus) before reporting Ready (default true).
    #[serde(default = "yes")]
    pub wait: bool,
    /// Applications that must be Ready (at their current generation) before this one is applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyRef>,
    /// How long the health check may take, as a Go duration (default `5m`); past it the
    /// Application reports `HealthCheckFailed` naming the objects not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// CEL health checks for kinds kstatus does not know (Flux's `healthCheckExprs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_check_exprs: Vec<CustomHealthCheck>,
    /// Fields left to other managers, such as an autoscaler's `/spec/replicas` (Flux's
    /// `ignore`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<IgnoreRule>,
}

fn yes() -> bool {
    true
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            suspend: false,
            prune: true,
            self_heal: true,
            allow_empty: false,
            deletion_policy: DeletionPolicy::default(),
            wait: true,
            depends_on: Vec::new(),
            timeout: None,
            health_check_exprs: Vec::new(),
            ignore: Vec::new(),
        }
    }
}

/// Another Application, by name (and namespace: default, this one's).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct DependencyRef {
    /// Its name.
    pub name: String,
    /// Its namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// What happens to the applied objects when the Application is deleted.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete them (as pruning does: objects with `prune: disabled` are kept).
    #[default]
    Delete,
    /// Leave them in the cluster.
    Orphan,
}

/// What pi-agent observed and did, in the kstatus shape (`Ready`, `Reconciling`, `Stalled`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// `Ready`, `Reconciling` and `Stalled` conditions, with stage reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation of the spec the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The last revision a reconcile was attempted for: `<ref>@sha1:<commit>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The last revision applied successfully: `<ref>@sha1:<commit>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The value of the `reconcile.pi-agent.io/requestedAt` annotation last handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// The objects applied from the last applied revision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<InventoryEntry>,
    /// How many changes made in the cluster to managed fields were reverted (self-heal).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drift_corrections: i64,
    /// The blue-green switches of the Deployments that opted in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blue_green: Vec<BlueGreenStatus>,
}

/// Where the blue-green switch of one Deployment stands.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    /// The Deployment in Git.
    pub deployment: String,
    /// Its namespace.
    pub namespace: String,
    /// The revision the active Service selects (`<deployment>-<revision>` is its Deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_revision: Option<String>,
    /// The revision being switched to, when it is not the active one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_revision: Option<String>,
    /// `Stable`, `Progressing`, `Promoted` (the previous version awaits its scale-down) or
    /// `Aborted`.
    pub phase: String,
    /// What is happening, or why the switch was aborted.
    pub message: String,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One applied object: `id` is `<namespace>_<name>_<group>_<kind>` (Flux's format), `v` its version.
#[derive(
    Deserialize, Serialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub struct InventoryEntry {
    /// `<namespace>_<name>_<group>_<kind>`; namespace empty for cluster-scoped objects, group
    /// empty for the core group.
    pub id: String,
    /// The API version the object was applied with.
    pub v: String,
}

impl Application {
    /// The namespace that namespaced objects without one go to.
    pub fn target_namespace(&self) -> String {
        self.spec
            .destination
            .namespace
            .clone()
            .or_else(|| self.metadata.namespace.clone())
            .unwrap_or_else(|| "default".to_owned())
    }
}

/// The CRD, as YAML, exactly as committed under `manifests/`.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = Application::crd();
    let mut out =
        String::from("# Generated by `pi-agent crd` from agent/src/api.rs: do not edit.\n");
    out.push_str(&serde_saphyr::to_string(&crd).unwrap_or_else(|e| format!("# error: {e}\n")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_crd_should_match_the_types() {
        let committed = include_str!("../../manifests/crds/applications.gitops.pi-agent.io.yaml");
        assert!(
            committed == crd_yaml(),
            "manifests/crds/applications.gitops.pi-agent.io.yaml is stale: run `cargo run -p pi-agent -- crd > manifests/crds/applications.gitops.pi-agent.io.yaml`"
        );
    }

    #[test]
    fn target_namespace_should_default_to_the_application_namespace() {
        let mut app = Application::new(
            "web",
            ApplicationSpec {
                source: Source {
                    url: "file:///r".into(),
                    reference: GitRef::default(),
                    path: None,
                    secret_ref: None,
                    interval: None,
                },
                verify: Verify::default(),
                destination: Destination::default(),
                sync: SyncPolicy::default(),
                images: None,
                report: None,
                decryption: None,
                post_build: None,
            },
        );
        app.metadata.namespace = Some("team-a".into());
        assert_eq!(app.target_namespace(), "team-a");
        app.spec.destination.namespace = Some("prod".into());
        assert_eq!(app.target_namespace(), "prod");
    }
}
