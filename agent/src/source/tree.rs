//! The verified git tree of a revision as a read-only [`kustomize::FileSystem`]: kustomize-rs
//! reads the manifests straight from the object database, nothing is checked out.

use std::io;
use std::path::{Component, Path};

use super::{MAX_FILE_BYTES, Snapshot, SourceError};

/// A commit's tree. Paths are relative to the repository root, `/`-separated.
pub struct TreeFs {
    repo: gix::Repository,
    tree: gix::ObjectId,
}

impl Snapshot {
    /// The revision's tree as a file system (for the render stage).
    ///
    /// # Errors
    /// A missing commit or tree.
    pub fn tree_fs(&self) -> Result<TreeFs, SourceError> {
        let repo = self.repo.to_thread_local();
        let fail = |message: String| SourceError::RepositoryFailed {
            url: self.url.clone(),
            message,
        };
        let tree = {
            let commit = repo
                .find_commit(self.revision.commit)
                .map_err(|e| fail(e.to_string()))?;
            commit.tree_id().map_err(|e| fail(e.to_string()))?.detach()
        };
        Ok(TreeFs { repo, tree })
    }
}

fn invalid(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("`{}`: {why}", path.display()),
    )
}

/// Normal components only: `..`, absolute paths and prefixes are the renderer's business (its
/// load restrictor), never resolved here.
fn components(path: &Path) -> io::Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => out.push(s.as_encoded_bytes()),
            Component::CurDir => {}
            _ => return Err(invalid(path, "not a path inside the repository")),
        }
    }
    Ok(out)
}

impl TreeFs {
    /// The entry at `path`: (mode, id); the root is a tree.
    fn entry(
        &self,
        path: &Path,
    ) -> io::Result<Option<(gix::object::tree::EntryMode, gix::ObjectId)>> {
        let parts = components(path)?;
        let root = self.repo.find_tree(self.tree).map_err(io::Error::other)?;
        if parts.is_empty() {
            return Ok(Some((gix::object::tree::EntryKind::Tree.into(), self.tree)));
        }
        let entry = root.lookup_entry(parts).map_err(io::Error::other)?;
        Ok(entry.map(|e| (e.mode(), e.object_id())))
    }
}

impl kustomize::FileSystem for TreeFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.entry(path)? {
            Some((mode, id)) if mode.is_blob() => {
                let blob = self.repo.find_blob(id).map_err(io::Error::other)?;
                if blob.data.len() > MAX_FILE_BYTES {
                    return Err(invalid(
                        path,
                        &format!(
                            "{} bytes, over the {MAX_FILE_BYTES}-byte limit",
                            blob.data.len()
                        ),
                    ));
                }
                Ok(blob.data.clone())
            }
            // A symlink could point anywhere (outside the repository, or to the agent's own
            // files): links are not followed.
            Some((mode, _)) if mode.is_link() => {
                Err(invalid(path, "is a symbolic link; links are not followed"))
            }
            Some(_) => Err(invalid(path, "is not a file")),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("`{}` not found", path.display()),
            )),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        matches!(self.entry(path), Ok(Some((mode, _))) if mode.is_tree())
    }

    fn is_file(&self, path: &Path) -> bool {
        matches!(self.entry(path), Ok(Some((mode, _))) if mode.is_blob())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let Some((mode, id)) = self.entry(path)? else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("`{}` not found", path.display()),
            ));
        };
        if !mode.is_tree() {
            return Err(invalid(path, "is not a directory"));
        }
        let tree = self.repo.find_tree(id).map_err(io::Error::other)?;
        let mut names = Vec::new();
        for e in tree.iter() {
            let e = e.map_err(io::Error::other)?;
            names.push(e.filename().to_string());
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_repository_should_be_refused() {
        assert!(components(Path::new("../etc/passwd")).is_err());
        assert!(components(Path::new("/etc/passwd")).is_err());
        assert_eq!(
            components(Path::new("./a/b")).unwrap(),
            vec![&b"a"[..], &b"b"[..]]
        );
        assert!(components(Path::new("")).unwrap().is_empty());
    }
}
