//! Decryption of kustomize sources before the build, as Flux's `DecryptSources` does it: from
//! the kustomization of the rendered directory, through its `resources` and `components`
//! directories, every `secretGenerator` `files` and `envs` entry and every `patches` `path`
//! that holds a SOPS-encrypted file is decrypted in memory, so kustomize reads the plaintext
//! (dotenv entries become keys, the hash suffix is the plaintext's). Each file is decrypted in
//! its own format (a `files` entry by its key's extension: `config.yaml` YAML, `app.env` dotenv,
//! anything else binary; an `envs` entry dotenv unless `.yaml`/`.json`), its MAC verified.
//!
//! Wrap the render's file system in a [`DecryptingFs`] and build over it. Everything is
//! decrypted when it is created, so errors name the file and the kustomization that uses it;
//! nothing is written anywhere.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};

use kustomize::{FileSystem, KUSTOMIZATION_FILES};
use zeroize::Zeroizing;

use crate::{Format, Keyring};

/// A source that did not decrypt: the file, the kustomization that names it, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{file}` (a {role} of `{kustomization}`): {message}")]
pub struct SourceError {
    /// The encrypted file.
    pub file: String,
    /// The kustomization file that uses it.
    pub kustomization: String,
    /// `secretGenerator file`, `secretGenerator env file`, `patch`.
    pub role: &'static str,
    /// What failed.
    pub message: String,
}

/// A file system that serves decrypted sources and passes everything else through.
pub struct DecryptingFs<'a> {
    inner: &'a dyn FileSystem,
    plain: BTreeMap<PathBuf, Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for DecryptingFs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptingFs")
            .field("decrypted", &self.plain.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `a/./b/../c` → `a/c`; `None` when it leaves the root.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(x) => out.push(x),
            Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

fn display(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

fn is_remote(s: &str) -> bool {
    s.split_once("://")
        .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty())
}

struct Target {
    format: Format,
    kustomization: String,
    role: &'static str,
}

impl<'a> DecryptingFs<'a> {
    /// Walks the kustomizations from `dir` and decrypts their encrypted sources with `keys`.
    ///
    /// # Errors
    /// A source that is SOPS-encrypted but does not decrypt (no key, MAC mismatch, bad file),
    /// naming it and its kustomization. Kustomizations that do not parse are left for the build
    /// to report.
    pub fn new(inner: &'a dyn FileSystem, keys: &Keyring, dir: &str) -> Result<Self, SourceError> {
        let mut targets: BTreeMap<PathBuf, Target> = BTreeMap::new();
        let mut visited = HashSet::new();
        let root = normalize(Path::new(dir.trim_matches('/'))).unwrap_or_default();
        walk(inner, &root, &mut visited, &mut targets, 0);
        let mut plain = BTreeMap::new();
        for (path, t) in targets {
            let Ok(bytes) = inner.read(&path) else {
                // A missing source is the build's error to report, with its own message.
                continue;
            };
            if !t.format.has_marker(&bytes) {
                continue;
            }
            let out = crate::load(&bytes, t.format)
                .and_then(|d| d.decrypt(keys))
                .and_then(|p| p.emit(t.format))
                .map_err(|e| SourceError {
                    file: display(&path),
                    kustomization: t.kustomization.clone(),
                    role: t.role,
                    message: e.to_string(),
                })?;
            plain.insert(path, Zeroizing::new(out));
        }
        Ok(DecryptingFs { inner, plain })
    }

    /// The files served decrypted.
    pub fn decrypted(&self) -> impl Iterator<Item = &Path> {
        self.plain.keys().map(PathBuf::as_path)
    }
}

fn walk(
    fs: &dyn FileSystem,
    dir: &Path,
    visited: &mut HashSet<PathBuf>,
    targets: &mut BTreeMap<PathBuf, Target>,
    depth: usize,
) {
    if depth > kustomize::MAX_NESTING || !visited.insert(dir.to_path_buf()) || !fs.is_dir(dir) {
        return;
    }
    let found: Vec<PathBuf> = KUSTOMIZATION_FILES
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| fs.is_file(p))
        .collect();
    let [file] = found.as_slice() else {
        return;
    };
    let Ok(bytes) = fs.read(file) else { return };
    let text = String::from_utf8_lossy(&bytes);
    let Some(doc) = kustomize::yaml::parse_kustomization_documents(&text)
        .ok()
        .and_then(|d| d.into_iter().find(|v| !v.is_null()))
    else {
        return;
    };
    let kfile = display(file);
    let Ok(k) = kustomize::kustomization::parse(&doc, &kfile) else {
        return;
    };
    let mut add = |rel: &str, format: Format, role: &'static str| {
        if is_remote(rel) {
            return;
        }
        if let Some(p) = normalize(&dir.join(rel)) {
            targets.entry(p).or_insert(Target {
                format,
                kustomization: kfile.clone(),
                role,
            });
        }
    };
    for g in &k.secret_generator {
        for f in &g.files {
            let (key, path) = f.split_once('=').unwrap_or((f, f));
            add(path, Format::for_path(key), "secretGenerator file");
        }
        for e in &g.envs {
            let format = match Format::for_path(e) {
                Format::Binary => Format::Dotenv,
                f => f,
            };
            add(e, format, "secretGenerator env file");
        }
    }
    for p in &k.patches {
        if let Some(path) = &p.path {
            add(path, Format::for_path(path), "patch");
        }
    }
    for r in k.resources.iter().chain(&k.components) {
        if is_remote(r) {
            continue;
        }
        if let Some(sub) = normalize(&dir.join(r)) {
            walk(fs, &sub, visited, targets, depth + 1);
        }
    }
}

impl FileSystem for DecryptingFs<'_> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        if let Some(p) = normalize(path).and_then(|p| self.plain.get(&p)) {
            return Ok(p.to_vec());
        }
        self.inner.read(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.inner.is_dir(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.inner.is_file(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.read_dir(path)
    }
}
