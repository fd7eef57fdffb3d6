//! Which revision of a repository an Application follows, and how it is named in status.

use std::fmt;

use crate::api::GitRef;

/// A validated `spec.source.ref`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// The tip of a branch.
    Branch(String),
    /// A tag (annotated or lightweight).
    Tag(String),
    /// The highest tag that parses as a semantic version inside the range.
    Semver {
        range: semver::VersionReq,
        text: String,
    },
    /// An exact commit.
    Commit(gix::ObjectId),
}

impl Reference {
    /// Validates a `GitRef`: exactly one field set (none means the branch `main`).
    ///
    /// # Errors
    /// A message naming the field at fault.
    pub fn parse(r: &GitRef) -> Result<Self, String> {
        let set = [
            r.branch.is_some(),
            r.tag.is_some(),
            r.semver.is_some(),
            r.commit.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set > 1 {
            return Err(
                "`spec.source.ref` must set only one of `branch`, `tag`, `semver`, `commit`".into(),
            );
        }
        if let Some(b) = &r.branch {
            check_ref_name("branch", b)?;
            return Ok(Reference::Branch(b.clone()));
        }
        if let Some(t) = &r.tag {
            check_ref_name("tag", t)?;
            return Ok(Reference::Tag(t.clone()));
        }
        if let Some(s) = &r.semver {
            return Ok(Reference::Semver {
                range: parse_semver_range(s)?,
                text: s.clone(),
            });
        }
        if let Some(c) = &r.commit {
            if c.len() != 40 || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "`spec.source.ref.commit` `{c}` is not a full 40-hex commit id"
                ));
            }
            let id = gix::ObjectId::from_hex(c.to_ascii_lowercase().as_bytes())
                .map_err(|e| format!("`spec.source.ref.commit` `{c}`: {e}"))?;
            return Ok(Reference::Commit(id));
        }
        Ok(Reference::Branch("main".into()))
    }

    /// The refspecs that bring this reference into a bare mirror, at the same ref names.
    pub fn refspecs(&self) -> Vec<String> {
        match self {
            Reference::Branch(b) => vec![format!("+refs/heads/{b}:refs/heads/{b}")],
            Reference::Tag(t) => vec![format!("+refs/tags/{t}:refs/tags/{t}")],
            Reference::Semver { .. } => vec!["+refs/tags/*:refs/tags/*".into()],
            Reference::Commit(_) => {
                vec![
                    "+refs/heads/*:refs/heads/*".into(),
                    "+refs/tags/*:refs/tags/*".into(),
                ]
            }
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Branch(b) => write!(f, "branch `{b}`"),
            Reference::Tag(t) => write!(f, "tag `{t}`"),
            Reference::Semver { text, .. } => write!(f, "semver `{text}`"),
            Reference::Commit(c) => write!(f, "commit `{c}`"),
        }
    }
}

/// A ref name must be a plain git ref component path: no `..`, no control characters, no glob.
fn check_ref_name(field: &str, name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with(".lock")
        || name.contains("..")
        || name.contains("//")
        || name.contains("@{")
        || name
            .bytes()
            .any(|b| b < 0x20 || b == 0x7f || b" ~^:?*[\\".contains(&b));
    if bad {
        return Err(format!(
            "`spec.source.ref.{field}` `{name}` is not a valid git ref name"
        ));
    }
    Ok(())
}

/// Parses a semver range as Flux and Helm users write it (`>=1.0 <2`, `1.2.x`, `~1.2`, `^1`):
/// comparators separated by spaces are joined with commas, as the `semver` crate wants.
///
/// # Errors
/// The range text and why it does not parse.
pub fn parse_semver_range(text: &str) -> Result<semver::VersionReq, String> {
    let mut parts: Vec<String> = Vec::new();
    for token in text.replace(',', " ").split_whitespace() {
        // `>= 1.0` (operator alone) belongs to the next token.
        match parts.last_mut() {
            Some(last) if last.chars().all(|c| "<>=~^".contains(c)) => last.push_str(token),
            _ => parts.push(token.to_owned()),
        }
    }
    if parts.is_empty() {
        return Err("`spec.source.ref.semver` is empty".into());
    }
    semver::VersionReq::parse(&parts.join(", "))
        .map_err(|e| format!("`spec.source.ref.semver` `{text}` is not a semver range: {e}"))
}

/// Picks the tag with the highest version inside `range`; a leading `v` is allowed. Pre-releases
/// match only when the range names one, as in the `semver` crate and Flux.
pub fn highest_matching_tag<'a>(
    range: &semver::VersionReq,
    tags: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    tags.into_iter()
        .filter_map(|t| {
            let v = semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok()?;
            range.matches(&v).then_some((v, t))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, t)| t)
}

/// A resolved source revision: `main@sha1:<hex>` in status, as Flux writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// The branch or tag name; `None` for an exact commit.
    pub name: Option<String>,
    /// The commit the tree is read from.
    pub commit: gix::ObjectId,
    /// The annotated tag object the reference points to, if it is one.
    pub tag: Option<gix::ObjectId>,
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n}@sha1:{}", self.commit),
            None => write!(f, "sha1:{}", self.commit),
        }
    }
}

/// The commit of a revision as written in status (`main@sha1:<hex>`, `sha1:<hex>`): the 40 hex
/// digits, or `None` when the text is not a revision.
pub fn revision_commit(revision: &str) -> Option<&str> {
    let (_, hex) = revision.rsplit_once("sha1:")?;
    (hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_should_give_their_commit() {
        let hex = "a".repeat(40);
        assert_eq!(
            revision_commit(&format!("main@sha1:{hex}")),
            Some(hex.as_str())
        );
        assert_eq!(revision_commit(&format!("sha1:{hex}")), Some(hex.as_str()));
        assert_eq!(revision_commit("main@sha1:abc"), None);
        assert_eq!(revision_commit(&format!("main@{hex}")), None);
    }

    fn gref(
        branch: Option<&str>,
        tag: Option<&str>,
        semver: Option<&str>,
        commit: Option<&str>,
    ) -> GitRef {
        GitRef {
            branch: branch.map(Into::into),
            tag: tag.map(Into::into),
            semver: semver.map(Into::into),
            commit: commit.map(Into::into),
        }
    }

    #[test]
    fn empty_ref_should_follow_main() {
        assert_eq!(
            Reference::parse(&GitRef::default()),
            Ok(Reference::Branch("main".into()))
        );
    }

    #[test]
    fn two_fields_should_be_refused() {
        let e = Reference::parse(&gref(Some("main"), Some("v1"), None, None)).unwrap_err();
        assert!(e.contains("only one of"), "{e}");
    }

    #[test]
    fn bad_names_should_be_refused() {
        for name in [
            "", "a..b", "-/", "a b", "x.lock", "/abs", "a:b", "a*", "a@{1}",
        ] {
            assert!(
                Reference::parse(&gref(Some(name), None, None, None)).is_err(),
                "{name}"
            );
        }
        assert!(Reference::parse(&gref(None, None, None, Some("abc"))).is_err());
        let ok = "0123456789abcdef0123456789abcdef01234567";
        assert!(matches!(
            Reference::parse(&gref(None, None, None, Some(ok))),
            Ok(Reference::Commit(_))
        ));
    }

    #[test]
    fn semver_ranges_should_accept_flux_spelling() {
        let r = parse_semver_range(">=1.0 <2").unwrap();
        assert!(r.matches(&semver::Version::new(1, 5, 0)));
        assert!(!r.matches(&semver::Version::new(2, 0, 0)));
        assert!(parse_semver_range(">= 1.0, < 2").is_ok());
        assert!(parse_semver_range("").is_err());
        assert!(parse_semver_range("banana").is_err());
    }

    #[test]
    fn highest_matching_tag_should_skip_non_versions_and_prereleases() {
        let r = parse_semver_range(">=1.0 <2").unwrap();
        let tags = [
            "v1.0.0",
            "v1.10.0",
            "v1.9.3",
            "v2.0.0",
            "latest",
            "v1.11.0-rc.1",
        ];
        assert_eq!(highest_matching_tag(&r, tags), Some("v1.10.0"));
        assert_eq!(
            highest_matching_tag(&parse_semver_range(">=3").unwrap(), tags),
            None
        );
    }

    #[test]
    fn revisions_should_print_like_flux() {
        let id = gix::ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        let r = Revision {
            name: Some("main".into()),
            commit: id,
            tag: None,
        };
        assert_eq!(
            r.to_string(),
            "main@sha1:0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(
            Revision {
                name: None,
                commit: id,
                tag: None,
            }
            .to_string(),
            "sha1:0123456789abcdef0123456789abcdef01234567"
        );
    }
}
