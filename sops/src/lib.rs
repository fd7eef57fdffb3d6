#![forbid(unsafe_code)]
//! pi-sops: SOPS decryption in memory, as `sops --decrypt` v3.13 does it and as Flux's
//! kustomize-controller applies it, without a key service, a GnuPG home or a temporary file.
//!
//! Start with [`decrypt`] (bytes in, plaintext bytes out, the MAC verified), or [`load`] then
//! [`Document::decrypt`] to work on the tree. [`Keyring`] holds the private keys as Flux names
//! them in its decryption Secret (`*.agekey`, `*.asc`). The Kubernetes side is [`kube`]: objects
//! of a render whose values are SOPS-encrypted, and Secret entries holding encrypted files
//! (`secretGenerator`); [`kustomize`] decrypts `secretGenerator` sources and patches before a
//! kustomize-rs build, as Flux's `DecryptSources` does.
//!
//! Supported: YAML (several documents), JSON, dotenv and binary files; age X25519 identities
//! and OpenPGP keys without passphrase; one key group or several with `shamir_threshold`;
//! `unencrypted_suffix` (and its `_unencrypted` default), `encrypted_suffix`,
//! `unencrypted_regex`, `encrypted_regex`, `mac_only_encrypted`; every value type sops writes
//! (`str`, `int`, `float`, `bool`, `bytes`, `time`, `comment`). Refused, with a message saying
//! so: INI files, `encrypted_comment_regex` and `unencrypted_comment_regex`, cloud KMS and Vault
//! keys (they may sit beside an age or OpenPGP key, which is then used), post-quantum and plugin
//! age identities, passphrase-protected OpenPGP keys, files over 5 MiB (Flux's limit).
//!
//! # Guarantees
//! A value is only returned from a file whose MAC verifies with its data key (a value changed,
//! added, removed, reordered, moved from another file or another key path is refused). Errors
//! name the file or object and the key path, never a value. Plaintext is never written
//! anywhere; the data key is zeroized when dropped.

mod cipher;
mod dotenv;
mod emit;
pub mod fuzzing;
mod gotime;
mod json;
mod keys;
pub mod kube;
#[cfg(feature = "kustomize")]
pub mod kustomize;
mod metadata;
mod shamir;
mod tree;
mod yaml;

use sha2::{Digest, Sha512};

pub use cipher::CipherError;
pub use gotime::GoTime;
pub use keys::{DataKey, KeyError, Keyring};
pub use metadata::{MasterKey, Metadata, Rules};
pub use tree::{Branches, Entry, Node};

/// Flux's `maxEncryptedFileSize`: larger files are refused.
pub const MAX_FILE_SIZE: usize = 5 << 20;

/// sops' `MACOnlyEncryptedInitialization` (`sha256("sops")`).
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// A sops file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`; Flux also reads `….dockerconfigjson` as JSON).
    Json,
    /// dotenv (`.env`).
    Dotenv,
    /// INI (`.ini`): refused.
    Ini,
    /// Anything else: the bytes, encrypted in a JSON envelope.
    Binary,
}

impl Format {
    /// sops' `FormatForPath`, with Flux's `.dockerconfigjson` rule.
    pub fn for_path(path: &str) -> Format {
        if path.ends_with(".dockerconfigjson") {
            return Format::Json;
        }
        let ext = path
            .rsplit('/')
            .next()
            .and_then(|b| b.rfind('.').map(|i| &b[i..]))
            .unwrap_or("");
        match ext {
            ".yaml" | ".yml" => Format::Yaml,
            ".json" => Format::Json,
            ".env" => Format::Dotenv,
            ".ini" => Format::Ini,
            _ => Format::Binary,
        }
    }

    /// `YAML`, `JSON`, `dotenv`, `INI`, `binary`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
            Format::Ini => "INI",
            Format::Binary => "binary",
        }
    }

    /// The format whose encrypted files contain this marker (Flux's
    /// `detectFormatFromMarkerBytes`), for values of a Secret: dotenv, YAML, then JSON.
    pub fn detect(data: &[u8]) -> Option<Format> {
        let has = |m: &[u8]| data.windows(m.len()).any(|w| w == m);
        if has(b"sops_mac=ENC[") {
            Some(Format::Dotenv)
        } else if has(b"mac: ENC[") {
            Some(Format::Yaml)
        } else if has(b"\"mac\": \"ENC[") {
            Some(Format::Json)
        } else if has(b"[sops]") {
            Some(Format::Ini)
        } else {
            None
        }
    }

    /// Whether `data` carries this format's sops marker (Flux decrypts a source file only
    /// then).
    pub fn has_marker(self, data: &[u8]) -> bool {
        let m: &[u8] = match self {
            Format::Dotenv => b"sops_mac=ENC[",
            Format::Yaml => b"mac: ENC[",
            Format::Json | Format::Binary => b"\"mac\": \"ENC[",
            Format::Ini => b"[sops]",
        };
        data.windows(m.len()).any(|w| w == m)
    }
}

/// Why a file did not decrypt. No variant carries a value of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The file does not parse.
    #[error("invalid {format}: line {line}: {message}")]
    Syntax {
        /// `YAML`, `JSON`, `dotenv`.
        format: &'static str,
        /// 1-based line.
        line: usize,
        /// What is wrong (no text of the file).
        message: String,
    },
    /// No `sops` metadata: the file is not encrypted.
    #[error("sops metadata not found: the file is not SOPS-encrypted")]
    NotEncrypted,
    /// The metadata is invalid.
    #[error("invalid sops metadata: {0}")]
    Metadata(String),
    /// A feature of sops the agent does not support.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// No key opens the data key.
    #[error("no key can decrypt the data key (needed: {needed}): {}", tried.join("; "))]
    NoKey {
        /// Every key tried and why it failed.
        tried: Vec<String>,
        /// What was needed.
        needed: String,
    },
    /// A value does not decrypt.
    #[error("the value at `{path}` cannot be decrypted: {source}")]
    Value {
        /// Its key path (`data.password`).
        path: String,
        /// Why.
        source: CipherError,
    },
    /// A value the metadata says is encrypted is not a string.
    #[error("the value at `{path}` should be encrypted but is a {found}")]
    NotEncryptedValue {
        /// Its key path.
        path: String,
        /// Its type.
        found: &'static str,
    },
    /// The stored MAC does not decrypt.
    #[error("the MAC cannot be decrypted: {0}")]
    MacUnreadable(CipherError),
    /// The MAC does not match: the file was changed after it was encrypted.
    #[error(
        "the MAC does not match the values: the file was changed after it was encrypted (a value edited, added, removed, reordered or copied from another file)"
    )]
    MacMismatch,
    /// The decrypted tree cannot be written in the output format.
    #[error("cannot write the decrypted file: {0}")]
    Emit(String),
    /// The file is larger than [`MAX_FILE_SIZE`].
    #[error("the file is {0} bytes, over the limit of 5 MiB")]
    TooLarge(usize),
}

/// An encrypted file, parsed.
#[derive(Clone, Debug)]
pub struct Document {
    format: Format,
    branches: Branches,
    metadata: Metadata,
}

/// A decrypted file, its MAC verified.
#[derive(Clone, Debug)]
pub struct Plain {
    format: Format,
    branches: Branches,
}

/// Parses an encrypted file (nothing is decrypted yet).
///
/// # Errors
/// A file over 5 MiB, a syntax error, no or invalid metadata, an unsupported format.
pub fn load(data: &[u8], format: Format) -> Result<Document, Error> {
    if data.len() > MAX_FILE_SIZE {
        return Err(Error::TooLarge(data.len()));
    }
    let text = String::from_utf8_lossy(data);
    let (branches, metadata) = match format {
        Format::Yaml => {
            let mut b = yaml::load(&text)?;
            let m = metadata::extract(&mut b)?;
            (b, m)
        }
        Format::Json | Format::Binary => {
            let mut b = vec![json::load(&text)?];
            let m = metadata::extract(&mut b)?;
            (b, m)
        }
        Format::Dotenv => {
            let mut branch = dotenv::load(&text)?;
            let m = metadata::extract_flat(&mut branch)?;
            (vec![branch], m)
        }
        Format::Ini => {
            return Err(Error::Unsupported("INI files".into()));
        }
    };
    Ok(Document {
        format,
        branches,
        metadata,
    })
}

/// `a:b:c:`, the additional data of a value.
fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

struct Walk<'a> {
    rules: &'a Rules,
    key: &'a [u8],
    mac_only_encrypted: bool,
    hash: Sha512,
}

impl Walk<'_> {
    fn entries(&mut self, entries: &mut [Entry], path: &mut Vec<String>) -> Result<(), Error> {
        for e in entries {
            match e {
                Entry::Comment(c) => {
                    // Comments are outside the MAC; one that does not decrypt is kept as written
                    // (sops: files from older versions have unencrypted comments).
                    if self.rules.should_encrypt(path)
                        && let Ok(Node::Comment(v) | Node::Str(v)) =
                            cipher::decrypt(c, self.key, &aad(path))
                    {
                        *c = v;
                    }
                }
                Entry::Pair(k, v) => {
                    path.push(k.clone());
                    let r = self.value(v, path);
                    path.pop();
                    r?;
                }
            }
        }
        Ok(())
    }

    fn value(&mut self, v: &mut Node, path: &mut Vec<String>) -> Result<(), Error> {
        match v {
            Node::Map(entries) => self.entries(entries, path),
            Node::List(items) => {
                for it in items {
                    self.value(it, path)?;
                }
                Ok(())
            }
            Node::Null => Ok(()),
            leaf => {
                let encrypted = self.rules.should_encrypt(path);
                if encrypted {
                    let Node::Str(s) = leaf else {
                        return Err(Error::NotEncryptedValue {
                            path: path.join("."),
                            found: leaf.type_name(),
                        });
                    };
                    *leaf = cipher::decrypt(s, self.key, &aad(path)).map_err(|source| {
                        Error::Value {
                            path: path.join("."),
                            source,
                        }
                    })?;
                }
                // sops 3.13.3: a value decrypted to a comment is not hashed either.
                if (!self.mac_only_encrypted || encrypted)
                    && !matches!(leaf, Node::Comment(_))
                    && let Some(b) = leaf.mac_bytes()
                {
                    self.hash.update(&b);
                }
                Ok(())
            }
        }
    }
}

/// Decrypts every value of `branches` in place and returns the MAC of the plaintext
/// (sops' `Tree.Decrypt`).
fn decrypt_tree(branches: &mut Branches, m: &Metadata, key: &DataKey) -> Result<String, Error> {
    let mut w = Walk {
        rules: &m.rules,
        key: &key.0,
        mac_only_encrypted: m.mac_only_encrypted,
        hash: Sha512::new(),
    };
    if m.mac_only_encrypted {
        w.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    for b in branches.iter_mut() {
        w.entries(b, &mut Vec::new())?;
    }
    Ok(keys::hex_upper(&w.hash.finalize()))
}

/// Checks the stored MAC against `computed`.
fn verify_mac(m: &Metadata, key: &DataKey, computed: &str) -> Result<(), Error> {
    let stored = cipher::decrypt(&m.mac, &key.0, &m.last_modified.rfc3339())
        .map_err(Error::MacUnreadable)?;
    match stored {
        Node::Str(s) if s == computed => Ok(()),
        _ => Err(Error::MacMismatch),
    }
}

impl Document {
    pub(crate) fn from_parts(format: Format, branches: Branches, metadata: Metadata) -> Self {
        Document {
            format,
            branches,
            metadata,
        }
    }

    /// The file's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The format it was read as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Opens the data key with `keys`.
    ///
    /// # Errors
    /// No key opens it ([`Error::NoKey`] names every key tried).
    pub fn data_key(&self, keys: &Keyring) -> Result<DataKey, Error> {
        keys.data_key(&self.metadata)
    }

    /// Decrypts every value with the data key and verifies the MAC.
    ///
    /// # Errors
    /// A value that does not decrypt (naming its key path), or a MAC that does not match.
    pub fn decrypt_with(mut self, key: &DataKey) -> Result<Plain, Error> {
        let mac = decrypt_tree(&mut self.branches, &self.metadata, key)?;
        verify_mac(&self.metadata, key, &mac)?;
        Ok(Plain {
            format: self.format,
            branches: self.branches,
        })
    }

    /// Opens the data key with `keys`, decrypts every value and verifies the MAC.
    ///
    /// # Errors
    /// As [`Document::data_key`] and [`Document::decrypt_with`].
    pub fn decrypt(self, keys: &Keyring) -> Result<Plain, Error> {
        let key = self.data_key(keys)?;
        self.decrypt_with(&key)
    }
}

impl Plain {
    /// The decrypted documents.
    pub fn branches(&self) -> &Branches {
        &self.branches
    }

    /// The documents, moved out.
    pub fn into_branches(self) -> Branches {
        self.branches
    }

    /// The plaintext file in `format`, as sops writes it (`sops --decrypt --output-type`).
    ///
    /// # Errors
    /// A tree the format cannot hold (a map in dotenv, no `data` in binary, a float that is
    /// not finite in JSON), an INI output.
    pub fn emit(&self, format: Format) -> Result<Vec<u8>, Error> {
        match format {
            Format::Yaml => Ok(emit::yaml(&self.branches)),
            Format::Json => emit::json(self.branches.first().map_or(&[][..], |b| b.as_slice())),
            Format::Dotenv => dotenv::emit(self.branches.first().map_or(&[][..], |b| b.as_slice())),
            Format::Binary => emit::binary(&self.branches),
            Format::Ini => Err(Error::Unsupported("INI files".into())),
        }
    }

    /// The format it was read as.
    pub fn format(&self) -> Format {
        self.format
    }
}

/// Decrypts an encrypted file and writes it in the same format, as `sops --decrypt` does.
///
/// # Errors
/// As [`load`], [`Document::decrypt`] and [`Plain::emit`].
pub fn decrypt(data: &[u8], format: Format, keys: &Keyring) -> Result<Vec<u8>, Error> {
    load(data, format)?.decrypt(keys)?.emit(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_should_follow_sops_and_flux() {
        assert_eq!(Format::for_path("a/b.yaml"), Format::Yaml);
        assert_eq!(Format::for_path("b.yml"), Format::Yaml);
        assert_eq!(Format::for_path("b.json"), Format::Json);
        assert_eq!(Format::for_path(".dockerconfigjson"), Format::Json);
        assert_eq!(Format::for_path("app.env"), Format::Dotenv);
        assert_eq!(Format::for_path("x.ini"), Format::Ini);
        assert_eq!(Format::for_path("key.pem"), Format::Binary);
        assert_eq!(Format::for_path("token"), Format::Binary);
        assert_eq!(Format::detect(b"a=1\nsops_mac=ENC[x"), Some(Format::Dotenv));
        assert_eq!(Format::detect(b"sops:\n    mac: ENC[x"), Some(Format::Yaml));
        assert_eq!(Format::detect(b"{\"mac\": \"ENC[x"), Some(Format::Json));
        assert_eq!(Format::detect(b"plain"), None);
    }

    #[test]
    fn ini_and_large_files_should_be_refused() {
        assert!(matches!(
            load(b"[sops]\n", Format::Ini),
            Err(Error::Unsupported(_))
        ));
        let big = vec![b' '; MAX_FILE_SIZE + 1];
        assert_eq!(
            load(&big, Format::Yaml).unwrap_err(),
            Error::TooLarge(MAX_FILE_SIZE + 1)
        );
        assert_eq!(
            load(b"a: 1\n", Format::Yaml).unwrap_err(),
            Error::NotEncrypted
        );
    }
}
