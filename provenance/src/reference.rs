//! Image references: parsing (docker's grammar, through `oci-client`), normal forms, digest
//! pinning, and the glob and allow-list matching the policy uses.

use crate::error::ImageError;
use oci_client::Reference;

/// A parsed image reference, with the string it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    original: String,
    reference: Reference,
}

impl ImageRef {
    /// Parses an image reference as Kubernetes reads it (`nginx`, `nginx:1.27`,
    /// `registry:5000/team/app@sha256:…`). Only `sha256` digests are accepted.
    ///
    /// # Errors
    /// [`ImageError::InvalidReference`] naming the string.
    pub fn parse(image: &str) -> Result<Self, ImageError> {
        let invalid = |why: String| ImageError::InvalidReference {
            image: image.to_owned(),
            why,
        };
        if image.trim() != image {
            return Err(invalid("leading or trailing white space".into()));
        }
        let reference = Reference::try_from(image).map_err(|e| invalid(e.to_string()))?;
        if reference
            .repository()
            .bytes()
            .any(|b| b.is_ascii_uppercase())
        {
            return Err(invalid("repository name must be lowercase".into()));
        }
        if let Some(d) = reference.digest()
            && !is_sha256_digest(d)
        {
            return Err(invalid(format!("digest `{d}` is not sha256")));
        }
        Ok(ImageRef {
            original: image.to_owned(),
            reference,
        })
    }

    /// The string as written.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The registry host (`docker.io` for Docker Hub images), with its port if any.
    pub fn registry(&self) -> &str {
        self.reference.registry()
    }

    /// The repository path in the registry (`library/nginx`).
    pub fn repository(&self) -> &str {
        self.reference.repository()
    }

    /// The tag, when there is no digest (`latest` when neither is written).
    pub fn tag(&self) -> Option<&str> {
        self.reference.tag()
    }

    /// The digest written in the reference, if any (it wins over the tag).
    pub fn digest(&self) -> Option<&str> {
        self.reference.digest()
    }

    /// `registry/repository`, the name the policy's globs and cosign's identity use.
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    /// The fully qualified form `registry/repository[:tag][@digest]` the rules' globs match.
    pub fn normalized(&self) -> String {
        self.reference.whole()
    }

    /// The reference pinned to `digest`: the name as written, without tag, `@digest`
    /// (`127.0.0.1:5000/app:v1` → `127.0.0.1:5000/app@sha256:…`).
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", name_part(&self.original))
    }
}

/// The name of a reference as written: without `@digest` and without `:tag`.
fn name_part(image: &str) -> &str {
    let name = image.split_once('@').map_or(image, |(n, _)| n);
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].find(':') {
        Some(colon) => &name[..last_slash + colon],
        None => name,
    }
}

/// `sha256:` followed by 64 lower-case hex digits.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The tag cosign stores the signatures of `digest` under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// Kyverno-style wildcard match: `*` matches any run of characters (`/` included), `?` one
/// character; everything else literally. The whole text must match.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // The position after the last `*`, and where in the text it started matching: on a
    // mismatch, that star absorbs one more character (linear backtracking, no recursion).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi + 1, ti));
            pi += 1;
        } else if let Some((after_star, matched_from)) = star {
            pi = after_star;
            ti = matched_from + 1;
            star = Some((after_star, matched_from + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether an `allowedRegistries` entry admits the image. An entry without `/` names a registry
/// host (globs allowed: `*.example`, `127.0.0.1:*`); an entry with `/` names a registry and a
/// repository prefix (`registry.example/team-a` admits `registry.example/team-a/app`).
pub fn registry_allowed(entry: &str, image: &ImageRef) -> bool {
    let entry = entry.trim_end_matches('/');
    if entry.is_empty() {
        return false;
    }
    if !entry.contains('/') {
        return glob_match(entry, image.registry());
    }
    let name = image.repository_name();
    glob_match(entry, &name)
        || name
            .strip_prefix(entry)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_short_names_should_normalize() {
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/nginx");
        assert_eq!(r.normalized(), "docker.io/library/nginx:latest");
        assert_eq!(r.repository_name(), "docker.io/library/nginx");
    }

    #[test]
    fn registry_with_port_and_tag_should_parse() {
        let r = ImageRef::parse("127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.digest(), None);
    }

    #[test]
    fn invalid_references_should_be_refused_with_the_image() {
        for bad in ["", "UPPER/case", "app:", "a b", " app", "app@sha256:12"] {
            let e = ImageRef::parse(bad).unwrap_err();
            assert_eq!(e.reason(), "InvalidReference", "{bad}");
            assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
        }
        let sha512 = format!("app@sha512:{}", "a".repeat(128));
        assert!(ImageRef::parse(&sha512).is_err());
    }

    #[test]
    fn pinning_should_keep_the_name_as_written_and_drop_the_tag() {
        let pin = |s: &str| ImageRef::parse(s).unwrap().pinned(D);
        assert_eq!(pin("nginx"), format!("nginx@{D}"));
        assert_eq!(pin("nginx:1.27"), format!("nginx@{D}"));
        assert_eq!(
            pin("127.0.0.1:5000/app:v1"),
            format!("127.0.0.1:5000/app@{D}")
        );
        assert_eq!(pin("localhost:5000/a/b"), format!("localhost:5000/a/b@{D}"));
        assert_eq!(
            pin(&format!("r.example/app:v1@{D}")),
            format!("r.example/app@{D}")
        );
    }

    #[test]
    fn signature_tag_should_follow_cosign() {
        assert_eq!(
            signature_tag(D),
            "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig"
        );
        assert!(is_sha256_digest(D));
        assert!(!is_sha256_digest("sha256:ABC"));
        assert!(!is_sha256_digest(&D.to_uppercase()));
    }

    #[test]
    fn glob_should_match_like_kyverno() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "a/b:c"));
        assert!(glob_match(
            "registry.example/team-a/*",
            "registry.example/team-a/app:v1"
        ));
        assert!(glob_match(
            "registry.example/*",
            "registry.example/team-a/app:v1"
        ));
        assert!(!glob_match(
            "registry.example/team-a/*",
            "registry.example/team-b/app:v1"
        ));
        assert!(glob_match("*/app:v?", "x/app:v1"));
        assert!(!glob_match("*/app:v?", "x/app:v10"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("**a", "bba"));
        assert!(!glob_match("", "a"));
        assert!(glob_match("é*", "éa"));
    }

    #[test]
    fn allowed_registries_should_match_hosts_and_repository_prefixes() {
        let img = ImageRef::parse("registry.example/team-a/app:v1").unwrap();
        assert!(registry_allowed("registry.example", &img));
        assert!(registry_allowed("*.example", &img));
        assert!(registry_allowed("registry.example/team-a", &img));
        assert!(registry_allowed("registry.example/team-a/", &img));
        assert!(!registry_allowed("registry.example/team", &img));
        assert!(!registry_allowed("registry.example/team-b", &img));
        assert!(!registry_allowed("registry.examplе", &img));
        assert!(!registry_allowed("other.example", &img));
        assert!(!registry_allowed("", &img));
        // A host entry never matches a longer host through a prefix.
        let evil = ImageRef::parse("registry.example.evil/team-a/app").unwrap();
        assert!(!registry_allowed("registry.example", &evil));
        assert!(!registry_allowed("registry.example/team-a", &evil));
    }
}
