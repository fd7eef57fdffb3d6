//! Registry credentials from a `kubernetes.io/dockerconfigjson` Secret (its `.dockerconfigjson`
//! key, the format of `~/.docker/config.json`).

use crate::error::PolicyError;
use base64::Engine;
use std::collections::BTreeMap;
use std::fmt;

/// Largest `.dockerconfigjson` accepted.
pub const MAX_DOCKER_CONFIG_SIZE: usize = 1024 * 1024;

/// How to authenticate to one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// HTTP basic, or the password exchanged for a bearer token when the registry asks
    /// (`oci-client` does the token dance).
    Basic { username: String, password: String },
    /// A registry token sent as is (`registrytoken`).
    Bearer(String),
}

// Never print secrets, not even in debug logs.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

/// Credentials per registry host (`registry.example`, `127.0.0.1:5000`, `docker.io`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    by_host: BTreeMap<String, Credential>,
}

impl Credentials {
    /// No credentials: anonymous pulls (and anonymous bearer tokens).
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses `.dockerconfigjson` (`{"auths": {"host": {"auth": base64(user:password)}}}`, or
    /// `username`/`password`, or `registrytoken`). Keys may be hosts or URLs
    /// (`https://index.docker.io/v1/`); Docker Hub's aliases all become `docker.io`.
    /// The legacy `.dockercfg` form (the `auths` map itself) is read too.
    ///
    /// # Errors
    /// [`PolicyError::InvalidPullSecret`] naming the registry entry; a secret value is never
    /// part of a message.
    pub fn from_docker_config_json(bytes: &[u8]) -> Result<Self, PolicyError> {
        let invalid = |why: String| PolicyError::InvalidPullSecret { why };
        if bytes.len() > MAX_DOCKER_CONFIG_SIZE {
            return Err(invalid(format!(
                "over the {MAX_DOCKER_CONFIG_SIZE} byte limit"
            )));
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let auths = match value.get("auths") {
            Some(a) => a,
            None => &value,
        };
        let auths = auths
            .as_object()
            .ok_or_else(|| invalid("`auths` is not an object".into()))?;
        let mut by_host = BTreeMap::new();
        for (key, entry) in auths {
            let host = normalize_host(key);
            if host.is_empty() {
                return Err(invalid(format!("registry `{key}`: no host")));
            }
            let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).unwrap_or("");
            let credential = if !field("auth").is_empty() {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(field("auth").trim())
                    .map_err(|_| invalid(format!("registry `{key}`: `auth` is not base64")))?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| invalid(format!("registry `{key}`: `auth` is not UTF-8")))?;
                let (username, password) = decoded.split_once(':').ok_or_else(|| {
                    invalid(format!("registry `{key}`: `auth` is not `user:password`"))
                })?;
                Credential::Basic {
                    username: username.to_owned(),
                    password: password.to_owned(),
                }
            } else if !field("username").is_empty() {
                Credential::Basic {
                    username: field("username").to_owned(),
                    password: field("password").to_owned(),
                }
            } else if !field("registrytoken").is_empty() {
                Credential::Bearer(field("registrytoken").to_owned())
            } else if !field("identitytoken").is_empty() {
                return Err(invalid(format!(
                    "registry `{key}`: `identitytoken` (OAuth refresh token) is not supported: use `auth` or `username`/`password`"
                )));
            } else {
                return Err(invalid(format!(
                    "registry `{key}`: no `auth`, `username`/`password` or `registrytoken`"
                )));
            };
            by_host.insert(host, credential);
        }
        Ok(Credentials { by_host })
    }

    /// Adds or replaces the credential of `host`.
    pub fn insert(&mut self, host: &str, credential: Credential) {
        self.by_host.insert(normalize_host(host), credential);
    }

    /// The credential for a registry host, if any.
    pub fn for_registry(&self, registry: &str) -> Option<&Credential> {
        self.by_host.get(&normalize_host(registry))
    }

    /// The hosts that have a credential.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.by_host.keys().map(String::as_str)
    }
}

/// `https://Registry.example:5000/v1/` → `registry.example:5000`; Docker Hub's names →
/// `docker.io`.
fn normalize_host(key: &str) -> String {
    let key = key.trim().to_ascii_lowercase();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(&key);
    let host = key.split('/').next().unwrap_or("").to_owned();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> Credential {
        Credential::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn auth_entries_should_parse_per_host() {
        let json = br#"{"auths": {
            "registry.example": {"auth": "YWxpY2U6czNjcjN0OndpdGgtY29sb24="},
            "https://index.docker.io/v1/": {"username": "bob", "password": "pw"},
            "HTTP://127.0.0.1:5000/": {"registrytoken": "tok"}
        }}"#;
        let c = Credentials::from_docker_config_json(json).unwrap();
        assert_eq!(
            c.for_registry("registry.example"),
            Some(&basic("alice", "s3cr3t:with-colon"))
        );
        assert_eq!(c.for_registry("docker.io"), Some(&basic("bob", "pw")));
        assert_eq!(c.for_registry("index.docker.io"), Some(&basic("bob", "pw")));
        assert_eq!(
            c.for_registry("127.0.0.1:5000"),
            Some(&Credential::Bearer("tok".into()))
        );
        assert_eq!(c.for_registry("other.example"), None);
        assert_eq!(c.hosts().count(), 3);
    }

    #[test]
    fn legacy_dockercfg_should_parse() {
        let json = br#"{"registry.example": {"auth": "dTpw"}}"#;
        let c = Credentials::from_docker_config_json(json).unwrap();
        assert_eq!(c.for_registry("registry.example"), Some(&basic("u", "p")));
    }

    #[test]
    fn bad_secrets_should_be_refused_without_their_values() {
        let cases: [(&[u8], &str); 7] = [
            (b"not json", "not JSON"),
            (br#"{"auths": []}"#, "not an object"),
            (br#"{"auths": {"r": {"auth": "%%%"}}}"#, "not base64"),
            (
                br#"{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}"#,
                "not `user:password`",
            ),
            (
                br#"{"auths": {"r": {"identitytoken": "x"}}}"#,
                "identitytoken",
            ),
            (br#"{"auths": {"r": {}}}"#, "no `auth`"),
            (br#"{"auths": {"": {"auth": "dTpw"}}}"#, "no host"),
        ];
        for (json, want) in cases {
            let e = Credentials::from_docker_config_json(json).unwrap_err();
            assert!(e.to_string().contains(want), "{e} (wanted {want})");
        }
        let big = vec![b' '; MAX_DOCKER_CONFIG_SIZE + 1];
        assert!(Credentials::from_docker_config_json(&big).is_err());
    }

    #[test]
    fn debug_output_should_hide_secrets() {
        let shown = format!(
            "{:?} {:?}",
            basic("u", "hunter2"),
            Credential::Bearer("tok".into())
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok"),
            "{shown}"
        );
    }
}
