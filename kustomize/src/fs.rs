//! The file system the renderer reads through: the agent plugs in a verified git tree, the CLI
//! the local disk, tests and fuzzers an in-memory map. Paths are relative and `/`-separated.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Read-only access to a tree of files.
pub trait FileSystem {
    /// The bytes of the file at `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// The names of the entries of the directory at `path`, sorted.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>>;
}

/// The local disk below `root`. Paths that leave `root` are refused: root it at the repository
/// (or at `/` to let bases live anywhere, as the kustomize CLI does).
#[derive(Debug, Clone)]
pub struct DiskFs {
    root: PathBuf,
}

impl DiskFs {
    /// A file system rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DiskFs { root: root.into() }
    }

    fn full(&self, path: &Path) -> io::Result<PathBuf> {
        let escapes = || io::Error::new(io::ErrorKind::PermissionDenied, "path escapes the root");
        let clean = normalize(path).ok_or_else(escapes)?;
        let full = self.root.join(clean);
        // Symbolic links may not lead out of the root either.
        if let (Ok(real), Ok(root)) = (
            std::fs::canonicalize(&full),
            std::fs::canonicalize(&self.root),
        ) && !real.starts_with(&root)
        {
            return Err(escapes());
        }
        Ok(full)
    }
}

impl FileSystem for DiskFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(self.full(path)?)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.full(path).map(|p| p.is_dir()).unwrap_or(false)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.full(path).map(|p| p.is_file()).unwrap_or(false)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(self.full(path)?)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
}

/// An in-memory tree: a map from relative path to contents. Directories are implied by files.
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemFs {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn add(&mut self, path: &str, contents: impl Into<Vec<u8>>) -> &mut Self {
        let key = normalize(Path::new(path))
            .map(|p| path_key(&p))
            .unwrap_or_else(|| path.to_string());
        self.files.insert(key, contents.into());
        self
    }
}

fn path_key(p: &Path) -> String {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl FileSystem for MemFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let key = normalize(path).map(|p| path_key(&p)).unwrap_or_default();
        self.files
            .get(&key)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }
    fn is_dir(&self, path: &Path) -> bool {
        let Some(key) = normalize(path).map(|p| path_key(&p)) else {
            return false;
        };
        if key.is_empty() {
            return true;
        }
        let prefix = format!("{key}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }
    fn is_file(&self, path: &Path) -> bool {
        normalize(path)
            .map(|p| path_key(&p))
            .is_some_and(|k| self.files.contains_key(&k))
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let key = normalize(path).map(|p| path_key(&p)).unwrap_or_default();
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        let mut names: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('/').next().map(str::to_string))
            .collect();
        names.dedup();
        Ok(names)
    }
}

/// Lexically cleans a relative path (`.` and `..` resolved). `None` when it climbs above its
/// starting point or is absolute.
pub fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

/// The `/`-separated display form of a relative path.
pub fn display(p: &Path) -> String {
    let s = path_key(p);
    if s.is_empty() { ".".into() } else { s }
}
