//! The build: load a kustomization, accumulate its resources and components, run its
//! generators and transformers, then (at the root) add content hashes, fix name references
//! and sort.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::Config;
use crate::error::Error;
use crate::fs::{FileSystem, display, normalize};
use crate::generator::{self, Loader};
use crate::kustomization::{self, Kustomization, Patch};
use crate::patch::{json6902, smp};
use crate::resource::{ResMap, Resource};
use crate::select::Matcher;
use crate::{nameref, transform, yaml};

fn stringify_annotations(obj: &mut Value) {
    let Some(Value::Object(ann)) = obj
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    else {
        return;
    };
    for v in ann.values_mut() {
        let text = match v {
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            _ => continue,
        };
        *v = Value::String(text);
    }
}

/// The file names kustomize recognises as a kustomization.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Deepest chain of kustomizations accepted.
pub const MAX_NESTING: usize = 64;

/// Renders the kustomization in `dir` (relative to the file system's root).
///
/// A directory without a kustomization file is rendered as if it had one listing its
/// `*.yaml`, `*.yml` and `*.json` files (sorted, not recursive) under `resources`.
///
/// # Errors
/// See [`Error`]: every variant names the file concerned.
pub fn build(fs: &dyn FileSystem, dir: &Path) -> Result<ResMap, Error> {
    let root = normalize(dir).ok_or_else(|| Error::PathEscapesRoot {
        file: display(dir),
        path: display(dir),
        root: "(file system root)".into(),
    })?;
    // As `kustomize build`: the directory itself must exist.
    if !fs.is_dir(&root) {
        return Err(Error::MissingFile {
            file: "(command line)".into(),
            path: display(&root),
        });
    }
    let mut b = Builder {
        fs,
        stack: Vec::new(),
        root_sort: None,
        config: Config::default(),
    };
    let mut rm = b.accumulate(&root, ResMap::default(), Mode::Root, "(command line)")?;
    nameref::add_hashes(&mut rm);
    nameref::fix(&mut rm, &b.config)?;
    // kustomize rewrites every annotation map through map[string]string before printing.
    for r in &mut rm.list {
        stringify_annotations(&mut r.obj);
    }
    // Only the top kustomization's sortOptions count.
    match b.root_sort.take() {
        Some(so) if so.fifo => {}
        Some(so) => rm.sort_legacy_with(so.order_first.as_deref(), so.order_last.as_deref()),
        None => rm.sort_legacy(),
    }
    Ok(rm)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Root,
    Resource,
    Component,
}

struct Builder<'a> {
    fs: &'a dyn FileSystem,
    stack: Vec<PathBuf>,
    root_sort: Option<kustomization::SortOptions>,
    /// `configurations` of every kustomization loaded so far.
    config: Config,
}

fn is_remote(s: &str) -> bool {
    s.contains("://")
        || s.starts_with("git@")
        || s.starts_with("github.com/")
        || s.starts_with("gitlab.com/")
        || s.starts_with("bitbucket.org/")
        || s.contains("?ref=")
        || s.contains(".git//")
}

struct DirLoader<'a> {
    fs: &'a dyn FileSystem,
    dir: &'a Path,
    file: &'a str,
}

impl DirLoader<'_> {
    /// Resolves `rel` against the kustomization directory; files must stay inside it.
    fn resolve_file(&self, rel: &str) -> Result<PathBuf, Error> {
        let escapes = || Error::PathEscapesRoot {
            file: self.file.into(),
            path: rel.into(),
            root: display(self.dir),
        };
        if rel.starts_with('/') {
            return Err(escapes());
        }
        let p = normalize(&self.dir.join(rel)).ok_or_else(escapes)?;
        if !p.starts_with(self.dir) {
            return Err(escapes());
        }
        Ok(p)
    }
}

impl Loader for DirLoader<'_> {
    fn load(&self, rel: &str) -> Result<Vec<u8>, Error> {
        let p = self.resolve_file(rel)?;
        if !self.fs.is_file(&p) {
            return Err(Error::MissingFile {
                file: self.file.into(),
                path: rel.into(),
            });
        }
        self.fs.read(&p).map_err(|_| Error::MissingFile {
            file: self.file.into(),
            path: rel.into(),
        })
    }
}

fn parse_yaml(text: &[u8], file: &str) -> Result<Vec<Value>, Error> {
    parse_yaml_verbatim(text, file, &[])
}

/// kustomize reads annotations (and, in legacy strategic merge patches, labels) as strings.
const RESOURCE_VERBATIM: &[&str] = &["annotations"];
const LEGACY_PATCH_VERBATIM: &[&str] = &["annotations", "labels"];

fn parse_yaml_verbatim(text: &[u8], file: &str, verbatim: &[&str]) -> Result<Vec<Value>, Error> {
    let text = std::str::from_utf8(text).map_err(|_| Error::Yaml {
        file: file.into(),
        line: 0,
        message: "not valid UTF-8".into(),
    })?;
    yaml::parse_documents_verbatim(text, verbatim).map_err(|e| Error::Yaml {
        file: file.into(),
        line: e.line,
        message: e.message,
    })
}

/// Turns parsed documents into resources, expanding `List` kinds and checking the basics.
fn to_resources(docs: Vec<Value>, file: &str, out: &mut Vec<Resource>) -> Result<(), Error> {
    for d in docs {
        match d {
            Value::Null => {}
            Value::Object(ref m) => {
                let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
                if kind.ends_with("List") && m.get("items").is_some_and(Value::is_array) {
                    let items = m
                        .get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    to_resources(items, file, out)?;
                    continue;
                }
                let r = Resource::new(d.clone(), file.to_string());
                if r.kind().is_empty() {
                    return Err(Error::InvalidResource {
                        file: file.into(),
                        object: None,
                        message: "missing `kind`".into(),
                    });
                }
                if r.name().is_empty() {
                    return Err(Error::InvalidResource {
                        file: file.into(),
                        object: Some(r.kind().into()),
                        message: "missing `metadata.name`".into(),
                    });
                }
                out.push(r);
            }
            _ => {
                return Err(Error::InvalidResource {
                    file: file.into(),
                    object: None,
                    message: "a resource must be a mapping".into(),
                });
            }
        }
    }
    Ok(())
}

/// The key under which kustomize's resource map refuses duplicates.
fn id_key(r: &Resource) -> IdKey {
    (
        r.gvk().key(),
        Resource::effective_ns(r.kind(), r.namespace()),
        r.name().to_string(),
    )
}

type IdKey = (String, String, String);

/// Appends resources, refusing ids already present; `seen` holds the ids of `rm`, so that
/// building stays linear in the number of resources.
fn append_all(
    rm: &mut ResMap,
    seen: &mut std::collections::HashSet<IdKey>,
    rs: Vec<Resource>,
    file: &str,
) -> Result<(), Error> {
    for r in rs {
        if !seen.insert(id_key(&r)) {
            return Err(Error::DuplicateId {
                file: file.into(),
                id: r.id_string(),
            });
        }
        rm.list.push(r);
    }
    Ok(())
}

impl Builder<'_> {
    fn find_kustomization(&self, dir: &Path) -> Result<Option<PathBuf>, Error> {
        let found: Vec<PathBuf> = KUSTOMIZATION_FILES
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| self.fs.is_file(p))
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            _ => Err(Error::MultipleKustomizations { dir: display(dir) }),
        }
    }

    fn load_kustomization(
        &self,
        dir: &Path,
        mode: Mode,
        from: &str,
    ) -> Result<(Kustomization, String), Error> {
        match self.find_kustomization(dir)? {
            Some(p) => {
                let file = display(&p);
                let bytes = self.fs.read(&p).map_err(|_| Error::MissingFile {
                    file: from.into(),
                    path: file.clone(),
                })?;
                let text = std::str::from_utf8(&bytes).map_err(|_| Error::Yaml {
                    file: file.clone(),
                    line: 0,
                    message: "not valid UTF-8".into(),
                })?;
                let docs = yaml::parse_kustomization_documents(text).map_err(|e| Error::Yaml {
                    file: file.clone(),
                    line: e.line,
                    message: e.message,
                })?;
                let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
                if docs.len() > 1 {
                    return Err(Error::Field {
                        file,
                        key: "(root)".into(),
                        message: "a kustomization must be a single YAML document".into(),
                    });
                }
                let k = kustomization::parse(docs.first().unwrap_or(&Value::Null), &file)?;
                if k.empty {
                    return Err(Error::Field {
                        file,
                        key: "(root)".into(),
                        message: "kustomization is empty".into(),
                    });
                }
                Ok((k, file))
            }
            None if mode == Mode::Root => {
                let mut k = Kustomization::default();
                for name in self.fs.read_dir(dir).unwrap_or_default() {
                    let p = dir.join(&name);
                    if self.fs.is_file(&p)
                        && (name.ends_with(".yaml")
                            || name.ends_with(".yml")
                            || name.ends_with(".json"))
                    {
                        k.resources.push(name);
                    }
                }
                Ok((k, display(dir)))
            }
            None => Err(Error::NoKustomization { dir: display(dir) }),
        }
    }

    fn accumulate(
        &mut self,
        dir: &Path,
        input: ResMap,
        mode: Mode,
        from: &str,
    ) -> Result<ResMap, Error> {
        if self.stack.iter().any(|d| d == dir) {
            return Err(Error::Cycle {
                file: from.into(),
                dir: display(dir),
            });
        }
        if self.stack.len() >= MAX_NESTING {
            return Err(Error::TooDeep {
                file: from.into(),
                limit: MAX_NESTING,
            });
        }
        let (k, file) = self.load_kustomization(dir, mode, from)?;
        if mode == Mode::Root {
            self.root_sort = k.sort_options.clone();
        }
        if mode == Mode::Component && !k.is_component {
            return Err(Error::Field {
                file,
                key: "kind".into(),
                message: "a directory listed under `components` must have `kind: Component`".into(),
            });
        }
        if mode != Mode::Component && k.is_component {
            return Err(Error::Field {
                file,
                key: "kind".into(),
                message: "a Component can only be listed under `components`".into(),
            });
        }
        self.stack.push(dir.to_path_buf());
        let result = self.run(dir, &k, &file, input);
        self.stack.pop();
        result
    }

    fn run(
        &mut self,
        dir: &Path,
        k: &Kustomization,
        file: &str,
        input: ResMap,
    ) -> Result<ResMap, Error> {
        let mut rm = input;
        let loader = DirLoader {
            fs: self.fs,
            dir,
            file,
        };
        let mut seen: std::collections::HashSet<IdKey> = rm.list.iter().map(id_key).collect();
        for entry in &k.resources {
            if is_remote(entry) {
                return Err(Error::RemoteResource {
                    file: file.into(),
                    url: entry.clone(),
                });
            }
            let p = normalize(&dir.join(entry)).ok_or_else(|| Error::PathEscapesRoot {
                file: file.into(),
                path: entry.clone(),
                root: "(file system root)".into(),
            })?;
            if self.fs.is_dir(&p) {
                let sub = self.accumulate(&p, ResMap::default(), Mode::Resource, file)?;
                append_all(&mut rm, &mut seen, sub.list, file)?;
            } else {
                let bytes = loader.load(entry)?;
                let rfile = display(&p);
                let mut rs = Vec::new();
                to_resources(
                    parse_yaml_verbatim(&bytes, &rfile, RESOURCE_VERBATIM)?,
                    &rfile,
                    &mut rs,
                )?;
                append_all(&mut rm, &mut seen, rs, &rfile)?;
            }
        }
        // kustomize 5.8 runs a kustomization's generators before its components, so a
        // component's transformers also see the generated ConfigMaps and Secrets.
        self.generate(&mut rm, k, &loader, file)?;
        for c in &k.components {
            if is_remote(c) {
                return Err(Error::RemoteResource {
                    file: file.into(),
                    url: c.clone(),
                });
            }
            let p = normalize(&dir.join(c)).ok_or_else(|| Error::PathEscapesRoot {
                file: file.into(),
                path: c.clone(),
                root: "(file system root)".into(),
            })?;
            if !self.fs.is_dir(&p) {
                return Err(Error::MissingFile {
                    file: file.into(),
                    path: c.clone(),
                });
            }
            rm = self.accumulate(&p, rm, Mode::Component, file)?;
        }
        // Like kustomize, a kustomization's configurations join the build's after its
        // components and before its transformers.
        for c in &k.configurations {
            let cfile = display(&loader.resolve_file(c)?);
            for doc in parse_yaml(&loader.load(c)?, &cfile)? {
                self.config.merge_file(&doc, &cfile)?;
            }
        }
        self.transform(&mut rm, k, &loader, file)?;
        Ok(rm)
    }

    fn generate(
        &self,
        rm: &mut ResMap,
        k: &Kustomization,
        loader: &DirLoader<'_>,
        file: &str,
    ) -> Result<(), Error> {
        // Index by every name a resource has had, so many generators stay linear.
        let mut by_name: std::collections::HashMap<String, Vec<usize>> =
            std::collections::HashMap::new();
        for (i, x) in rm.list.iter().enumerate() {
            for n in std::iter::once(x.name()).chain(x.prev.iter().map(|(n, _)| n.as_str())) {
                let v = by_name.entry(n.to_string()).or_default();
                if v.last() != Some(&i) {
                    v.push(i);
                }
            }
        }
        let gens = k
            .config_map_generator
            .iter()
            .map(|g| (g, false))
            .chain(k.secret_generator.iter().map(|g| (g, true)));
        for (g, secret) in gens {
            let r = generator::generate(g, secret, k.generator_options.as_ref(), loader, file)?;
            let behavior = r
                .generated
                .as_ref()
                .map(|x| x.behavior.clone())
                .unwrap_or_default();
            let candidates = by_name.get(r.name()).cloned().unwrap_or_default();
            let existing = candidates.into_iter().find(|&i| {
                let x = &rm.list[i];
                x.gvk() == r.gvk()
                    && (r.namespace().is_empty()
                        || Resource::effective_ns(x.kind(), x.namespace())
                            == Resource::effective_ns(r.kind(), r.namespace()))
            });
            match (behavior.as_str(), existing) {
                ("create", Some(_)) => {
                    return Err(Error::Generator {
                        file: file.into(),
                        name: g.name.clone(),
                        message: format!(
                            "may not add resource with an already registered id: {}; set `behavior: merge` or `behavior: replace`",
                            r.id_string()
                        ),
                    });
                }
                ("create", None) => {
                    by_name
                        .entry(r.name().to_string())
                        .or_default()
                        .push(rm.list.len());
                    rm.list.push(r);
                }
                (_, None) => {
                    return Err(Error::Generator {
                        file: file.into(),
                        name: g.name.clone(),
                        message: format!(
                            "id {} does not exist; cannot merge or replace",
                            r.id_string()
                        ),
                    });
                }
                (b, Some(i)) => merge_generated(&mut rm.list[i], r, b == "replace"),
            }
        }
        Ok(())
    }

    fn transform(
        &self,
        rm: &mut ResMap,
        k: &Kustomization,
        loader: &DirLoader<'_>,
        file: &str,
    ) -> Result<(), Error> {
        for p in &k.patches_strategic_merge {
            let text = if p.contains('\n') || p.contains(": ") {
                p.as_bytes().to_vec()
            } else {
                loader.load(p)?
            };
            let pfile = if p.contains('\n') {
                file.to_string()
            } else {
                p.clone()
            };
            for doc in parse_yaml_verbatim(&text, &pfile, LEGACY_PATCH_VERBATIM)? {
                if doc.is_null() {
                    continue;
                }
                apply_smp_by_id(rm, &doc, &pfile, (false, false))?;
            }
        }
        for p in &k.patches {
            apply_patch(rm, p, loader, file)?;
        }
        transform::namespace(rm, &k.namespace, &self.config, file)?;
        transform::prefix_suffix(rm, &k.name_prefix, &k.name_suffix);
        transform::labels(rm, &k.common_labels, true, true, &self.config);
        for l in &k.labels {
            transform::labels(
                rm,
                &l.pairs,
                l.include_selectors,
                l.include_templates,
                &self.config,
            );
            transform::label_fields(rm, &l.pairs, &l.fields);
        }
        transform::annotations(rm, &k.common_annotations, &self.config);
        for p in &k.patches_json6902 {
            apply_patch(rm, p, loader, file)?;
        }
        transform::replicas(rm, &k.replicas, file, &self.config)?;
        transform::images(rm, &k.images, &self.config);
        let mut reps = Vec::new();
        for entry in &k.replacements {
            match entry {
                kustomization::ReplacementEntry::Inline(r) => {
                    reps.push(((**r).clone(), file.to_string()))
                }
                kustomization::ReplacementEntry::Path(p) => {
                    let pfile = display(&loader.resolve_file(p)?);
                    let docs = parse_yaml(&loader.load(p)?, &pfile)?;
                    for d in docs.iter().filter(|d| !d.is_null()) {
                        for r in kustomization::parse_replacements(d, &pfile)? {
                            reps.push((r, pfile.clone()));
                        }
                    }
                }
            }
        }
        crate::replacement::apply(rm, &reps)?;
        Ok(())
    }
}

fn merge_generated(old: &mut Resource, new: Resource, replace: bool) {
    let obj = crate::resource::ensure_object(&mut old.obj);
    for key in ["data", "binaryData"] {
        let nv = new.obj.get(key).cloned();
        if replace {
            match nv {
                Some(v) => {
                    obj.insert(key.into(), v);
                }
                None => {
                    obj.remove(key);
                }
            }
        } else if let Some(Value::Object(nm)) = nv {
            let e = obj
                .entry(key)
                .or_insert_with(|| Value::Object(Default::default()));
            let em = crate::resource::ensure_object(e);
            for (k, v) in nm {
                em.insert(k, v);
            }
        }
    }
    // The generator's own top-level fields (a Secret's `type`, `immutable`) win.
    for key in ["type", "immutable"] {
        match new.obj.get(key) {
            Some(v) => {
                obj.insert(key.into(), v.clone());
            }
            None => {
                obj.remove(key);
            }
        }
    }
    let labels = new.labels();
    let annotations = new.annotations();
    let md = old.metadata_mut();
    for (key, add) in [("labels", labels), ("annotations", annotations)] {
        if add.is_empty() {
            continue;
        }
        let e = md
            .entry(key)
            .or_insert_with(|| Value::Object(Default::default()));
        let em = crate::resource::ensure_object(e);
        for (k, v) in add {
            em.insert(k, v);
        }
    }
    // A resource that was not generated stays unhashed, as in kustomize.
    if let (Some(og), Some(ng)) = (old.generated.as_mut(), new.generated.as_ref()) {
        og.hash = og.hash && ng.hash;
    }
}

fn describe(doc: &Value) -> String {
    let s = |p: &[&str]| {
        let mut cur = doc;
        for k in p {
            match cur.get(k) {
                Some(v) => cur = v,
                None => return String::new(),
            }
        }
        cur.as_str().unwrap_or("").to_string()
    };
    let ns = s(&["metadata", "namespace"]);
    format!(
        "{} {}{}{}",
        s(&["kind"]),
        if ns.is_empty() {
            String::new()
        } else {
            format!("{ns}/")
        },
        s(&["metadata", "name"]),
        match s(&["apiVersion"]) {
            a if a.is_empty() => String::new(),
            a => format!(" ({a})"),
        }
    )
}

/// A strategic merge patch without a target: it names its own target.
fn apply_smp_by_id(
    rm: &mut ResMap,
    doc: &Value,
    pfile: &str,
    allow: (bool, bool),
) -> Result<(), Error> {
    let patch = Resource::new(doc.clone(), pfile.into());
    let gvk = patch.gvk();
    let name = patch.name().to_string();
    let ns = patch.namespace().to_string();
    let hits: Vec<usize> = rm
        .list
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.gvk() == gvk
                && r.all_ids().iter().any(|(n, rns)| {
                    *n == name
                        && Resource::effective_ns(&gvk.kind, rns)
                            == Resource::effective_ns(&gvk.kind, &ns)
                })
        })
        .map(|(i, _)| i)
        .collect();
    if hits.len() != 1 {
        return Err(Error::PatchTargetNotFound {
            file: pfile.into(),
            target: describe(doc),
        });
    }
    let i = hits[0];
    smp_into(rm, i, doc, pfile, allow)
}

fn smp_into(
    rm: &mut ResMap,
    i: usize,
    doc: &Value,
    pfile: &str,
    allow: (bool, bool),
) -> Result<(), Error> {
    let (allow_name, allow_kind) = allow;
    let r = &mut rm.list[i];
    // Unless allowed, the patch may not rename its target or change its kind.
    let mut p = doc.clone();
    let mut new_name = None;
    if let Some(m) = p.as_object_mut() {
        if !allow_kind {
            m.remove("apiVersion");
            m.remove("kind");
        }
        if let Some(Value::Object(md)) = m.get_mut("metadata") {
            let n = md.remove("name");
            if allow_name {
                new_name = n.and_then(|n| n.as_str().map(str::to_string));
            }
            md.remove("namespace");
        }
    }
    let outcome = smp::apply(&mut r.obj, &p).map_err(|message| Error::PatchFailed {
        file: pfile.into(),
        object: r.id_string(),
        message,
    })?;
    if outcome == smp::Outcome::Delete {
        rm.list.remove(i);
    } else if let Some(n) = new_name {
        r.set_name(&n);
    }
    Ok(())
}

fn apply_patch(
    rm: &mut ResMap,
    p: &Patch,
    loader: &DirLoader<'_>,
    file: &str,
) -> Result<(), Error> {
    let (text, pfile) = match (&p.path, &p.patch) {
        (Some(path), _) => (
            loader.load(path)?,
            loader.resolve_file(path).map(|x| display(&x))?,
        ),
        (None, Some(inline)) => (inline.as_bytes().to_vec(), file.to_string()),
        (None, None) => return Ok(()),
    };
    let docs: Vec<Value> = parse_yaml_verbatim(&text, &pfile, RESOURCE_VERBATIM)?
        .into_iter()
        .filter(|d| !d.is_null())
        .collect();
    let is_json = p.json6902 || (docs.len() == 1 && docs[0].is_array());
    if is_json {
        let ops = docs.first().cloned().unwrap_or(Value::Array(Vec::new()));
        if !ops.is_array() {
            return Err(Error::PatchFailed {
                file: pfile,
                object: "(patch)".into(),
                message: "a JSON 6902 patch must be a list of operations".into(),
            });
        }
        let Some(target) = &p.target else {
            return Err(Error::Field {
                file: file.into(),
                key: "patches".into(),
                message: "a JSON 6902 patch needs a `target`".into(),
            });
        };
        let m = Matcher::new(target).map_err(|message| Error::Field {
            file: file.into(),
            key: "target".into(),
            message,
        })?;
        let hits: Vec<usize> = rm
            .list
            .iter()
            .enumerate()
            .filter(|(_, r)| m.matches(r))
            .map(|(i, _)| i)
            .collect();
        // A JSON patch whose target matches nothing is not an error in kustomize.
        for i in hits {
            let r = &mut rm.list[i];
            json6902::apply(&mut r.obj, &ops).map_err(|message| Error::PatchFailed {
                file: pfile.clone(),
                object: r.id_string(),
                message,
            })?;
        }
        return Ok(());
    }
    for doc in &docs {
        if !doc.is_object() {
            return Err(Error::PatchFailed {
                file: pfile,
                object: "(patch)".into(),
                message: "a strategic merge patch must be a mapping".into(),
            });
        }
    }
    match &p.target {
        None => {
            for doc in &docs {
                apply_smp_by_id(rm, doc, &pfile, (p.allow_name_change, p.allow_kind_change))?;
            }
        }
        Some(target) => {
            let m = Matcher::new(target).map_err(|message| Error::Field {
                file: file.into(),
                key: "target".into(),
                message,
            })?;
            for doc in &docs {
                let mut i = 0;
                while i < rm.list.len() {
                    if m.matches(&rm.list[i]) {
                        let before = rm.list.len();
                        smp_into(
                            rm,
                            i,
                            doc,
                            &pfile,
                            (p.allow_name_change, p.allow_kind_change),
                        )?;
                        if rm.list.len() < before {
                            continue;
                        }
                    }
                    i += 1;
                }
            }
        }
    }
    Ok(())
}
