//! The `sops` metadata of a file: where the data key is (key groups, Shamir threshold), which
//! values are encrypted (one of `unencrypted_suffix`, `encrypted_suffix`, `unencrypted_regex`,
//! `encrypted_regex`; `_unencrypted` suffix by default), `mac_only_encrypted`, `lastmodified`
//! and the encrypted `mac`. Read with mapstructure's weak typing, as sops does.

use std::collections::BTreeMap;

use regex::Regex;

use crate::Error;
use crate::gotime::GoTime;
use crate::tree::{Branches, Entry, Node};

/// Which values are encrypted.
#[derive(Clone, Debug)]
pub enum Rules {
    /// Every value except those under a key ending with the suffix (`_unencrypted` by default).
    UnencryptedSuffix(String),
    /// Only values under a key ending with the suffix.
    EncryptedSuffix(String),
    /// Every value except those under a key matching.
    UnencryptedRegex(Regex),
    /// Only values under a key matching.
    EncryptedRegex(Regex),
}

impl Rules {
    /// sops' `shouldBeEncrypted` for a value at `path` (the keys above it; list indices are not
    /// part of it).
    pub fn should_encrypt(&self, path: &[String]) -> bool {
        match self {
            Rules::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            Rules::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            Rules::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            Rules::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
        }
    }
}

/// A key able to decrypt the data key (or its Shamir part).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKey {
    /// An age recipient (`age1…`) and the data key encrypted to it (armored).
    Age {
        /// The recipient.
        recipient: String,
        /// `-----BEGIN AGE ENCRYPTED FILE-----…`
        enc: String,
    },
    /// An OpenPGP key and the data key encrypted to it (armored message).
    Pgp {
        /// Its fingerprint, as sops wrote it.
        fingerprint: String,
        /// `-----BEGIN PGP MESSAGE-----…`
        enc: String,
    },
    /// A cloud KMS or Vault key: not supported in the agent.
    Other {
        /// `kms`, `gcp_kms`, `azure_kv`, `hc_vault`, `hckms`.
        kind: &'static str,
        /// Its ARN, resource id, URL or key name.
        id: String,
    },
}

impl MasterKey {
    /// How the key is named in messages.
    pub fn describe(&self) -> String {
        match self {
            MasterKey::Age { recipient, .. } => format!("age recipient `{recipient}`"),
            MasterKey::Pgp { fingerprint, .. } => format!("OpenPGP key `{fingerprint}`"),
            MasterKey::Other { kind, id } => format!("{kind} key `{id}`"),
        }
    }
}

/// The metadata of one file.
#[derive(Clone, Debug)]
pub struct Metadata {
    /// When the file was last encrypted: the MAC's additional data (`Format(RFC3339)`).
    pub last_modified: GoTime,
    /// The encrypted MAC.
    pub mac: String,
    /// Which values are encrypted.
    pub rules: Rules,
    /// The MAC covers only the encrypted values.
    pub mac_only_encrypted: bool,
    /// sops' version.
    pub version: String,
    /// The key groups; with several, the data key is split with Shamir's scheme.
    pub key_groups: Vec<Vec<MasterKey>>,
    /// How many groups are needed (0: all of them).
    pub shamir_threshold: usize,
}

fn meta_err(m: impl Into<String>) -> Error {
    Error::Metadata(m.into())
}

/// A mapstructure weakly-typed string.
fn weak_string(field: &str, n: &Node) -> Result<String, Error> {
    Ok(match n {
        Node::Str(s) => s.clone(),
        Node::Int(i) => i.to_string(),
        Node::Float(f) => crate::tree::go_format_float_f(*f),
        Node::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        Node::Null => String::new(),
        other => {
            return Err(meta_err(format!(
                "`{field}` is a {}, expected a string",
                other.type_name()
            )));
        }
    })
}

fn weak_bool(field: &str, n: &Node) -> Result<bool, Error> {
    Ok(match n {
        Node::Bool(b) => *b,
        Node::Int(i) => *i != 0,
        Node::Float(f) => *f != 0.0,
        Node::Null => false,
        Node::Str(s) if s.is_empty() => false,
        Node::Str(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err(meta_err(format!("`{field}` is not a boolean"))),
        },
        other => {
            return Err(meta_err(format!(
                "`{field}` is a {}, expected a boolean",
                other.type_name()
            )));
        }
    })
}

fn weak_int(field: &str, n: &Node) -> Result<i64, Error> {
    Ok(match n {
        Node::Int(i) => *i,
        #[allow(clippy::cast_possible_truncation, reason = "mapstructure truncates")]
        Node::Float(f) => *f as i64,
        Node::Bool(b) => i64::from(*b),
        Node::Null => 0,
        Node::Str(s) if s.is_empty() => 0,
        Node::Str(s) => crate::yaml::go_parse_int(s)
            .and_then(|i| i64::try_from(i).ok())
            .ok_or_else(|| meta_err(format!("`{field}` is not an integer")))?,
        other => {
            return Err(meta_err(format!(
                "`{field}` is a {}, expected an integer",
                other.type_name()
            )));
        }
    })
}

fn map_of(n: &Node) -> Option<BTreeMap<&str, &Node>> {
    match n {
        Node::Map(es) => Some(
            es.iter()
                .filter_map(|e| match e {
                    Entry::Pair(k, v) => Some((k.as_str(), v)),
                    Entry::Comment(_) => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// A list of maps (a single map is a list of one under weak typing).
fn list_of_maps<'a>(field: &str, n: &'a Node) -> Result<Vec<BTreeMap<&'a str, &'a Node>>, Error> {
    match n {
        Node::Null => Ok(Vec::new()),
        Node::List(items) => items
            .iter()
            .map(|i| map_of(i).ok_or_else(|| meta_err(format!("`{field}` must hold maps"))))
            .collect(),
        Node::Map(_) => Ok(map_of(n).into_iter().collect()),
        _ => Err(meta_err(format!("`{field}` must be a list"))),
    }
}

fn field<'a>(m: &BTreeMap<&str, &'a Node>, k: &str) -> &'a Node {
    m.get(k).copied().unwrap_or(&Node::Null)
}

fn created_at(kind: &str, m: &BTreeMap<&str, &Node>) -> Result<(), Error> {
    let s = weak_string("created_at", field(m, "created_at"))?;
    GoTime::parse_rfc3339(&s).map(|_| ()).ok_or_else(|| {
        meta_err(format!(
            "a {kind} key's `created_at` is not an RFC 3339 time"
        ))
    })
}

const KINDS: [(&str, &str); 7] = [
    ("kms", "arn"),
    ("gcp_kms", "resource_id"),
    ("hckms", "key_id"),
    ("azure_kv", "vault_url"),
    ("hc_vault", "vault_address"),
    ("pgp", "fp"),
    ("age", "recipient"),
];

fn kind_name(k: &str) -> &'static str {
    match k {
        "kms" => "kms",
        "gcp_kms" => "gcp_kms",
        "hckms" => "hckms",
        "azure_kv" => "azure_kv",
        "hc_vault" => "hc_vault",
        "pgp" => "pgp",
        _ => "age",
    }
}

/// One group from the key lists of `m` (the top level or a `key_groups` entry), in sops' order
/// (cloud keys, then pgp, then age; decryption tries age first anyway).
fn group(m: &BTreeMap<&str, &Node>) -> Result<Vec<MasterKey>, Error> {
    let mut keys = Vec::new();
    for (kind, id_field) in KINDS {
        for k in list_of_maps(kind, field(m, kind))? {
            let id = weak_string(id_field, field(&k, id_field))?;
            let enc = weak_string("enc", field(&k, "enc"))?;
            keys.push(match kind {
                "age" => MasterKey::Age { recipient: id, enc },
                "pgp" => {
                    created_at(kind, &k)?;
                    MasterKey::Pgp {
                        fingerprint: id,
                        enc,
                    }
                }
                other => {
                    created_at(other, &k)?;
                    let id = if other == "hc_vault" {
                        format!(
                            "{}/v1/{}/keys/{}",
                            id,
                            weak_string("engine_path", field(&k, "engine_path"))?,
                            weak_string("key_name", field(&k, "key_name"))?
                        )
                    } else {
                        id
                    };
                    MasterKey::Other {
                        kind: kind_name(other),
                        id,
                    }
                }
            });
        }
    }
    Ok(keys)
}

fn compile(field: &str, pattern: &str) -> Result<Regex, Error> {
    Regex::new(pattern)
        .map_err(|e| meta_err(format!("`{field}` is not a valid regular expression: {e}")))
}

/// Reads the metadata map.
fn from_map(m: &BTreeMap<&str, &Node>) -> Result<Metadata, Error> {
    let s = |k: &str| weak_string(k, field(m, k));
    let last = s("lastmodified")?;
    let last_modified = GoTime::parse_rfc3339(&last)
        .ok_or_else(|| meta_err("`lastmodified` is not an RFC 3339 time"))?;
    let top = group(m)?;
    let key_groups = if !top.is_empty() {
        vec![top]
    } else {
        let groups = list_of_maps("key_groups", field(m, "key_groups"))?
            .iter()
            .map(group)
            .collect::<Result<Vec<_>, _>>()?;
        if groups.is_empty() {
            return Err(meta_err("no keys found in the file"));
        }
        groups
    };
    let (us, es, ur, er) = (
        s("unencrypted_suffix")?,
        s("encrypted_suffix")?,
        s("unencrypted_regex")?,
        s("encrypted_regex")?,
    );
    let (ucr, ecr) = (
        s("unencrypted_comment_regex")?,
        s("encrypted_comment_regex")?,
    );
    let count = [&us, &es, &ur, &er, &ucr, &ecr]
        .iter()
        .filter(|v| !v.is_empty())
        .count();
    if count > 1 {
        return Err(meta_err(
            "cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file",
        ));
    }
    if !ucr.is_empty() || !ecr.is_empty() {
        return Err(Error::Unsupported(
            "files encrypted with `encrypted_comment_regex` or `unencrypted_comment_regex` (comments decide what is encrypted there, and comments are not read)".into(),
        ));
    }
    let rules = if !us.is_empty() {
        Rules::UnencryptedSuffix(us)
    } else if !es.is_empty() {
        Rules::EncryptedSuffix(es)
    } else if !ur.is_empty() {
        Rules::UnencryptedRegex(compile("unencrypted_regex", &ur)?)
    } else if !er.is_empty() {
        Rules::EncryptedRegex(compile("encrypted_regex", &er)?)
    } else {
        Rules::UnencryptedSuffix("_unencrypted".into())
    };
    let threshold = weak_int("shamir_threshold", field(m, "shamir_threshold"))?;
    Ok(Metadata {
        last_modified,
        mac: s("mac")?,
        rules,
        mac_only_encrypted: weak_bool("mac_only_encrypted", field(m, "mac_only_encrypted"))?,
        version: s("version")?,
        key_groups,
        shamir_threshold: usize::try_from(threshold)
            .map_err(|_| meta_err("`shamir_threshold` is negative"))?,
    })
}

/// Takes the `sops` entry out of every document (YAML, JSON): the metadata is the first
/// document's.
///
/// # Errors
/// No `sops` entry in the first document, two of them, one that is not a map, or invalid
/// metadata.
pub fn extract(branches: &mut Branches) -> Result<Metadata, Error> {
    let mut found: Option<Node> = None;
    for (bi, branch) in branches.iter_mut().enumerate() {
        let mut i = 0;
        while i < branch.len() {
            if matches!(&branch[i], Entry::Pair(k, _) if k == "sops") {
                let Entry::Pair(_, v) = branch.remove(i) else {
                    continue;
                };
                if bi == 0 {
                    if found.is_some() {
                        return Err(meta_err("found a duplicate `sops` entry"));
                    }
                    if !matches!(v, Node::Map(_)) {
                        return Err(meta_err("found a `sops` entry that is not a map"));
                    }
                    found = Some(v);
                }
            } else {
                i += 1;
            }
        }
    }
    let node = found.ok_or(Error::NotEncrypted)?;
    let m = map_of(&node).unwrap_or_default();
    from_map(&m)
}

enum Token {
    Key(String),
    Index(usize),
}

/// sops' `tokenize`: `age__list_0__map_enc` → `age`, 0, `enc`.
fn tokenize(path: &str) -> Vec<Token> {
    const MAP: &str = "__map_";
    const LIST: &str = "__list_";
    let mut tokens = Vec::new();
    let mut rest = path;
    let mut state_list = false;
    let mut first = true;
    loop {
        let next_map = rest.find(MAP);
        let next_list = rest.find(LIST);
        let (end, sep) = match (next_map, next_list) {
            (Some(m), Some(l)) if m <= l => (m, MAP),
            (Some(_), Some(l)) => (l, LIST),
            (Some(m), None) => (m, MAP),
            (None, Some(l)) => (l, LIST),
            (None, None) => (rest.len(), ""),
        };
        let text = &rest[..end];
        tokens.push(if state_list && !first {
            Token::Index(text.parse().unwrap_or(0))
        } else {
            Token::Key(text.to_owned())
        });
        first = false;
        if sep.is_empty() {
            break;
        }
        state_list = sep == LIST;
        rest = &rest[end + sep.len()..];
    }
    tokens
}

#[derive(Default)]
struct Place {
    value: Option<Node>,
    keys: BTreeMap<String, Place>,
    indices: BTreeMap<usize, Place>,
}

fn convert(p: Place) -> Result<Node, Error> {
    let kinds = usize::from(p.value.is_some())
        + usize::from(!p.keys.is_empty())
        + usize::from(!p.indices.is_empty());
    if kinds > 1 {
        return Err(meta_err("flattened metadata: type mismatch"));
    }
    if let Some(v) = p.value {
        return Ok(v);
    }
    if !p.indices.is_empty() {
        let n = p.indices.len();
        if p.indices.keys().next_back() != Some(&(n - 1)) {
            return Err(meta_err("flattened metadata: incomplete list"));
        }
        return Ok(Node::List(
            p.indices
                .into_values()
                .map(convert)
                .collect::<Result<_, _>>()?,
        ));
    }
    Ok(Node::Map(
        p.keys
            .into_iter()
            .map(|(k, v)| Ok(Entry::Pair(k, convert(v)?)))
            .collect::<Result<_, Error>>()?,
    ))
}

/// Takes the `sops_…` entries out of a dotenv document and unflattens them.
///
/// # Errors
/// No `sops_` entry, a malformed flattened key, or invalid metadata.
pub fn extract_flat(branch: &mut Vec<Entry>) -> Result<Metadata, Error> {
    let mut root = Place::default();
    let mut any = false;
    let mut kept = Vec::with_capacity(branch.len());
    for e in branch.drain(..) {
        match e {
            Entry::Pair(k, v) if k.starts_with("sops_") => {
                any = true;
                let mut cur = &mut root;
                for t in tokenize(&k["sops_".len()..]) {
                    cur = match t {
                        Token::Key(k) => cur.keys.entry(k).or_default(),
                        Token::Index(i) => cur.indices.entry(i).or_default(),
                    };
                }
                if cur.value.is_some() {
                    return Err(meta_err(format!(
                        "flattened metadata: duplicate value for `{k}`"
                    )));
                }
                cur.value = Some(v);
            }
            other => kept.push(other),
        }
    }
    *branch = kept;
    if !any {
        return Err(Error::NotEncrypted);
    }
    let node = convert(root)?;
    let m = map_of(&node).unwrap_or_default();
    from_map(&m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_and_regex_rules_should_follow_sops() {
        let p = |xs: &[&str]| xs.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let r = Rules::UnencryptedSuffix("_unencrypted".into());
        assert!(r.should_encrypt(&p(&["a", "b"])));
        assert!(!r.should_encrypt(&p(&["a_unencrypted", "b"])));
        let r = Rules::EncryptedRegex(Regex::new("^(data|stringData)$").unwrap());
        assert!(r.should_encrypt(&p(&["data", "password"])));
        assert!(!r.should_encrypt(&p(&["metadata", "name"])));
        let r = Rules::UnencryptedRegex(Regex::new("^metadata$").unwrap());
        assert!(!r.should_encrypt(&p(&["metadata", "name"])));
        let r = Rules::EncryptedSuffix("_secret".into());
        assert!(r.should_encrypt(&p(&["db_secret", "x"])));
        assert!(!r.should_encrypt(&p(&[])));
    }

    #[test]
    fn flattened_keys_should_unflatten() {
        let mut branch = crate::dotenv::load(
            "A=1\nsops_age__list_0__map_recipient=age1x\nsops_age__list_0__map_enc=E\nsops_lastmodified=2024-01-01T00:00:00Z\nsops_mac=M\nsops_version=3.13.3\nsops_mac_only_encrypted=true\nsops_unencrypted_suffix=_unencrypted\n",
        )
        .unwrap();
        let m = extract_flat(&mut branch).unwrap();
        assert_eq!(branch.len(), 1);
        assert!(m.mac_only_encrypted);
        assert_eq!(
            m.key_groups,
            vec![vec![MasterKey::Age {
                recipient: "age1x".into(),
                enc: "E".into()
            }]]
        );
    }

    #[test]
    fn invalid_metadata_should_be_refused() {
        let doc = |extra: &str| {
            format!(
                "a: 1\nsops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: M\n    age:\n        - recipient: r\n          enc: e\n{extra}"
            )
        };
        let load = |s: &str| extract(&mut crate::yaml::load(s).unwrap());
        assert!(load(&doc("")).is_ok());
        for (extra, why) in [
            (
                "    encrypted_regex: a\n    unencrypted_suffix: b\n",
                "more than one",
            ),
            ("    encrypted_comment_regex: a\n", "comment"),
            ("    encrypted_regex: '('\n", "regular expression"),
            ("    shamir_threshold: -1\n", "negative"),
        ] {
            let e = load(&doc(extra)).unwrap_err().to_string();
            assert!(e.contains(why), "{extra}: {e}");
        }
        assert!(matches!(
            extract(&mut crate::yaml::load("a: 1\n").unwrap()),
            Err(Error::NotEncrypted)
        ));
        let e = load("sops:\n    lastmodified: yesterday\n").unwrap_err();
        assert!(e.to_string().contains("lastmodified"), "{e}");
        let e = load("sops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n").unwrap_err();
        assert!(e.to_string().contains("no keys"), "{e}");
        let e = load("sops: 3\n").unwrap_err();
        assert!(e.to_string().contains("not a map"), "{e}");
    }
}
