//! The private keys that open a file's data key, named as Flux names them in its decryption
//! Secret: every entry ending in `.agekey` holds age X25519 identities (`AGE-SECRET-KEY-1…`, one a
//! line, `#` comments), every entry ending in `.asc` armored OpenPGP secret keys. Key material is
//! zeroized when dropped (age identities, rpgp's secret parameters, the data key).

use std::collections::BTreeMap;
use std::io::Read as _;

use pgp::composed::{Deserializable, Message, SignedSecretKey};
use pgp::types::{KeyDetails, Password};
use zeroize::Zeroizing;

use crate::Error;
use crate::metadata::{MasterKey, Metadata};

/// The decryption keys of one Application (or the region's key file).
#[derive(Default)]
pub struct Keyring {
    age: Vec<age::x25519::Identity>,
    pgp: Vec<SignedSecretKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("age", &self.age.len())
            .field("pgp", &self.pgp.len())
            .finish()
    }
}

/// A key that cannot be read: the message names its source, never its content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{source_name}`: {message}")]
pub struct KeyError {
    /// The Secret entry or file.
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

/// The data key of a file: 32 bytes, zeroized on drop.
pub struct DataKey(pub(crate) Zeroizing<Vec<u8>>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

/// Go's `filepath.Ext`.
fn ext(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.rfind('.').map_or("", |i| &base[i..])
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// No key at all.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.pgp.is_empty()
    }

    /// How many age identities and OpenPGP keys it holds.
    pub fn counts(&self) -> (usize, usize) {
        (self.age.len(), self.pgp.len())
    }

    /// The keys of a Flux decryption Secret: entries ending in `.agekey` and `.asc`; other
    /// entries (cloud credentials, a Vault token) are ignored, as the agent has no KMS.
    ///
    /// # Errors
    /// An entry that does not parse, naming it.
    pub fn from_secret_data(
        secret: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, KeyError> {
        let mut k = Keyring::new();
        for (name, value) in data {
            let source = format!("Secret {secret} key {name}");
            match ext(name) {
                ".agekey" => {
                    let text = std::str::from_utf8(value).map_err(|_| KeyError {
                        source_name: source.clone(),
                        message: "not UTF-8 text".into(),
                    })?;
                    k.add_age_identities(&source, text)?;
                }
                ".asc" => {
                    k.add_pgp_keys(&source, value)?;
                }
                _ => {}
            }
        }
        Ok(k)
    }

    /// Adds the age identities of an `age-keygen` file (one a line; empty lines and `#` lines
    /// skipped), as sops' `ParsedIdentities.Import` reads them. Returns how many.
    ///
    /// # Errors
    /// A line that is not an X25519 identity; post-quantum (`AGE-SECRET-KEY-PQ-1…`) and plugin
    /// identities are refused as not supported.
    pub fn add_age_identities(&mut self, source: &str, text: &str) -> Result<usize, KeyError> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| KeyError {
                source_name: source.to_owned(),
                message: format!("line {}: {message}", i + 1),
            };
            if line.starts_with("AGE-SECRET-KEY-PQ-1") {
                return Err(err(
                    "post-quantum (ML-KEM hybrid) age identities are not supported".into(),
                ));
            }
            if line.starts_with("AGE-PLUGIN-") {
                return Err(err("age plugin identities are not supported".into()));
            }
            if !line.starts_with("AGE-SECRET-KEY-1") {
                return Err(err(
                    "unknown identity type (expected `AGE-SECRET-KEY-1…`)".into()
                ));
            }
            let id: age::x25519::Identity = line
                .parse()
                .map_err(|e: &str| err(format!("invalid age identity: {e}")))?;
            self.age.push(id);
            n += 1;
        }
        Ok(n)
    }

    /// Adds the OpenPGP secret keys of an armored block (`gpg --export-secret-keys --armor`).
    /// Returns how many.
    ///
    /// # Errors
    /// A block that does not parse, holds no secret key, or a key protected by a passphrase.
    pub fn add_pgp_keys(&mut self, source: &str, armored: &[u8]) -> Result<usize, KeyError> {
        let err = |message: String| KeyError {
            source_name: source.to_owned(),
            message,
        };
        let (keys, _) = SignedSecretKey::from_armor_many(armored)
            .map_err(|e| err(format!("not an armored OpenPGP key block: {e}")))?;
        let mut n = 0;
        for k in keys {
            let k = k.map_err(|e| {
                err(format!(
                    "an OpenPGP secret key does not parse (is it a public key?): {e}"
                ))
            })?;
            let protected = k.primary_key.secret_params().is_encrypted()
                || k.secret_subkeys
                    .iter()
                    .any(|s| s.key.secret_params().is_encrypted());
            if protected {
                return Err(err(format!(
                    "the OpenPGP key {} is protected by a passphrase, which is not supported (export it without one)",
                    hex_upper(k.primary_key.fingerprint().as_bytes())
                )));
            }
            self.pgp.push(k);
            n += 1;
        }
        if n == 0 {
            return Err(err("holds no OpenPGP secret key".into()));
        }
        Ok(n)
    }

    fn decrypt_age(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        if self.age.is_empty() {
            return Err("no age identity was given".into());
        }
        let reader = age::armor::ArmoredReader::new(enc.as_bytes());
        let d = age::Decryptor::new_buffered(reader).map_err(|e| format!("{e}"))?;
        let mut r = d
            .decrypt(self.age.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| format!("{e}"))?;
        let mut out = Zeroizing::new(Vec::new());
        r.read_to_end(&mut out).map_err(|e| format!("{e}"))?;
        Ok(out)
    }

    fn decrypt_pgp(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        if self.pgp.is_empty() {
            return Err("no OpenPGP secret key was given".into());
        }
        let (msg, _) = Message::from_string(enc).map_err(|e| format!("{e}"))?;
        let empty = Password::empty();
        let msg = msg
            .decrypt_with_keys(
                self.pgp.iter().map(|_| &empty).collect(),
                self.pgp.iter().collect(),
            )
            .map_err(|e| format!("{e}"))?;
        let mut msg = if msg.is_compressed() {
            msg.decompress().map_err(|e| format!("{e}"))?
        } else {
            msg
        };
        Ok(Zeroizing::new(
            msg.as_data_vec().map_err(|e| format!("{e}"))?,
        ))
    }

    fn decrypt_key(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, String> {
        match key {
            MasterKey::Age { enc, .. } => self.decrypt_age(enc),
            MasterKey::Pgp { enc, .. } => self.decrypt_pgp(enc),
            MasterKey::Other { .. } => Err("cloud KMS and Vault keys are not supported".into()),
        }
    }

    /// The data key of a file: each key group's part from its first key that decrypts (age
    /// first, then OpenPGP, as sops' default order), combined with Shamir's scheme when there
    /// are several groups.
    ///
    /// # Errors
    /// [`Error::NoKey`] listing every key tried and why, or a Shamir combination that fails.
    pub fn data_key(&self, m: &Metadata) -> Result<DataKey, Error> {
        let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut tried = Vec::new();
        for (gi, group) in m.key_groups.iter().enumerate() {
            let mut order: Vec<&MasterKey> = group.iter().collect();
            order.sort_by_key(|k| match k {
                MasterKey::Age { .. } => 0,
                MasterKey::Pgp { .. } => 1,
                MasterKey::Other { .. } => 2,
            });
            let mut got = None;
            for k in order {
                match self.decrypt_key(k) {
                    Ok(part) => {
                        got = Some(part);
                        break;
                    }
                    Err(why) => tried.push(if m.key_groups.len() > 1 {
                        format!("group {gi}: {}: {why}", k.describe())
                    } else {
                        format!("{}: {why}", k.describe())
                    }),
                }
            }
            if let Some(p) = got {
                parts.push(p);
            }
        }
        let key = if m.key_groups.len() > 1 {
            if parts.len() < m.shamir_threshold || parts.is_empty() {
                return Err(Error::NoKey {
                    tried,
                    needed: format!(
                        "{} of {} key groups (Shamir), {} opened",
                        m.shamir_threshold.max(1),
                        m.key_groups.len(),
                        parts.len()
                    ),
                });
            }
            crate::shamir::combine(&parts).map_err(|e| Error::Metadata(format!("Shamir: {e}")))?
        } else {
            match parts.pop() {
                Some(p) => p,
                None => {
                    return Err(Error::NoKey {
                        tried,
                        needed: "one key of the file".into(),
                    });
                }
            }
        };
        if key.len() != 32 {
            return Err(Error::Metadata(format!(
                "the data key is {} bytes, sops uses 32",
                key.len()
            )));
        }
        Ok(DataKey(key))
    }
}

/// Upper-case hex, as sops prints MACs and GnuPG fingerprints.
pub fn hex_upper(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_should_be_go_filepath_ext() {
        assert_eq!(ext("a.agekey"), ".agekey");
        assert_eq!(ext("x.tar.asc"), ".asc");
        assert_eq!(ext(".agekey"), ".agekey");
        assert_eq!(ext("agekey"), "");
    }

    #[test]
    fn unsupported_and_malformed_age_identities_should_be_refused() {
        let mut k = Keyring::new();
        assert_eq!(k.add_age_identities("s", "# created\n\n").unwrap(), 0);
        for (text, why) in [
            ("AGE-SECRET-KEY-PQ-1ABC\n", "post-quantum"),
            ("AGE-PLUGIN-YUBIKEY-1XYZ\n", "plugin"),
            ("age1abc\n", "unknown identity"),
            ("AGE-SECRET-KEY-1NOTBECH32\n", "invalid age identity"),
            (" AGE-SECRET-KEY-1X\n", "unknown identity"),
        ] {
            let e = k
                .add_age_identities("Secret s key k.agekey", text)
                .unwrap_err();
            assert!(e.to_string().contains(why), "{text}: {e}");
            assert!(
                !e.to_string().contains(text.trim()) || why == "unknown identity",
                "{e}"
            );
        }
        assert!(k.is_empty());
    }

    #[test]
    fn malformed_pgp_blocks_should_be_refused() {
        let mut k = Keyring::new();
        assert!(k.add_pgp_keys("s", b"not armor").is_err());
        assert!(
            Keyring::from_secret_data("d", &[("k.asc".to_owned(), b"x".to_vec())].into()).is_err()
        );
        let k = Keyring::from_secret_data(
            "d",
            &[("sops.vault-token".to_owned(), b"x".to_vec())].into(),
        )
        .unwrap();
        assert!(k.is_empty());
    }
}
