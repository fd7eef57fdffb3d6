//! Layer 4: charts. [`render`] loads a chart directory through kustomize-rs's [`FileSystem`],
//! computes its values as `helm template` does (chart `values.yaml`, value files, `--set`,
//! dependencies with `condition`/`tags`/`alias`/`import-values`, globals), renders every
//! template of the chart and its subcharts with Helm's built-in objects, and prints the result
//! as `helm template` prints it (Helm v4.3.2): install order, `# Source:` lines, hooks, CRDs.
//!
//! ```
//! use std::path::Path;
//! let mut fs = kustomize::MemFs::new();
//! fs.add("web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n");
//! fs.add("web/values.yaml", "port: 80\n");
//! fs.add("web/templates/svc.yaml",
//!     "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  port: {{ .Values.port }}\n");
//! let opts = helm::Options {
//!     release_name: "prod".into(),
//!     set: vec!["port=8080".into()],
//!     ..Default::default()
//! };
//! let out = helm::render(&fs, Path::new("web"), &opts).unwrap();
//! assert_eq!(out, "---\n# Source: web/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: prod\nspec:\n  port: 8080\n");
//! ```

mod files;
mod load;
mod output;
pub mod values;

use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use kustomize::FileSystem;

use crate::template::{MissingKey, Templates};
use crate::value::{Object, Type, Value};
pub use load::{Chart, Dependency, Metadata};
use values::{Table, Y};

/// What `helm template` takes from its command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// The release name (`helm template NAME`).
    pub release_name: String,
    /// `-n` (default `default`).
    pub namespace: String,
    /// `-f` value files, as (name for messages, content), in order.
    pub value_files: Vec<(String, String)>,
    /// `--set-json` arguments (`key=JSON` or a whole JSON object), in order (after the value
    /// files, before `--set`).
    pub set_json: Vec<String>,
    /// `--set` arguments, in order.
    pub set: Vec<String>,
    /// `--set-string` arguments, in order (applied after every `--set`, as Helm does).
    pub set_string: Vec<String>,
    /// `--set-file` arguments (`key=path`), in order (after `--set-string`); paths are read
    /// through the [`FileSystem`] given to [`render`].
    pub set_file: Vec<String>,
    /// `--set-literal` arguments, in order (last).
    pub set_literal: Vec<String>,
    /// `--include-crds`.
    pub include_crds: bool,
    /// `--no-hooks`.
    pub no_hooks: bool,
    /// `--skip-tests`.
    pub skip_tests: bool,
    /// `--kube-version` (default v1.37.0, what Helm v4.3.2 built against client-go v0.37 uses).
    pub kube_version: Option<String>,
    /// `--api-versions`, appended to the default list.
    pub api_versions: Vec<String>,
    /// `--is-upgrade`: `.Release.IsUpgrade` true, `.Release.IsInstall` false.
    pub is_upgrade: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            release_name: "release-name".into(),
            namespace: "default".into(),
            value_files: Vec::new(),
            set: Vec::new(),
            set_string: Vec::new(),
            set_file: Vec::new(),
            set_json: Vec::new(),
            set_literal: Vec::new(),
            include_crds: false,
            no_hooks: false,
            skip_tests: false,
            kube_version: None,
            api_versions: Vec::new(),
            is_upgrade: false,
        }
    }
}

/// A chart error, worded as Helm words it (without `helm`'s `Error: ` prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartError(pub String);

impl std::fmt::Display for ChartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ChartError {}

fn err(s: impl Into<String>) -> ChartError {
    ChartError(s.into())
}

/// The API versions `helm template` assumes (Helm v4.3.2's `DefaultVersionSet`: the scheme of
/// client-go v0.37 with apiextensions v1beta1 and v1).
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "lifecycle.k8s.io/v1alpha1",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// Renders the chart in directory `dir` (or the packaged chart `dir` names) as `helm template`
/// does.
///
/// # Errors
/// Helm's message for a bad chart, bad values, or a template that fails to parse or execute.
pub fn render(fs: &dyn FileSystem, dir: &Path, opts: &Options) -> Result<String, ChartError> {
    render_with_warnings(fs, dir, opts).map(|(out, _)| out)
}

/// [`render`], and warnings for the agent's log: templates (and `define`s) that call a
/// non-deterministic function (`now`, `rand*`, `uuidv4`, `gen*` …: every render differs) or
/// `lookup` (always an empty map here, as in `helm template`).
///
/// # Errors
/// As [`render`].
pub fn render_with_warnings(
    fs: &dyn FileSystem,
    dir: &Path,
    opts: &Options,
) -> Result<(String, Vec<String>), ChartError> {
    // User values: value files merged, then --set, then --set-string.
    let mut user = Table::new();
    for (name, text) in &opts.value_files {
        let m = load::load_values(text).map_err(|e| err(format!("failed to parse {name}: {e}")))?;
        user = values::merge_maps(&user, &m);
    }
    for s in &opts.set_json {
        let t = s.trim();
        if t.starts_with('{') {
            let m = match serde_json::from_str::<serde_json::Value>(t) {
                Ok(j @ serde_json::Value::Object(_)) => match Y::from_json(&j) {
                    Y::Map(m) => m,
                    _ => Table::new(),
                },
                _ => return Err(err(format!("failed parsing --set-json data JSON: {s}"))),
            };
            user = values::merge_maps(&user, &m);
        } else {
            values::parse_set_json(s, &mut user)
                .map_err(|_| err(format!("failed parsing --set-json data {s}")))?;
        }
    }
    for s in &opts.set {
        values::parse_set(s, &mut user, false)
            .map_err(|e| err(format!("failed parsing --set data: {}", e.0)))?;
    }
    for s in &opts.set_string {
        values::parse_set(s, &mut user, true)
            .map_err(|e| err(format!("failed parsing --set-string data: {}", e.0)))?;
    }
    for s in &opts.set_file {
        let read = |p: &str| {
            fs.read(Path::new(p))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| format!("open {p}: {e}"))
        };
        values::parse_set_file(s, &mut user, &read)
            .map_err(|e| err(format!("failed parsing --set-file data: {}", e.0)))?;
    }
    for s in &opts.set_literal {
        values::parse_set_literal(s, &mut user)
            .map_err(|e| err(format!("failed parsing --set-literal data: {}", e.0)))?;
    }
    let mut chart = load::load_dir(fs, dir)?;
    if !matches!(chart.meta.kind.as_str(), "" | "application") {
        return Err(err(format!(
            "{} charts are not installable",
            chart.meta.kind
        )));
    }
    // action.CheckDependencies
    let missing: Vec<&str> = chart
        .meta
        .dependencies
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| !chart.deps.iter().any(|d| d.meta.name == *n))
        .collect();
    if !missing.is_empty() {
        return Err(err(format!(
            "an error occurred while checking for chart dependencies. You may need to run 'helm dependency build' to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: {}",
            missing.join(", ")
        )));
    }
    load::process_dependencies(&mut chart, &user)
        .map_err(|e| err(format!("chart dependencies processing failed: {e}")))?;
    // Capabilities.
    let kube = match &opts.kube_version {
        None => KubeVersion {
            version: "v1.37.0".into(),
            normalized: "v1.37.0".into(),
            major: "1".into(),
            minor: "37".into(),
        },
        Some(v) => {
            parse_kube_version(v).map_err(|e| err(format!("invalid kube version '{v}': {e}")))?
        }
    };
    let mut apis: Vec<String> = DEFAULT_API_VERSIONS.iter().map(|s| s.to_string()).collect();
    apis.extend(opts.api_versions.iter().cloned());
    let caps = Rc::new(Capabilities { kube, apis });
    // Coalesced values; schema.
    let vals = load::coalesce_values(&chart, user).map_err(err)?;
    check_schemas(&chart)?;
    if !chart.meta.kube_version.is_empty()
        && !load::is_compatible_range(&chart.meta.kube_version, &caps.kube.normalized)
    {
        return Err(err(format!(
            "chart requires kubeVersion: {} which is incompatible with Kubernetes {}",
            chart.meta.kube_version, caps.kube.version
        )));
    }
    let release = values::table_value(&BTreeMap::from([
        ("Name".to_string(), Y::Str(opts.release_name.clone())),
        ("Namespace".to_string(), Y::Str(opts.namespace.clone())),
        ("IsUpgrade".to_string(), Y::Bool(opts.is_upgrade)),
        ("IsInstall".to_string(), Y::Bool(!opts.is_upgrade)),
        ("Service".to_string(), Y::Str("Helm".into())),
    ]));
    if let Value::Map(m) = &release {
        m.borrow_mut()
            .entries
            .insert("Revision".into(), Value::Int(1));
    }
    let (rendered, warnings) = render_templates(&chart, &vals, &release, &caps)?;
    Ok((output::print(&chart, rendered, opts)?, warnings))
}

fn check_schemas(c: &Chart) -> Result<(), ChartError> {
    if c.has_schema {
        return Err(err(format!(
            "{}/values.schema.json: JSON Schema validation of values is not supported by helm-rs yet (no JSON Schema crate in the build); remove the schema or render with helm",
            c.full_path()
        )));
    }
    for d in &c.deps {
        check_schemas(d)?;
    }
    Ok(())
}

struct Renderable {
    text: String,
    vals: Value,
    base_path: String,
}

fn rec_all_tpls(
    c: &Chart,
    templates: &mut BTreeMap<String, Renderable>,
    vals: &Table,
    is_root: bool,
    release: &Value,
    caps: &Rc<Capabilities>,
) -> Value {
    let sub_charts = Value::dict(BTreeMap::new());
    let mut chart_meta = c.meta.as_map();
    chart_meta.insert("IsRoot".into(), Value::Bool(is_root));
    let values = values::named_values(vals);
    let next = Value::dict(BTreeMap::from([
        ("Chart".to_string(), Value::dict(chart_meta)),
        ("Files".to_string(), files::files_value(&c.files)),
        ("Release".to_string(), release.clone()),
        (
            "Capabilities".to_string(),
            Value::Object(caps.clone() as Rc<dyn Object>),
        ),
        ("Values".to_string(), values),
        ("Subcharts".to_string(), sub_charts.clone()),
    ]));
    for d in &c.deps {
        let sub_vals = match vals.get(&d.meta.name) {
            Some(Y::Map(m)) => m.clone(),
            _ => Table::new(),
        };
        let v = rec_all_tpls(d, templates, &sub_vals, false, release, caps);
        if let (Value::Map(m), Value::Map(_)) = (&sub_charts, &v) {
            m.borrow_mut().entries.insert(d.meta.name.clone(), v);
        }
    }
    let parent = c.full_path();
    for (name, data) in &c.templates {
        if c.meta.kind == "library" && !name.rsplit('/').next().unwrap_or("").starts_with('_') {
            continue;
        }
        templates.insert(
            format!("{parent}/{name}"),
            Renderable {
                text: data.clone(),
                vals: next.clone(),
                base_path: format!("{parent}/templates"),
            },
        );
    }
    next
}

fn sort_templates(names: &mut [String]) {
    // sort.Reverse(byPathLen): deeper paths first, then reverse lexical order.
    names.sort_by(|a, b| {
        let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
        cb.cmp(&ca).then_with(|| b.cmp(a))
    });
}

fn render_templates(
    c: &Chart,
    vals: &Table,
    release: &Value,
    caps: &Rc<Capabilities>,
) -> Result<(BTreeMap<String, String>, Vec<String>), ChartError> {
    let mut tpls = BTreeMap::new();
    rec_all_tpls(c, &mut tpls, vals, true, release, caps);
    let mut t = Templates::new();
    crate::functions::add_to(&mut t);
    // Helm's include counts nested includes per name (includedNames) and stops past 1000 with
    // its own message; the executor's depth bound is raised so that this counter trips first
    // for up to a few mutually recursive names.
    let counts: Rc<std::cell::RefCell<std::collections::HashMap<String, usize>>> = Rc::default();
    t.add_func(crate::template::Func::new(
        "include",
        vec![Type::String, Type::Interface],
        None,
        Type::String,
        move |ctx, a| {
            let name = a[0].as_str().unwrap_or("").to_string();
            {
                let mut c = counts.borrow_mut();
                let v = c.entry(name.clone()).or_insert(0);
                if *v > 1000 {
                    return Err(format!(
                        "rendering template has a nested reference name: {name}: unable to execute template"
                    ));
                }
                *v += 1;
            }
            let r = ctx.execute_template(&name, &a[1]);
            if let Some(v) = counts.borrow_mut().get_mut(&name) {
                *v -= 1;
            }
            r.map(Value::from)
        },
    ));
    t.limits.max_depth = 4100;
    t.set_name("gotpl");
    t.missing_key = MissingKey::Zero;
    let mut keys: Vec<String> = tpls.keys().cloned().collect();
    sort_templates(&mut keys);
    for k in &keys {
        t.parse(k, &tpls[k].text)
            .map_err(|e| cleanup_parse_error(k, &e.message))?;
    }
    // One step budget and one output budget for the whole chart.
    let steps = Rc::new(std::cell::Cell::new(0u64));
    let mut total = 0usize;
    let mut warnings = Vec::new();
    for (name, used) in t.functions_used() {
        for f in used {
            if crate::sprig::NONDETERMINISTIC.contains(&f.as_str()) {
                warnings.push(format!(
                    "template {name} calls {f}: its output differs at every render"
                ));
            } else if f == "lookup" {
                warnings.push(format!(
                    "template {name} calls lookup, which returns an empty map when rendering offline (as helm template does)"
                ));
            }
        }
    }
    let mut out = BTreeMap::new();
    for k in &keys {
        if k.rsplit('/').next().unwrap_or("").starts_with('_') {
            continue;
        }
        let r = &tpls[k];
        if let Value::Map(m) = &r.vals {
            m.borrow_mut().entries.insert(
                "Template".into(),
                values::named_values(&BTreeMap::from([
                    ("Name".to_string(), Y::Str(k.clone())),
                    ("BasePath".to_string(), Y::Str(r.base_path.clone())),
                ])),
            );
        }
        let s = t
            .execute_counting(k, &r.vals, &steps)
            .map_err(|e| reformat_exec_error(k, &e.message))?;
        total += s.len();
        if total > t.limits.max_output {
            return Err(err(format!(
                "{k}: the chart's rendered output exceeds {} bytes",
                t.limits.max_output
            )));
        }
        out.insert(k.clone(), s.replace("<no value>", ""));
    }
    Ok((out, warnings))
}

fn cleanup_parse_error(filename: &str, msg: &str) -> ChartError {
    let tokens: Vec<&str> = msg.split(": ").collect();
    if tokens.len() == 1 {
        return err(format!("parse error in ({filename}): {msg}"));
    }
    err(format!(
        "parse error at ({}): {}",
        tokens[1],
        tokens[tokens.len() - 1]
    ))
}

fn reformat_exec_error(filename: &str, msg: &str) -> ChartError {
    let tokens: Vec<&str> = msg.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return err(format!("execution error in ({filename}): {msg}"));
    }
    if let (Some(a), Some(b)) = (
        tokens[2].find("HELM_ERR_START"),
        tokens[2].rfind("HELM_ERR_END"),
    ) && a + 14 <= b
    {
        return err(format!(
            "execution error at ({}): {}",
            tokens[1],
            &tokens[2][a + 14..b]
        ));
    }
    // Helm's TraceableError chain: each wrapped error (`error calling f: <err>`) must itself
    // be a template error, else the message is left as it is.
    let mut locs: Vec<[String; 3]> = Vec::new();
    let mut current = msg.to_string();
    loop {
        let Some(tr) = parse_traceable(&current) else {
            return err(msg);
        };
        if locs.last() != Some(&tr) {
            locs.push(tr);
        }
        match wrapped(&current) {
            Some(next) => current = next,
            None => break,
        }
    }
    let mut out = String::new();
    for [location, exec, message] in locs {
        if !location.is_empty() {
            out.push_str(&format!("{location}\n  "));
        }
        if !exec.is_empty() {
            out.push_str(&format!("{exec}\n    "));
        }
        if !message.is_empty() {
            out.push_str(&format!("{message}\n"));
        }
    }
    err(out.trim())
}

/// The error wrapped by Go's `error calling NAME: %w`.
fn wrapped(msg: &str) -> Option<String> {
    let (_, m) = msg.split_once(">: ")?;
    let rest = m.strip_prefix("error calling ")?;
    let (_, inner) = rest.split_once(": ")?;
    Some(inner.to_string())
}

/// Helm's `parseTemplateExecErrorString`: (location, executed function, message).
fn parse_traceable(s: &str) -> Option<[String; 3]> {
    let rem = s.strip_prefix("template: ")?;
    if rem.starts_with("no template ") {
        return Some([String::new(), String::new(), s.to_string()]);
    }
    let cut = |m: &str| match m.find(" template:") {
        Some(i) => m[..i].to_string(),
        None => m.to_string(),
    };
    if let Some((name, after)) = rem.split_once(": executing ") {
        let after = after.strip_prefix('"')?;
        let q = after.find('"')?;
        let at = after[q + 1..].strip_prefix(" at <")?;
        let (loc, m) = at.split_once(">: ")?;
        return Some([
            name.to_string(),
            format!("executing \"{}\" at <{loc}>:", &after[..q]),
            cut(m),
        ]);
    }
    let sep = rem.rfind(": ")?;
    Some([rem[..sep].to_string(), String::new(), cut(&rem[sep + 2..])])
}

/// `.Capabilities.KubeVersion`.
#[derive(Clone, Debug)]
struct KubeVersion {
    version: String,
    normalized: String,
    major: String,
    minor: String,
}

fn parse_kube_version(v: &str) -> Result<KubeVersion, String> {
    // k8s.io/apimachinery's ParseGeneric: `^\s*v?([0-9]+(?:\.[0-9]+)*)(.*)*$`, at least two
    // components; String() prints the components.
    let q = crate::gofmt::quote(v);
    let t = v.trim_start();
    let t = t.strip_prefix('v').unwrap_or(t);
    let digits_end = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut comps: Vec<&str> = Vec::new();
    let mut rest = t;
    loop {
        let e = digits_end(rest);
        if e == 0 {
            break;
        }
        comps.push(&rest[..e]);
        rest = &rest[e..];
        match rest.strip_prefix('.') {
            Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
            _ => break,
        }
    }
    if comps.is_empty() {
        return Err(format!("could not parse {q} as version"));
    }
    if comps.len() < 2 {
        return Err(format!("illegal version string {q}"));
    }
    let nums: Vec<u64> = comps
        .iter()
        .map(|c| c.parse::<u64>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let git = if v.starts_with('v') {
        v.to_string()
    } else {
        format!("v{v}")
    };
    Ok(KubeVersion {
        version: git,
        normalized: format!(
            "v{}",
            nums.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".")
        ),
        major: nums[0].to_string(),
        minor: nums[1].to_string(),
    })
}

struct KubeVersionObject(KubeVersion);

impl Object for KubeVersionObject {
    fn type_name(&self) -> String {
        "common.KubeVersion".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::from(match name {
            "Version" => self.0.version.as_str(),
            "Major" => self.0.major.as_str(),
            "Minor" => self.0.minor.as_str(),
            _ => return None,
        }))
    }
    fn method(&self, name: &str) -> Option<Rc<crate::template::Func>> {
        let v = match name {
            "String" => self.0.normalized.clone(),
            "GitVersion" => self.0.version.clone(),
            _ => return None,
        };
        let mut f = crate::template::Func::new(name, vec![], None, Type::String, move |_, _| {
            Ok(Value::from(v.as_str()))
        });
        f.returns_error = false;
        Some(Rc::new(f))
    }
    fn pointer_stringer(&self) -> Option<String> {
        Some(self.0.normalized.clone())
    }
    fn fields(&self) -> Vec<Value> {
        vec![
            Value::from(self.0.version.as_str()),
            Value::from(self.0.normalized.as_str()),
            Value::from(self.0.major.as_str()),
            Value::from(self.0.minor.as_str()),
        ]
    }
    fn is_pointer(&self) -> bool {
        false
    }
}

struct Capabilities {
    kube: KubeVersion,
    apis: Vec<String>,
}

#[derive(Debug)]
struct VersionSetMethods;

impl crate::value::MethodSet for VersionSetMethods {
    fn method(&self, name: &str, receiver: &Value) -> Option<Rc<crate::template::Func>> {
        if name != "Has" {
            return None;
        }
        let items = match receiver {
            Value::Slice(s) => s.items.clone(),
            _ => Vec::new(),
        };
        let mut f =
            crate::template::Func::new("Has", vec![Type::String], None, Type::Bool, move |_, a| {
                Ok(Value::Bool(
                    items.iter().any(|x| x.as_str() == a[0].as_str()),
                ))
            });
        f.returns_error = false;
        Some(Rc::new(f))
    }
}

struct BuildInfo;

impl Object for BuildInfo {
    fn type_name(&self) -> String {
        "version.BuildInfo".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::from(match name {
            "Version" => "v4.3",
            "GitCommit" | "GitTreeState" => "",
            "GoVersion" => "go1.26.8",
            "KubeClientVersion" => "v1.37",
            _ => return None,
        }))
    }
    fn fields(&self) -> Vec<Value> {
        ["v4.3", "", "", "go1.26.8", "v1.37"]
            .iter()
            .map(|s| Value::from(*s))
            .collect()
    }
    fn is_pointer(&self) -> bool {
        false
    }
}

impl Object for Capabilities {
    fn type_name(&self) -> String {
        "*common.Capabilities".into()
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "KubeVersion" => Some(Value::Object(Rc::new(KubeVersionObject(self.kube.clone())))),
            "APIVersions" => Some(Value::Slice(Rc::new(crate::value::Slice {
                elem: Type::String,
                items: self.apis.iter().map(|s| Value::from(s.as_str())).collect(),
                nil: false,
                name: Some(Rc::from("common.VersionSet")),
                methods: Some(Rc::new(VersionSetMethods)),
            }))),
            "HelmVersion" => Some(Value::Object(Rc::new(BuildInfo))),
            _ => None,
        }
    }
    fn fields(&self) -> Vec<Value> {
        ["KubeVersion", "APIVersions", "HelmVersion"]
            .iter()
            .filter_map(|n| self.field(n))
            .collect()
    }
}
