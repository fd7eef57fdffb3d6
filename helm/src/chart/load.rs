//! Loading a chart (Helm's `loader.LoadDir`, `LoadFiles`, `LoadArchive`), `.helmignore`, and
//! the dependency processing of `chartutil.ProcessDependencies` and `CoalesceValues`.

use std::collections::BTreeMap;
use std::path::Path;

use kustomize::FileSystem;

use super::values::{self, Table, Y};
use super::{ChartError, err};
use crate::value::Value;

/// A dependency of `Chart.yaml` (or `requirements.yaml`).
#[derive(Clone, Debug, Default)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub import_values: Vec<serde_json::Value>,
    pub alias: String,
}

/// `Chart.yaml`.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    pub name: String,
    pub home: String,
    pub sources: Vec<String>,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub maintainers: Vec<[String; 3]>,
    pub icon: String,
    pub api_version: String,
    pub condition: String,
    pub tags: String,
    pub app_version: String,
    pub deprecated: bool,
    pub annotations: Option<BTreeMap<String, String>>,
    pub kube_version: String,
    pub dependencies: Vec<Dependency>,
    pub kind: String,
}

impl Metadata {
    /// `MetadataAsMap` (structToMap of `*chart.Metadata`).
    pub fn as_map(&self) -> BTreeMap<String, Value> {
        let s = |x: &str| Value::from(x);
        let strs = |v: &[String]| Value::list(v.iter().map(|x| s(x)).collect());
        let mut m = BTreeMap::new();
        m.insert("Name".into(), s(&self.name));
        m.insert("Home".into(), s(&self.home));
        m.insert("Sources".into(), strs(&self.sources));
        m.insert("Version".into(), s(&self.version));
        m.insert("Description".into(), s(&self.description));
        m.insert("Keywords".into(), strs(&self.keywords));
        m.insert(
            "Maintainers".into(),
            Value::list(
                self.maintainers
                    .iter()
                    .map(|[n, e, u]| {
                        crate::value::dict([("Name", s(n)), ("Email", s(e)), ("URL", s(u))])
                    })
                    .collect(),
            ),
        );
        m.insert("Icon".into(), s(&self.icon));
        m.insert("APIVersion".into(), s(&self.api_version));
        m.insert("Condition".into(), s(&self.condition));
        m.insert("Tags".into(), s(&self.tags));
        m.insert("AppVersion".into(), s(&self.app_version));
        m.insert("Deprecated".into(), Value::Bool(self.deprecated));
        m.insert(
            "Annotations".into(),
            match &self.annotations {
                None => {
                    crate::value::Type::Map(std::rc::Rc::new(crate::value::Type::String)).zero()
                }
                Some(a) => Value::typed_map(
                    crate::value::Type::String,
                    a.iter().map(|(k, v)| (k.clone(), s(v))).collect(),
                ),
            },
        );
        m.insert("KubeVersion".into(), s(&self.kube_version));
        m.insert(
            "Dependencies".into(),
            Value::list(
                self.dependencies
                    .iter()
                    .map(|d| {
                        crate::value::dict([
                            ("Name", s(&d.name)),
                            ("Version", s(&d.version)),
                            ("Repository", s(&d.repository)),
                            ("Condition", s(&d.condition)),
                            ("Tags", strs(&d.tags)),
                            ("Enabled", Value::Bool(d.enabled)),
                            (
                                "ImportValues",
                                Value::list(d.import_values.iter().map(Value::from_json).collect()),
                            ),
                            ("Alias", s(&d.alias)),
                        ])
                    })
                    .collect(),
            ),
        );
        m.insert("Type".into(), s(&self.kind));
        m
    }
}

/// A loaded chart.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    pub meta: Metadata,
    /// `values.yaml`.
    pub values: Table,
    /// `templates/…` files: (name relative to the chart, text).
    pub templates: Vec<(String, String)>,
    /// Every other file (`.Files`), in load order.
    pub files: Vec<(String, Vec<u8>)>,
    pub has_schema: bool,
    pub deps: Vec<Chart>,
    /// The path of the parent chart (`parent/charts/`), empty at the root.
    pub parent_path: String,
}

impl Chart {
    /// `ChartFullPath`.
    pub fn full_path(&self) -> String {
        if self.parent_path.is_empty() {
            self.meta.name.clone()
        } else {
            format!("{}/charts/{}", self.parent_path, self.meta.name)
        }
    }

    fn set_parent(&mut self, parent: &str) {
        self.parent_path = parent.to_string();
        let me = self.full_path();
        for d in &mut self.deps {
            d.set_parent(&me);
        }
    }
}

// ---------------------------------------------------------------- .helmignore

struct Rule {
    pattern: String,
    negate: bool,
    must_dir: bool,
    kind: u8, // 0 basename, 1 full path, 2 rooted
}

struct Rules(Vec<Rule>);

impl Rules {
    fn parse(text: &str) -> Result<Rules, String> {
        let mut r = Rules(Vec::new());
        for (i, line) in text.lines().enumerate() {
            let line = if i == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            r.add(line)?;
        }
        Ok(r)
    }

    fn add(&mut self, rule: &str) -> Result<(), String> {
        let mut rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err("double-star (**) syntax is not supported".into());
        }
        if go_match(rule, "abc").is_err() {
            return Err("syntax error in pattern".into());
        }
        let mut p = Rule {
            pattern: String::new(),
            negate: false,
            must_dir: false,
            kind: 0,
        };
        if let Some(r) = rule.strip_prefix('!') {
            p.negate = true;
            rule = r;
        }
        if let Some(r) = rule.strip_suffix('/') {
            p.must_dir = true;
            rule = r;
        }
        if let Some(r) = rule.strip_prefix('/') {
            p.kind = 2;
            rule = r;
        } else if rule.contains('/') {
            p.kind = 1;
        }
        p.pattern = rule.to_string();
        self.0.push(p);
        Ok(())
    }

    fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.0 {
            let name = if p.kind == 0 {
                path.rsplit('/').next().unwrap_or(path)
            } else {
                path
            };
            let m = go_match(&p.pattern, name).unwrap_or(false);
            if p.negate {
                if p.must_dir && !is_dir {
                    return true;
                }
                if !m {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if m {
                return true;
            }
        }
        false
    }
}

/// Go's `filepath.Match` (separator `/`).
pub fn go_match(pattern: &str, name: &str) -> Result<bool, ()> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn class(p: &[char], mut i: usize, c: char) -> Result<(bool, usize), ()> {
        // p[i] is after '['
        let mut negated = false;
        if i < p.len() && p[i] == '^' {
            negated = true;
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        loop {
            if i >= p.len() {
                return Err(());
            }
            if p[i] == ']' && !first {
                i += 1;
                break;
            }
            first = false;
            let mut lo = p[i];
            if lo == '\\' {
                i += 1;
                if i >= p.len() {
                    return Err(());
                }
                lo = p[i];
            }
            i += 1;
            let mut hi = lo;
            if i + 1 < p.len() && p[i] == '-' && p[i + 1] != ']' {
                i += 1;
                hi = p[i];
                if hi == '\\' {
                    i += 1;
                    if i >= p.len() {
                        return Err(());
                    }
                    hi = p[i];
                }
                i += 1;
            }
            if lo <= c && c <= hi {
                matched = true;
            }
        }
        Ok((matched != negated, i))
    }
    fn m(p: &[char], n: &[char]) -> Result<bool, ()> {
        let (mut pi, mut ni) = (0, 0);
        while pi < p.len() {
            match p[pi] {
                '*' => {
                    while pi < p.len() && p[pi] == '*' {
                        pi += 1;
                    }
                    let mut k = ni;
                    loop {
                        if m(&p[pi..], &n[k..])? {
                            return Ok(true);
                        }
                        if k >= n.len() || n[k] == '/' {
                            return Ok(false);
                        }
                        k += 1;
                    }
                }
                '?' => {
                    if ni >= n.len() || n[ni] == '/' {
                        return Ok(false);
                    }
                    pi += 1;
                    ni += 1;
                }
                '[' => {
                    if ni >= n.len() || n[ni] == '/' {
                        // still validate the class
                        class(p, pi + 1, '\0')?;
                        return Ok(false);
                    }
                    let (ok, next) = class(p, pi + 1, n[ni])?;
                    if !ok {
                        return Ok(false);
                    }
                    pi = next;
                    ni += 1;
                }
                '\\' => {
                    pi += 1;
                    if pi >= p.len() {
                        return Err(());
                    }
                    if ni >= n.len() || n[ni] != p[pi] {
                        return Ok(false);
                    }
                    pi += 1;
                    ni += 1;
                }
                c => {
                    if ni >= n.len() || n[ni] != c {
                        return Ok(false);
                    }
                    pi += 1;
                    ni += 1;
                }
            }
        }
        Ok(ni == n.len())
    }
    m(&p, &n)
}

// ---------------------------------------------------------------- loading

/// `loader.LoadValues`: every YAML document, merged.
pub fn load_values(text: &str) -> Result<Table, String> {
    let docs = kustomize::yaml::parse_kustomization_documents(text).map_err(|e| {
        format!(
            "cannot unmarshal yaml document: error converting YAML to JSON: yaml: line {}: {}",
            e.line, e.message
        )
    })?;
    let mut out = Table::new();
    for d in docs {
        match Y::from_json(&d) {
            Y::Map(m) => out = values::merge_maps(&out, &m),
            Y::Nil => {}
            _ => {
                return Err("cannot unmarshal yaml document: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}".into());
            }
        }
    }
    Ok(out)
}

/// Loads the chart directory `dir`.
///
/// # Errors
/// Helm's loader messages.
pub fn load_dir(fs: &dyn FileSystem, dir: &Path) -> Result<Chart, ChartError> {
    if fs.is_file(dir) {
        // A packaged chart (`helm package` output).
        let data = fs
            .read(dir)
            .map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let mut c = super::files::load_archive(&data)?;
        c.set_parent("");
        return Ok(c);
    }
    if !fs.is_dir(dir) {
        return Err(err(format!("path {:?} not found", dir.to_string_lossy())));
    }
    let mut rules = Rules(Vec::new());
    let ifile = dir.join(".helmignore");
    if fs.is_file(&ifile) {
        let text = fs
            .read(&ifile)
            .map_err(|e| err(format!("{}: {e}", ifile.display())))?;
        rules = Rules::parse(&String::from_utf8_lossy(&text)).map_err(err)?;
    }
    rules.add("templates/.?*").map_err(err)?;
    let mut files = Vec::new();
    walk(fs, dir, "", &rules, &mut files)?;
    let mut c = load_files(files)?;
    c.set_parent("");
    Ok(c)
}

fn walk(
    fs: &dyn FileSystem,
    dir: &Path,
    rel: &str,
    rules: &Rules,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), ChartError> {
    if rel.matches('/').count() >= 4 * MAX_CHART_DEPTH {
        return Err(err(format!(
            "{rel}: directories nested deeper than {} levels are not supported",
            4 * MAX_CHART_DEPTH
        )));
    }
    let names = fs
        .read_dir(&dir.join(rel))
        .map_err(|e| err(format!("{}: {e}", dir.join(rel).display())))?;
    for name in names {
        let n = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let full = dir.join(&n);
        if fs.is_dir(&full) {
            if rules.ignore(&n, true) {
                continue;
            }
            walk(fs, dir, &n, rules, out)?;
            continue;
        }
        if rules.ignore(&n, false) {
            continue;
        }
        let mut data = fs
            .read(&full)
            .map_err(|e| err(format!("error reading {n}: {e}")))?;
        if data.starts_with(&[0xEF, 0xBB, 0xBF]) {
            data.drain(..3);
        }
        out.push((n, data));
    }
    Ok(())
}

fn str_list(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn sstr(o: &serde_json::Map<String, serde_json::Value>, k: &str) -> Result<String, String> {
    match o.get(k) {
        None | Some(serde_json::Value::Null) => Ok(String::new()),
        Some(serde_json::Value::String(s)) => Ok(sanitize(s)),
        // sigs.k8s.io/yaml converts scalars into a string field: integers in decimal, floats
        // as strconv.FormatFloat(f, 'g', -1, 64), booleans as true/false.
        Some(serde_json::Value::Number(n)) => Ok(if let Some(i) = n.as_i64() {
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            crate::gofmt::sprint(&[Value::Float64(n.as_f64().unwrap_or(0.0))])
        }),
        Some(serde_json::Value::Bool(b)) => Ok(b.to_string()),
        Some(serde_json::Value::Array(_)) => Err(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go struct field Metadata.{k} of type string"
        )),
        Some(serde_json::Value::Object(_)) => Err(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go struct field Metadata.{k} of type string"
        )),
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

fn parse_deps(v: Option<&serde_json::Value>) -> Result<Vec<Dependency>, String> {
    let Some(serde_json::Value::Array(a)) = v else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for d in a {
        let serde_json::Value::Object(o) = d else {
            return Err("validation: dependencies must not contain empty or null nodes".into());
        };
        out.push(Dependency {
            name: sstr(o, "name")?,
            version: sstr(o, "version")?,
            repository: sstr(o, "repository")?,
            condition: sstr(o, "condition")?,
            tags: str_list(o.get("tags")),
            enabled: o.get("enabled").and_then(|x| x.as_bool()).unwrap_or(false),
            import_values: match o.get("import-values") {
                Some(serde_json::Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            },
            alias: sstr(o, "alias")?,
        });
    }
    Ok(out)
}

fn parse_yaml_object(data: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let text = String::from_utf8_lossy(data);
    let docs = kustomize::yaml::parse_kustomization_documents(&text).map_err(|e| {
        format!(
            "error converting YAML to JSON: yaml: line {}: {}",
            e.line, e.message
        )
    })?;
    match docs.into_iter().next() {
        Some(serde_json::Value::Object(o)) => Ok(o),
        None | Some(serde_json::Value::Null) => Ok(serde_json::Map::new()),
        Some(_) => Err("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type v2.Metadata".into()),
    }
}

/// Subcharts nested deeper than this are refused (a hostile tree cannot exhaust the stack).
pub const MAX_CHART_DEPTH: usize = 64;

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// `loader.LoadFiles`.
pub fn load_files(files: Vec<(String, Vec<u8>)>) -> Result<Chart, ChartError> {
    let depth = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let r = if depth > MAX_CHART_DEPTH {
        Err(err(format!(
            "subcharts nested deeper than {MAX_CHART_DEPTH} levels are not supported"
        )))
    } else {
        load_files_inner(files)
    };
    DEPTH.with(|d| d.set(d.get() - 1));
    r
}

fn load_files_inner(files: Vec<(String, Vec<u8>)>) -> Result<Chart, ChartError> {
    let mut c = Chart::default();
    let mut have_meta = false;
    for (name, data) in &files {
        if name == "Chart.yaml" {
            let o =
                parse_yaml_object(data).map_err(|e| err(format!("cannot load Chart.yaml: {e}")))?;
            let m = &mut c.meta;
            let f = |k| sstr(&o, k).map_err(|e| err(format!("cannot load Chart.yaml: {e}")));
            m.name = f("name")?;
            m.home = f("home")?;
            m.sources = str_list(o.get("sources"));
            m.version = f("version")?;
            m.description = f("description")?;
            m.keywords = str_list(o.get("keywords"));
            if let Some(serde_json::Value::Array(a)) = o.get("maintainers") {
                for x in a {
                    let Some(x) = x.as_object() else {
                        return Err(err(
                            "validation: maintainers must not contain empty or null nodes",
                        ));
                    };
                    let g = |k| sstr(x, k).unwrap_or_default();
                    m.maintainers.push([g("name"), g("email"), g("url")]);
                }
            }
            m.icon = f("icon")?;
            m.api_version = f("apiVersion")?;
            m.condition = f("condition")?;
            m.tags = f("tags")?;
            m.app_version = f("appVersion")?;
            m.deprecated = o
                .get("deprecated")
                .and_then(|x| x.as_bool())
                .unwrap_or(false);
            if let Some(serde_json::Value::Object(a)) = o.get("annotations") {
                m.annotations = Some(
                    a.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect(),
                );
            }
            m.kube_version = f("kubeVersion")?;
            m.dependencies = parse_deps(o.get("dependencies"))
                .map_err(|e| err(format!("cannot load Chart.yaml: {e}")))?;
            m.kind = f("type")?;
            if m.api_version.is_empty() {
                m.api_version = "v1".into();
            }
            have_meta = true;
        }
    }
    let mut subcharts: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (name, data) in files {
        match name.as_str() {
            "Chart.yaml" | "Chart.lock" => continue,
            "values.yaml" => {
                c.values = load_values(&String::from_utf8_lossy(&data))
                    .map_err(|e| err(format!("cannot load values.yaml: {e}")))?;
            }
            "values.schema.json" => c.has_schema = true,
            "requirements.yaml" => {
                let o = parse_yaml_object(&data)
                    .map_err(|e| err(format!("cannot load requirements.yaml: {e}")))?;
                c.meta.dependencies = parse_deps(o.get("dependencies"))
                    .map_err(|e| err(format!("cannot load requirements.yaml: {e}")))?;
                if c.meta.api_version == "v1" {
                    c.files.push((name, data));
                }
            }
            "requirements.lock" => {
                if c.meta.api_version == "v1" {
                    c.files.push((name, data));
                }
            }
            n if n.starts_with("templates/") => {
                c.templates
                    .push((name.clone(), String::from_utf8_lossy(&data).into_owned()));
            }
            n if n.starts_with("charts/") => {
                if n.ends_with(".prov") {
                    c.files.push((name, data));
                    continue;
                }
                let fname = &n["charts/".len()..];
                let cname = fname.split('/').next().unwrap_or("").to_string();
                subcharts
                    .entry(cname)
                    .or_default()
                    .push((fname.to_string(), data));
            }
            _ => c.files.push((name, data)),
        }
    }
    if !have_meta {
        return Err(err("Chart.yaml file is missing"));
    }
    validate(&c.meta)?;
    for (n, files) in subcharts {
        if n.starts_with('_') || n.starts_with('.') {
            continue;
        }
        let sc = if n.ends_with(".tgz") {
            let (fname, data) = &files[0];
            if *fname != n {
                return Err(err(format!(
                    "error unpacking subchart tar in {}: expected {n}, got {fname}",
                    c.meta.name
                )));
            }
            super::files::load_archive(data)
        } else {
            let buff: Vec<(String, Vec<u8>)> = files
                .into_iter()
                .filter_map(|(f, d)| f.split_once('/').map(|(_, r)| (r.to_string(), d)))
                .collect();
            load_files(buff)
        };
        let sc = sc.map_err(|e| {
            err(format!(
                "error unpacking subchart {n} in {}: {}",
                c.meta.name, e.0
            ))
        })?;
        c.deps.push(sc);
    }
    Ok(c)
}

fn validate(m: &Metadata) -> Result<(), ChartError> {
    let v = |s: &str| Err(err(format!("validation: {s}")));
    if m.api_version.is_empty() {
        return v("chart.metadata.apiVersion is required");
    }
    if m.name.is_empty() {
        return v("chart.metadata.name is required");
    }
    if m.name == "." || m.name == ".." {
        return v(&format!(
            "chart.metadata.name {} is not allowed",
            crate::gofmt::quote(&m.name)
        ));
    }
    if m.name.contains('/') {
        return v(&format!(
            "chart.metadata.name {} is invalid",
            crate::gofmt::quote(&m.name)
        ));
    }
    if m.version.is_empty() {
        return v("chart.metadata.version is required");
    }
    if crate::sprig::semver::Version::parse(&m.version).is_err() {
        return v(&format!(
            "chart.metadata.version {} is invalid",
            crate::gofmt::quote(&m.version)
        ));
    }
    if !matches!(m.kind.as_str(), "" | "application" | "library") {
        return v("chart.metadata.type must be application or library");
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in &m.dependencies {
        let key = if d.alias.is_empty() {
            &d.name
        } else {
            &d.alias
        };
        if !seen.insert(key.clone()) {
            return v(&format!(
                "more than one dependency with name or alias {}",
                crate::gofmt::quote(key)
            ));
        }
    }
    Ok(())
}

/// `chartutil.IsCompatibleRange`.
pub fn is_compatible_range(constraint: &str, ver: &str) -> bool {
    let Ok(v) = crate::sprig::semver::Version::parse(ver) else {
        return false;
    };
    let Ok(c) = crate::sprig::semver::Constraints::parse(constraint) else {
        return false;
    };
    c.check(&v)
}

// ---------------------------------------------------------------- values and dependencies

/// `CoalesceValues(chart, vals)`.
///
/// # Errors
/// `type mismatch on NAME: …` when a subchart's values are not a table.
pub fn coalesce_values(c: &Chart, vals: Table) -> Result<Table, String> {
    let mut v = vals;
    coalesce(c, &mut v, false)?;
    Ok(v)
}

fn coalesce(c: &Chart, dest: &mut Table, merge: bool) -> Result<(), String> {
    coalesce_chart_values(c, dest, merge);
    for sub in &c.deps {
        let name = sub.meta.name.clone();
        match dest.get(&name) {
            None => {
                dest.insert(name.clone(), Y::Map(Table::new()));
            }
            Some(Y::Map(_)) => {}
            Some(other) => {
                return Err(format!(
                    "type mismatch on {name}: {}",
                    crate::gofmt::sprintf("%t", &[other.to_value()])
                ));
            }
        }
        let mut dv = match dest.remove(&name) {
            Some(Y::Map(m)) => m,
            _ => Table::new(),
        };
        values::coalesce_globals(&mut dv, dest);
        let r = coalesce(sub, &mut dv, merge);
        dest.insert(name, Y::Map(dv));
        r?;
    }
    Ok(())
}

fn coalesce_chart_values(c: &Chart, v: &mut Table, merge: bool) {
    for (key, val) in c.values.clone() {
        match v.get_mut(&key) {
            Some(value) => {
                if matches!(value, Y::Nil) && !merge {
                    v.remove(&key);
                } else if let Y::Map(dest) = value
                    && let Y::Map(mut src) = val
                {
                    let merge = merge || c.deps.iter().any(|d| d.meta.name == key);
                    if !merge {
                        values::clean_nil(&mut src);
                    }
                    values::coalesce_tables(dest, src, merge);
                }
            }
            None => {
                let mut val = val;
                if !merge {
                    if matches!(val, Y::Nil) {
                        continue;
                    }
                    if let Y::Map(sub) = &mut val {
                        values::clean_nil(sub);
                    }
                }
                v.insert(key, val);
            }
        }
    }
}

/// `chartutil.ProcessDependencies`: enabled dependencies (condition, tags, alias), then
/// import-values.
///
/// # Errors
/// Coalescing errors.
pub fn process_dependencies(c: &mut Chart, vals: &Table) -> Result<(), String> {
    process_enabled(c, vals, "")?;
    process_import_values_rec(c)?;
    let p = c.parent_path.clone();
    c.set_parent(&p);
    Ok(())
}

fn path_value(v: &Table, path: &str) -> Option<Y> {
    let parts: Vec<&str> = path.split('.').collect();
    let (key, table_path) = parts.split_last()?;
    let mut t = v;
    for p in table_path {
        t = t.get(*p)?.as_table()?;
    }
    match t.get(*key) {
        Some(Y::Map(_)) | None => None,
        Some(x) => Some(x.clone()),
    }
}

fn process_enabled(c: &mut Chart, v: &Table, path: &str) -> Result<(), String> {
    if c.meta.dependencies.is_empty() {
        return Ok(());
    }
    let existing = std::mem::take(&mut c.deps);
    let mut chart_deps: Vec<Chart> = Vec::new();
    'outer: for e in &existing {
        for req in &c.meta.dependencies {
            if e.meta.name == req.name && is_compatible_range(&req.version, &e.meta.version) {
                continue 'outer;
            }
        }
        chart_deps.push(e.clone());
    }
    for req in &mut c.meta.dependencies {
        if let Some(found) = existing
            .iter()
            .find(|e| e.meta.name == req.name && is_compatible_range(&req.version, &e.meta.version))
        {
            let mut out = found.clone();
            if !req.alias.is_empty() {
                out.meta.name = req.alias.clone();
            }
            chart_deps.push(out);
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
    }
    c.deps = chart_deps;
    for d in &mut c.meta.dependencies {
        d.enabled = true;
    }
    let cvals = coalesce_values(c, v.clone())?;
    // tags
    if let Some(Y::Map(vt)) = cvals.get("tags") {
        for r in &mut c.meta.dependencies {
            let (mut has_true, mut has_false) = (false, false);
            for k in &r.tags {
                if let Some(Y::Bool(b)) = vt.get(k) {
                    if *b {
                        has_true = true;
                    } else {
                        has_false = true;
                    }
                }
            }
            r.enabled = has_true || !has_false;
        }
    }
    // conditions
    for r in &mut c.meta.dependencies {
        for cond in r.condition.trim().split(',') {
            if cond.is_empty() {
                continue;
            }
            if let Some(Y::Bool(b)) = path_value(&cvals, &format!("{path}{cond}")) {
                r.enabled = b;
                break;
            }
        }
    }
    let rm: std::collections::BTreeSet<String> = c
        .meta
        .dependencies
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.clone())
        .collect();
    c.deps.retain(|d| !rm.contains(&d.meta.name));
    c.meta.dependencies.retain(|d| !rm.contains(&d.name));
    for t in &mut c.deps {
        let sub = format!("{path}{}.", t.meta.name);
        process_enabled(t, &cvals, &sub)?;
    }
    Ok(())
}

fn table_at<'a>(v: &'a Table, path: &str) -> Option<&'a Table> {
    let mut t = v;
    for p in path.split('.') {
        t = t.get(p)?.as_table()?;
    }
    Some(t)
}

fn path_to_map(path: &str, data: Table) -> Table {
    if path == "." {
        return data;
    }
    let mut cur = data;
    for p in path.split('.').rev() {
        cur = Table::from([(p.to_string(), Y::Map(cur))]);
    }
    cur
}

fn go_sprint(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "<nil>".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(j) => crate::gofmt::sprint(&[Value::from_json(j)]),
    }
}

fn process_import_values(c: &mut Chart) -> Result<(), String> {
    if c.meta.dependencies.is_empty() {
        return Ok(());
    }
    // MergeValues(c, nil): merge=true.
    let mut cvals = Table::new();
    coalesce(c, &mut cvals, true)?;
    let mut b = Table::new();
    for r in &mut c.meta.dependencies {
        let mut outiv = Vec::new();
        for riv in &r.import_values {
            match riv {
                serde_json::Value::Object(iv) => {
                    let child = go_sprint(iv.get("child"));
                    let parent = go_sprint(iv.get("parent"));
                    outiv.push(serde_json::json!({"child": child, "parent": parent}));
                    let Some(vv) = table_at(&cvals, &format!("{}.{child}", r.name)) else {
                        continue;
                    };
                    let add = path_to_map(&parent, vv.clone());
                    values::coalesce_tables(&mut b, add, true);
                }
                serde_json::Value::String(iv) => {
                    let child = format!("exports.{iv}");
                    outiv.push(serde_json::json!({"child": child, "parent": "."}));
                    let Some(vm) = table_at(&cvals, &format!("{}.{child}", r.name)) else {
                        continue;
                    };
                    values::coalesce_tables(&mut b, vm.clone(), true);
                }
                _ => {}
            }
        }
        r.import_values = outiv;
    }
    // MergeTables(cvals, b): cvals wins.
    values::coalesce_tables(&mut cvals, b, true);
    c.values = cvals;
    Ok(())
}

fn process_import_values_rec(c: &mut Chart) -> Result<(), String> {
    for d in &mut c.deps {
        process_import_values_rec(d)?;
    }
    process_import_values(c)
}
