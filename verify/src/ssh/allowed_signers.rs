//! The `allowed_signers` file of git and `ssh-keygen -Y` (ssh-keygen(1), "ALLOWED SIGNERS").
//!
//! ```text
//! # principals           options                         key
//! alice@example.org      namespaces="git"                ssh-ed25519 AAAA… comment
//! *@example.org,!eve@example.org valid-after="20240101"  ecdsa-sha2-nistp256 AAAA…
//! ```

use super::pattern::{ListMatch, match_pattern_list};
use crate::error::{ParseError, ParseErrorKind};
use crate::time::{UnixTime, parse_ssh_time};
use ssh_key::public::KeyData;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, PublicKey};

/// `allowed_signers` text over this size is refused (a line is under 1 KiB).
pub const MAX_ALLOWED_SIGNERS_SIZE: usize = 4 * 1024 * 1024;

/// A parsed `allowed_signers` file: the SSH keys trusted to sign, each for some principals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedSigners {
    entries: Vec<AllowedSigner>,
}

/// One line of `allowed_signers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSigner {
    /// 1-based line number in the file.
    pub line: usize,
    /// The principals pattern list as written (`alice@example.org,*@ops.example.org,!eve@…`).
    pub principals: String,
    /// `namespaces="…"` pattern list; `None` allows every namespace.
    pub namespaces: Option<String>,
    /// `valid-after=`: the key signs only objects dated at or after this time.
    pub valid_after: Option<UnixTime>,
    /// `valid-before=`: the key signs only objects dated at or before this time.
    pub valid_before: Option<UnixTime>,
    key: KeyData,
    fingerprint: String,
}

impl AllowedSigner {
    /// The key, as ssh-key decodes it.
    pub fn key(&self) -> &KeyData {
        &self.key
    }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The principals that are not negations, for identity allow-lists and reports.
    pub fn positive_principals(&self) -> impl Iterator<Item = &str> {
        self.principals.split(',').filter(|p| !p.starts_with('!'))
    }

    /// Whether this crate can verify signatures of this key: ed25519, ecdsa-sha2-nistp256/384
    /// and RSA; nistp521, `sk-*` and DSA lines are kept but their signatures refused.
    pub fn is_supported(&self) -> bool {
        SUPPORTED.contains(&self.key.algorithm().as_str())
    }

    /// Whether `namespaces=` allows `namespace` (pattern list, as ssh-keygen matches it).
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces
            .as_deref()
            .is_none_or(|list| match_pattern_list(namespace, list) == ListMatch::Match)
    }

    /// Whether `principal` matches the principals list (`!` patterns veto).
    pub fn matches_principal(&self, principal: &str) -> bool {
        match_pattern_list(principal, &self.principals) == ListMatch::Match
    }
}

/// Key types supported by [`AllowedSigners`], with the ssh-key algorithm of each.
const SUPPORTED: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ssh-rsa",
];

/// Key types OpenSSH signs with that this crate does not verify. Their lines are kept, so that
/// one developer's security key (`sk-*`) does not void the whole file, and their signatures are
/// refused by name ([`crate::Rejection::UnsupportedAlgorithm`]).
const TOLERATED: &[&str] = &[
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
];

/// Key types OpenSSH knows that are refused outright (named in the error).
fn is_refused_key_type(token: &str) -> bool {
    token == "ssh-xmss@openssh.com" || token.ends_with("-cert-v01@openssh.com")
}

fn is_key_type(token: &str) -> bool {
    SUPPORTED.contains(&token) || TOLERATED.contains(&token) || is_refused_key_type(token)
}

impl AllowedSigners {
    /// Parses `allowed_signers` text. Blank lines and `#` comments are skipped.
    ///
    /// # Errors
    /// The first bad line, with its number: unknown options, `cert-authority` (refused: SSH
    /// certificates are not supported), unsupported key types (DSA, nistp521, security keys),
    /// RSA keys under 2048 bits, bad base64, bad times.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        if text.len() > MAX_ALLOWED_SIGNERS_SIZE {
            return Err(ParseError {
                line: 0,
                kind: ParseErrorKind::TooLarge {
                    limit: MAX_ALLOWED_SIGNERS_SIZE,
                },
            });
        }
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = parse_line(line, line_no).map_err(|kind| ParseError {
                line: line_no,
                kind,
            })?;
            entries.push(entry);
        }
        Ok(AllowedSigners { entries })
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[AllowedSigner] {
        &self.entries
    }

    /// The entries for `key`, in file order.
    pub fn entries_for<'a>(&'a self, key: &'a KeyData) -> impl Iterator<Item = &'a AllowedSigner> {
        self.entries.iter().filter(move |e| &e.key == key)
    }

    /// Whether the file holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Splits off the first whitespace-delimited token; quotes protect whitespace (for options).
fn split_token(s: &str) -> (&str, &str) {
    let mut in_quotes = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            c if c.is_whitespace() && !in_quotes => return (&s[..i], s[i..].trim_start()),
            _ => {}
        }
    }
    (s, "")
}

fn parse_line(line: &str, line_no: usize) -> Result<AllowedSigner, ParseErrorKind> {
    let (principals, rest) = split_token(line);
    // ssh-keygen reads the principals with `strdelimw`, which allows one quoted token.
    let principals = match principals.strip_prefix('"') {
        Some(inner) => inner
            .strip_suffix('"')
            .ok_or_else(|| ParseErrorKind::BadOption {
                option: principals.to_owned(),
                why: "principals: missing closing quote".to_owned(),
            })?,
        None => principals,
    };
    if principals.is_empty() {
        return Err(ParseErrorKind::MissingKey);
    }
    let (mut token, mut rest) = split_token(rest);
    let mut entry = AllowedSigner {
        line: line_no,
        principals: principals.to_owned(),
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key: KeyData::Ed25519(ssh_key::public::Ed25519PublicKey([0; 32])),
        fingerprint: String::new(),
    };
    if !is_key_type(token) && !token.is_empty() {
        parse_options(token, &mut entry)?;
        (token, rest) = split_token(rest);
    }
    if token.is_empty() {
        return Err(ParseErrorKind::MissingKey);
    }
    if !SUPPORTED.contains(&token) && !TOLERATED.contains(&token) {
        return Err(ParseErrorKind::UnsupportedKeyType(token.to_owned()));
    }
    let (base64, _comment) = split_token(rest);
    if base64.is_empty() {
        return Err(ParseErrorKind::MissingKey);
    }
    let key = PublicKey::from_openssh(&format!("{token} {base64}"))
        .map_err(|e| ParseErrorKind::BadKey(e.to_string()))?;
    let key = key.key_data().clone();
    check_key(&key, token)?;
    entry.fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    entry.key = key;
    Ok(entry)
}

/// The key must be of the type its line names, and an RSA key strong enough.
fn check_key(key: &KeyData, token: &str) -> Result<(), ParseErrorKind> {
    let algorithm = key.algorithm();
    let ok = (TOLERATED.contains(&token) && algorithm.as_str() == token)
        || matches!(
            (token, &algorithm),
            ("ssh-ed25519", Algorithm::Ed25519)
                | ("ssh-rsa", Algorithm::Rsa { .. })
                | (
                    "ecdsa-sha2-nistp256",
                    Algorithm::Ecdsa {
                        curve: EcdsaCurve::NistP256
                    }
                )
                | (
                    "ecdsa-sha2-nistp384",
                    Algorithm::Ecdsa {
                        curve: EcdsaCurve::NistP384
                    }
                )
        );
    if !ok {
        return Err(ParseErrorKind::BadKey(format!(
            "line says `{token}` but the key is `{}`",
            algorithm.as_str()
        )));
    }
    if let Some(rsa) = key.rsa() {
        let bits = super::rsa_bits(rsa);
        if bits < 2048 {
            return Err(ParseErrorKind::WeakRsaKey { bits });
        }
        // ring verifies RSA up to 8192 bits: refuse bigger keys here, by name, rather than
        // every signature of theirs later.
        if bits > 8192 {
            return Err(ParseErrorKind::RsaKeyTooLarge { bits });
        }
    }
    Ok(())
}

fn parse_options(options: &str, entry: &mut AllowedSigner) -> Result<(), ParseErrorKind> {
    for option in split_options(options) {
        let (name, value) = match option.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (option, None),
        };
        let name_lower = name.to_ascii_lowercase();
        let bad = |why: &str| ParseErrorKind::BadOption {
            option: option.to_owned(),
            why: why.to_owned(),
        };
        match (name_lower.as_str(), value) {
            ("cert-authority", None) => {
                return Err(ParseErrorKind::CertificateAuthorityUnsupported);
            }
            ("namespaces" | "valid-after" | "valid-before", None) => {
                return Err(bad("needs a value"));
            }
            ("namespaces", Some(v)) => {
                if entry.namespaces.is_some() {
                    return Err(bad("given twice"));
                }
                let v = dequote(v).map_err(bad)?;
                if v.is_empty() {
                    return Err(bad("empty namespace list"));
                }
                entry.namespaces = Some(v.to_owned());
            }
            ("valid-after" | "valid-before", Some(v)) => {
                let time = parse_ssh_time(dequote(v).map_err(bad)?).map_err(|e| bad(&e))?;
                let slot = if name_lower == "valid-after" {
                    &mut entry.valid_after
                } else {
                    &mut entry.valid_before
                };
                if slot.replace(time).is_some() {
                    return Err(bad("given twice"));
                }
            }
            _ => return Err(ParseErrorKind::UnknownOption(option.to_owned())),
        }
    }
    if let (Some(after), Some(before)) = (entry.valid_after, entry.valid_before)
        && before <= after
    {
        return Err(ParseErrorKind::BadOption {
            option: options.to_owned(),
            why: "valid-before is not after valid-after".to_owned(),
        });
    }
    Ok(())
}

/// Splits `a,b="x,y",c` on the commas outside quotes.
fn split_options(options: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    for (i, c) in options.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                parts.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&options[start..]);
    parts
}

/// Option values are quoted, as ssh-keygen requires (`opt_dequote`): a value it would refuse
/// is refused here too, so a file behaves the same under `git verify-commit` and the agent.
fn dequote(value: &str) -> Result<&str, &'static str> {
    let inner = value
        .strip_prefix('"')
        .ok_or("value must be in double quotes")?;
    let inner = inner.strip_suffix('"').ok_or("missing closing quote")?;
    if inner.contains('"') {
        return Err("stray quote");
    }
    Ok(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQAu258dl/FQBMEHqWl7W9yYn9bDl1v71apHZrs/xWT";

    fn one(line: &str) -> Result<AllowedSigner, ParseError> {
        AllowedSigners::parse(line).map(|s| s.entries()[0].clone())
    }

    #[test]
    fn plain_line_should_parse_with_defaults() {
        let e = one(&format!("alice@example.org {ED} a comment")).unwrap();
        assert_eq!(e.principals, "alice@example.org");
        assert_eq!(e.namespaces, None);
        assert!(e.allows_namespace("git"));
        assert!(e.fingerprint().starts_with("SHA256:"));
        assert_eq!(e.line, 1);
    }

    #[test]
    fn options_should_parse_quoted_and_case_insensitive() {
        let e = one(&format!(
            "a@b,c@d NAMESPACES=\"file,git\",valid-after=\"20240101\",valid-before=\"20250101Z\" {ED}"
        ))
        .unwrap();
        assert_eq!(e.namespaces.as_deref(), Some("file,git"));
        assert!(e.allows_namespace("git"));
        assert!(!e.allows_namespace("gitx"));
        assert_eq!(e.valid_after, Some(UnixTime(1_704_067_200)));
        assert_eq!(e.valid_before, Some(UnixTime(1_735_689_600)));
        assert_eq!(e.positive_principals().collect::<Vec<_>>(), ["a@b", "c@d"]);
    }

    #[test]
    fn quoted_option_values_may_hold_spaces() {
        // ssh-keygen allows whitespace inside quotes; namespaces never hold any, but the token
        // split must not cut the line there.
        let e = one(&format!("a@b namespaces=\"git, file\" {ED}")).unwrap();
        assert_eq!(e.namespaces.as_deref(), Some("git, file"));
    }

    #[test]
    fn namespace_patterns_should_follow_ssh_match_rules() {
        let e = one(&format!("a@b namespaces=\"*,!git\" {ED}")).unwrap();
        assert!(!e.allows_namespace("git"));
        assert!(e.allows_namespace("file"));
    }

    #[test]
    fn comments_and_blank_lines_should_be_skipped_and_lines_counted() {
        let s = AllowedSigners::parse(&format!("# c\n\n   \n  a@b {ED}\n")).unwrap();
        assert_eq!(s.entries().len(), 1);
        assert_eq!(s.entries()[0].line, 4);
    }

    #[test]
    fn quoted_principals_should_be_unquoted() {
        let e = one(&format!("\"a@b,c@d\" {ED}")).unwrap();
        assert_eq!(e.principals, "a@b,c@d");
        assert!(one(&format!("\"a@b {ED}")).is_err());
    }

    #[test]
    fn crlf_line_endings_should_parse() {
        let s = AllowedSigners::parse(&format!("# c\r\na@b {ED}\r\nc@d {ED}\r\n")).unwrap();
        assert_eq!(s.entries().len(), 2);
        assert_eq!(s.entries()[1].line, 3);
    }

    #[test]
    fn oversized_file_should_be_refused() {
        let err = AllowedSigners::parse(&"#".repeat(MAX_ALLOWED_SIGNERS_SIZE + 1)).unwrap_err();
        assert!(matches!(err.kind, ParseErrorKind::TooLarge { .. }));
    }

    #[test]
    fn option_splitting_should_respect_quotes() {
        assert_eq!(
            split_options("a,namespaces=\"x,y\",b"),
            ["a", "namespaces=\"x,y\"", "b"]
        );
        assert_eq!(split_token("a \"b c\" d"), ("a", "\"b c\" d"));
        assert_eq!(split_token("\"b c\" d"), ("\"b c\"", "d"));
        assert_eq!(dequote("\"x\""), Ok("x"));
        assert!(dequote("x").is_err());
        assert!(dequote("\"x").is_err());
        assert!(dequote("\"x\"y\"").is_err());
    }

    #[test]
    fn cert_authority_should_be_refused_clearly() {
        let err = one(&format!("*@example.org cert-authority {ED}")).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::CertificateAuthorityUnsupported);
        assert!(err.to_string().contains("cert-authority"));
        let err = one(&format!(
            "*@example.org namespaces=\"git\",Cert-Authority {ED}"
        ))
        .unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::CertificateAuthorityUnsupported);
    }

    #[test]
    fn unknown_option_should_be_refused_with_its_line() {
        let err =
            AllowedSigners::parse(&format!("a@b {ED}\n\nb@c no-touch-required {ED}")).unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(
            err.kind,
            ParseErrorKind::UnknownOption("no-touch-required".into())
        );
    }

    #[test]
    fn bad_times_and_duplicate_options_should_be_refused() {
        for bad in [
            format!("a@b valid-after=\"2024\" {ED}"),
            format!("a@b valid-before=\"20240101 {ED}"),
            format!("a@b namespaces=\"git\",namespaces=\"file\" {ED}"),
            format!("a@b valid-after=\"20240101\",valid-after=\"20240101\" {ED}"),
            format!("a@b valid-after=20240101 {ED}"),
            format!("a@b valid-after=\"20240102\",valid-before=\"20240101\" {ED}"),
            format!("a@b valid-after=\"20240101\",valid-before=\"20240101\" {ED}"),
            format!("a@b namespaces= {ED}"),
            format!("a@b namespaces {ED}"),
            format!("a@b valid-after=2\"0240101 {ED}"),
        ] {
            assert!(
                matches!(
                    one(&bad).unwrap_err().kind,
                    ParseErrorKind::BadOption { .. }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn unsupported_key_types_should_be_named() {
        for ty in ["ssh-xmss@openssh.com", "ssh-ed25519-cert-v01@openssh.com"] {
            let err = one(&format!("a@b {ty} AAAA")).unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::UnsupportedKeyType(ty.into()));
        }
        let err = one("a@b namespaces=\"git\" foo-key AAAA").unwrap_err();
        assert_eq!(
            err.kind,
            ParseErrorKind::UnsupportedKeyType("foo-key".into())
        );
    }

    #[test]
    fn keys_this_crate_cannot_verify_should_be_kept_but_marked() {
        // ssh-keygen -t ecdsa -b 521 / -t dsa
        let p521 = "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBACCh340xTXvxxEHnSX6NsvmtKcz0TGVMdb9A4R/vaxgK6MTNN8iCJ5My4NN79Uw92Bc/4bj+tYL6z2AVolrHXYwswEB1dBqG6xTmDvX5vsHAvAsW2FoSKxuGzccHBH/kEhTCuVOak1WfOSCpI9RljEXPxe3tICDpLliuSPNEKK1+l4SjA==";
        let dsa = "ssh-dss AAAAB3NzaC1kc3MAAACBAPP17qROKv63uZt7e2u7xMTl3bC1nka8rIiXlCNQWpUpplK3ODqVgF5FO+/hzCSXwiOY/tT3GU4xsytslSAx/YGky9IgBq3VryFq7S+P9L8Eh8fE5LEgHrmSbc691FUHRNg8HyO+GSQ39whgkbUmnVvngZz0kH04eqVoLm/DnEL5AAAAFQDXBIIJpdlQikaNpleqJ54QE8kqcwAAAIAOAU858z00LRz2QeyR1mQqywOZev1dbfRkgt16aFKHVEG07+Y4U/2ZQ7OnyAH6NkdVYtLhbSZCzbRVizwBpuNndAw6xQQu/2spHOBVTc2+QVfU+dFrHn+rRNW0vAZSofXLrmUEuORkhj9Rjosr9Y1IV3QQWLASNEpiFh39gsEjzgAAAIAyYC7X/YGsfiSkOHHU8kcK+G744dERuODtuFM4Isvo4O5vYYnaB6q6ITCs5YNYSuzZ2js0dwKLMnDX+QrC/xdZeGBAI+YXKl5XphyEjspUom/A4Ca1iloL9M+0Cty/mUM0M8YM6iTTosAf1HwhnI0L4McoUPRJRwUKg9+a8OONPw==";
        let s = AllowedSigners::parse(&format!(
            "a@b {p521}\nb@c namespaces=\"git\" {dsa}\nc@d {ED}\n"
        ))
        .unwrap();
        let supported: Vec<bool> = s
            .entries()
            .iter()
            .map(AllowedSigner::is_supported)
            .collect();
        assert_eq!(supported, [false, false, true]);
        // Announced as one tolerated type, holding another.
        let blob = p521.split(' ').nth(1).unwrap();
        assert!(matches!(
            one(&format!("a@b ssh-dss {blob}")).unwrap_err().kind,
            ParseErrorKind::BadKey(_)
        ));
    }

    #[test]
    fn missing_or_broken_key_should_be_refused() {
        assert_eq!(one("a@b").unwrap_err().kind, ParseErrorKind::MissingKey);
        assert_eq!(
            one("a@b ssh-ed25519").unwrap_err().kind,
            ParseErrorKind::MissingKey
        );
        assert_eq!(
            one("a@b namespaces=\"git\"").unwrap_err().kind,
            ParseErrorKind::MissingKey
        );
        assert!(matches!(
            one("a@b ssh-ed25519 !!!!").unwrap_err().kind,
            ParseErrorKind::BadKey(_)
        ));
        // An ed25519 key blob announced as RSA.
        let blob = ED.split(' ').nth(1).unwrap();
        assert!(matches!(
            one(&format!("a@b ssh-rsa {blob}")).unwrap_err().kind,
            ParseErrorKind::BadKey(_)
        ));
    }

    #[test]
    fn rsa_keys_under_2048_bits_should_be_refused() {
        // ssh-keygen -t rsa -b 1024
        let k = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDHlhDdmEFKzaHZTU2zuAs1HCkguoqEMaQkzZWAGrFGPOiRPeJ6lkveoT3Vr7fNyU1GUKZMsFQqEvZ/EdFJHmz0aNszHeesJ9dOY0WzTC6Djrjmg3XmEsru2J76VW47XZxgdc6oJvAnZm3gxeHFaIB7qS1MQD5lT7NYa4Rt/4JiSw==";
        assert_eq!(
            one(&format!("a@b {k}")).unwrap_err().kind,
            ParseErrorKind::WeakRsaKey { bits: 1024 }
        );
    }

    #[test]
    fn rsa_keys_over_8192_bits_should_be_refused() {
        use base64ct::{Base64, Encoding};
        let string = |v: &[u8]| [&(v.len() as u32).to_be_bytes()[..], v].concat();
        let mut n = vec![0u8];
        n.extend(std::iter::repeat_n(0xffu8, 1025)); // 8200 bits
        let blob = [string(b"ssh-rsa"), string(&[1, 0, 1]), string(&n)].concat();
        let line = format!("a@b ssh-rsa {}", Base64::encode_string(&blob));
        assert_eq!(
            one(&line).unwrap_err().kind,
            ParseErrorKind::RsaKeyTooLarge { bits: 8200 }
        );
    }

    #[test]
    fn entries_for_should_find_every_line_of_a_key() {
        let s = AllowedSigners::parse(&format!("a@b {ED}\nc@d namespaces=\"file\" {ED}")).unwrap();
        let key = s.entries()[0].key().clone();
        assert_eq!(s.entries_for(&key).count(), 2);
    }

    #[test]
    fn principal_matching_should_honour_negation() {
        let e = one(&format!("*@example.org,!eve@example.org {ED}")).unwrap();
        assert!(e.matches_principal("alice@example.org"));
        assert!(!e.matches_principal("eve@example.org"));
    }
}
