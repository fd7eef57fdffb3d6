//! SOPS decryption of rendered Kubernetes objects, as Flux kustomize-controller's
//! `DecryptResource` does it after the build, with the MAC verified (Flux skips that check
//! because the build changes objects; here it is made on the committed file the object came
//! from, whose bytes the build does not change):
//!
//! * an object of any kind with a top-level `sops` map holding a `mac` is decrypted: every value
//!   the file's rules encrypt is decrypted with the data key of its file, except under
//!   `apiVersion`, `kind` and `metadata`, which must be in clear (the build reads and may add to
//!   them: `namespace`, labels); the `sops` field is removed;
//! * a `Secret` without such a field has each `data` entry that holds a whole SOPS-encrypted
//!   file (a `secretGenerator` file, found by sops' markers) decrypted and written in the format
//!   of its key's extension (`config.yaml`, `app.env`, or the raw bytes), its own MAC verified;
//! * an object annotated `kustomize.toolkit.fluxcd.io/decrypt: Disabled` (any case) is left
//!   alone.
//!
//! Entry point: [`Decryptor::decrypt_object`] for each rendered object, with a reader of the
//! render's files (`origin` names one). [`is_encrypted`] tells whether an object would need
//! decryption (to refuse it when no decryption is configured).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Number, Value};

use crate::keys::DataKey;
use crate::metadata::{Metadata, Rules};
use crate::tree::{Entry, Node};
use crate::{Error, Format, Keyring, cipher};

/// The opt-out annotation (Flux's): `Disabled`, in any case, leaves the object encrypted.
pub const DECRYPT_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/decrypt";

/// Why an object was refused. Names the object, its file and the key path; never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{origin}`: {object}: {message}")]
pub struct ObjectError {
    /// The file the object came from.
    pub origin: String,
    /// `Kind namespace/name`.
    pub object: String,
    /// What failed.
    pub message: String,
}

/// What [`Decryptor::decrypt_object`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing encrypted in it.
    Plain,
    /// Annotated `kustomize.toolkit.fluxcd.io/decrypt: Disabled`.
    OptedOut,
    /// Its values were decrypted (how many).
    Decrypted(usize),
    /// These `data` entries of a Secret held encrypted files and were decrypted.
    SecretEntries(Vec<String>),
}

/// Reads a file of the render by the `origin` of an object.
pub trait Sources {
    /// The bytes of the file, `None` when there is none.
    fn read(&self, origin: &str) -> Option<Vec<u8>>;
}

impl<F: Fn(&str) -> Option<Vec<u8>>> Sources for F {
    fn read(&self, origin: &str) -> Option<Vec<u8>> {
        self(origin)
    }
}

/// No source files (MACs are then checked on the objects themselves).
pub struct NoSources;

impl Sources for NoSources {
    fn read(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
}

/// A verified file: its data key and what identifies its metadata.
struct Verified {
    key: DataKey,
    mac: String,
    last_modified: String,
}

/// What the committed file of an object says.
enum FileCheck {
    /// It is SOPS-encrypted, opened and its MAC verified.
    Verified(Verified),
    /// It cannot be read, or is not SOPS-encrypted.
    Absent,
    /// It is SOPS-encrypted but does not open or verify.
    Failed(String),
}

/// Decrypts the objects of one render with one keyring; files are verified once each.
pub struct Decryptor<'k> {
    keys: &'k Keyring,
    files: HashMap<String, FileCheck>,
}

fn display_id(obj: &Value) -> String {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let (kind, name, ns) = (s("/kind"), s("/metadata/name"), s("/metadata/namespace"));
    if ns.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {ns}/{name}")
    }
}

/// Flux's `IsDecryptionDisabled`.
pub fn is_opted_out(obj: &Value) -> bool {
    obj.pointer(&format!(
        "/metadata/annotations/{}",
        DECRYPT_ANNOTATION.replace('/', "~1")
    ))
    .and_then(Value::as_str)
    .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
}

fn has_sops_mac(obj: &Value) -> bool {
    obj.get("sops")
        .and_then(Value::as_object)
        .and_then(|m| m.get("mac"))
        .is_some_and(|mac| !matches!(mac, Value::Null) && mac.as_str() != Some(""))
}

/// The `data` entries of a Secret that hold a SOPS-encrypted file.
fn encrypted_entries(obj: &Value) -> Vec<(String, Vec<u8>, Format)> {
    if obj.get("kind").and_then(Value::as_str) != Some("Secret") {
        return Vec::new();
    }
    let Some(data) = obj.get("data").and_then(Value::as_object) else {
        return Vec::new();
    };
    data.iter()
        .filter_map(|(k, v)| {
            // Flux skips a value that is not base64: the API server will refuse it anyway.
            let bytes = cipher::go_base64(v.as_str()?)?;
            let format = Format::detect(&bytes)?;
            Some((k.clone(), bytes, format))
        })
        .collect()
}

/// Whether the object holds SOPS-encrypted values that decryption would open (opted-out
/// objects included).
pub fn is_encrypted(obj: &Value) -> bool {
    has_sops_mac(obj) || !encrypted_entries(obj).is_empty()
}

/// A JSON value as a sops tree (key order as the map holds it).
fn to_node(v: &Value) -> Node {
    match v {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Node::Int(i),
            None => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Node::Str(s.clone()),
        Value::Array(a) => Node::List(a.iter().map(to_node).collect()),
        Value::Object(m) => Node::Map(
            m.iter()
                .map(|(k, v)| Entry::Pair(k.clone(), to_node(v)))
                .collect(),
        ),
    }
}

/// A decrypted leaf as JSON, as sops' JSON store writes it.
fn to_json(n: Node, path: &str) -> Result<Value, String> {
    Ok(match n {
        Node::Str(s) => Value::String(s),
        Node::Raw(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        Node::Int(i) => Value::Number(i.into()),
        Node::Float(f) => Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("the value at `{path}` decrypts to a float JSON cannot hold"))?,
        Node::Bool(b) => Value::Bool(b),
        Node::Null => Value::Null,
        Node::Time(t) => Value::String(t.rfc3339_nano()),
        Node::Bytes(b) => Value::String(STANDARD.encode(b)),
        Node::Comment(_) | Node::Map(_) | Node::List(_) => {
            return Err(format!(
                "the value at `{path}` decrypts to a comment, which JSON cannot hold"
            ));
        }
    })
}

fn metadata_of(obj: &Value) -> Result<Metadata, Error> {
    let sops = obj.get("sops").map(to_node).unwrap_or(Node::Null);
    let mut branches = vec![vec![Entry::Pair("sops".into(), sops)]];
    crate::metadata::extract(&mut branches)
}

struct ObjWalk<'a> {
    rules: &'a Rules,
    key: &'a DataKey,
    count: usize,
}

impl ObjWalk<'_> {
    fn value(&mut self, v: &mut Value, path: &mut Vec<String>) -> Result<(), String> {
        match v {
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    path.push(k.clone());
                    let r = self.value(child, path);
                    path.pop();
                    r?;
                }
                Ok(())
            }
            Value::Array(items) => {
                for it in items {
                    self.value(it, path)?;
                }
                Ok(())
            }
            Value::Null => Ok(()),
            leaf => {
                if !self.rules.should_encrypt(path) {
                    return Ok(());
                }
                let shown = path.join(".");
                let Value::String(s) = leaf else {
                    return Err(format!(
                        "the value at `{shown}` should be encrypted by the file's rules but is not a string (was it changed by the build?)"
                    ));
                };
                if !s.is_empty() && !cipher::looks_encrypted(s) {
                    return Err(format!(
                        "the value at `{shown}` should be encrypted by the file's rules but is in clear (was it added by the build?)"
                    ));
                }
                let mut aad = path.join(":");
                aad.push(':');
                let plain = cipher::decrypt(s, &self.key.0, &aad)
                    .map_err(|e| format!("the value at `{shown}` cannot be decrypted: {e}"))?;
                *leaf = to_json(plain, &shown)?;
                self.count += 1;
                Ok(())
            }
        }
    }
}

/// Fails when a value under `apiVersion`, `kind` or `metadata` is encrypted.
fn check_clear(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::String(s) if cipher::looks_encrypted(s) => Err(format!(
            "`{path}` is encrypted: apiVersion, kind and metadata must stay in clear (encrypt with `--encrypted-regex '^(data|stringData)$'`)"
        )),
        Value::Object(m) => m
            .iter()
            .try_for_each(|(k, c)| check_clear(c, &format!("{path}.{k}"))),
        Value::Array(a) => a.iter().try_for_each(|c| check_clear(c, path)),
        _ => Ok(()),
    }
}

impl<'k> Decryptor<'k> {
    /// A decryptor using `keys`.
    pub fn new(keys: &'k Keyring) -> Self {
        Decryptor {
            keys,
            files: HashMap::new(),
        }
    }

    /// Verifies the committed file an object came from (once per file): its data key, every
    /// value and its MAC.
    fn verify_file(&mut self, file: &str, sources: &dyn Sources) -> &FileCheck {
        let keys = self.keys;
        self.files.entry(file.to_owned()).or_insert_with(|| {
            let Some(bytes) = sources.read(file) else {
                return FileCheck::Absent;
            };
            let format = match Format::for_path(file) {
                Format::Json => Format::Json,
                _ => Format::Yaml,
            };
            let doc = match crate::load(&bytes, format) {
                Ok(d) => d,
                Err(Error::NotEncrypted | Error::Syntax { .. }) => return FileCheck::Absent,
                Err(e) => return FileCheck::Failed(format!("its file: {e}")),
            };
            let (mac, last_modified) = (
                doc.metadata().mac.clone(),
                doc.metadata().last_modified.rfc3339(),
            );
            let key = match doc.data_key(keys) {
                Ok(k) => k,
                Err(e) => return FileCheck::Failed(e.to_string()),
            };
            match doc.decrypt_with(&key) {
                Ok(_) => FileCheck::Verified(Verified {
                    key,
                    mac,
                    last_modified,
                }),
                Err(e) => FileCheck::Failed(format!("its file: {e}")),
            }
        })
    }

    /// Decrypts one rendered object in place; see the module documentation. `origin` is the
    /// file it came from (as kustomize-rs names it), read through `sources` to verify the MAC.
    ///
    /// # Errors
    /// No key opens the data key, a MAC that does not verify, a value that does not decrypt,
    /// an encrypted `metadata`, naming the object, its file and the key path.
    ///
    /// # Guarantees
    /// On error the object is left as it was.
    pub fn decrypt_object(
        &mut self,
        obj: &mut Value,
        origin: &str,
        sources: &dyn Sources,
    ) -> Result<Outcome, ObjectError> {
        let err = |obj: &Value, message: String| ObjectError {
            origin: origin.to_owned(),
            object: display_id(obj),
            message,
        };
        if is_opted_out(obj) {
            return Ok(Outcome::OptedOut);
        }
        if has_sops_mac(obj) {
            return self
                .decrypt_whole(obj, origin, sources)
                .map(Outcome::Decrypted)
                .map_err(|m| err(obj, m));
        }
        let entries = encrypted_entries(obj);
        if entries.is_empty() {
            return Ok(Outcome::Plain);
        }
        let mut out = Vec::new();
        for (k, bytes, input) in entries {
            let plain = crate::load(&bytes, input)
                .and_then(|d| d.decrypt(self.keys))
                .and_then(|p| p.emit(Format::for_path(&k)))
                .map_err(|e| err(obj, format!("`data.{k}`: {e}")))?;
            out.push((k, STANDARD.encode(plain)));
        }
        let names = out.iter().map(|(k, _)| k.clone()).collect();
        if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
            for (k, v) in out {
                data.insert(k, Value::String(v));
            }
        }
        Ok(Outcome::SecretEntries(names))
    }

    fn decrypt_whole(
        &mut self,
        obj: &mut Value,
        origin: &str,
        sources: &dyn Sources,
    ) -> Result<usize, String> {
        let meta = metadata_of(obj).map_err(|e| e.to_string())?;
        let (mac, lm) = (meta.mac.clone(), meta.last_modified.rfc3339());
        let from_file = match self.verify_file(origin, sources) {
            FileCheck::Verified(v) if v.mac == mac && v.last_modified == lm => {
                Some(DataKey(v.key.0.clone()))
            }
            FileCheck::Failed(e) => return Err(e.clone()),
            FileCheck::Verified(_) | FileCheck::Absent => None,
        };
        let key = match from_file {
            Some(k) => k,
            None => self.verify_self(obj, &meta)?,
        };
        let Value::Object(map) = obj else {
            return Err("not an object".into());
        };
        let mut work: Map<String, Value> = map.clone();
        work.remove("sops");
        for k in ["apiVersion", "kind", "metadata"] {
            if let Some(v) = work.get(k) {
                check_clear(v, k)?;
            }
        }
        let mut w = ObjWalk {
            rules: &meta.rules,
            key: &key,
            count: 0,
        };
        for (k, v) in work.iter_mut() {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            let mut path = vec![k.clone()];
            w.value(v, &mut path)?;
        }
        let n = w.count;
        *map = work;
        Ok(n)
    }

    /// When the object's file is not at hand (or does not hold this object's metadata): the
    /// MAC is checked on the object itself, in the order its fields are held.
    fn verify_self(&self, obj: &Value, meta: &Metadata) -> Result<DataKey, String> {
        let key = self.keys.data_key(meta).map_err(|e| e.to_string())?;
        let mut tree = match to_node(obj) {
            Node::Map(es) => es,
            _ => return Err("not an object".into()),
        };
        tree.retain(|e| !matches!(e, Entry::Pair(k, _) if k == "sops"));
        let doc = crate::Document::from_parts(Format::Json, vec![tree], meta.clone());
        doc.decrypt_with(&key).map_err(|e| {
            format!(
                "its SOPS MAC cannot be verified: the file it came from does not hold it, and the object as rendered does not match its MAC ({e}); decrypt it from a file of the revision"
            )
        })?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_out_should_be_case_insensitive() {
        let o = serde_json::json!({"metadata": {"annotations": {DECRYPT_ANNOTATION: "disabled"}}});
        assert!(is_opted_out(&o));
        let o = serde_json::json!({"metadata": {"annotations": {DECRYPT_ANNOTATION: "Disabled"}}});
        assert!(is_opted_out(&o));
        let o = serde_json::json!({"metadata": {"annotations": {DECRYPT_ANNOTATION: "no"}}});
        assert!(!is_opted_out(&o));
    }

    #[test]
    fn plain_objects_should_be_left_alone() {
        let k = Keyring::new();
        let mut d = Decryptor::new(&k);
        let mut o = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "bm90IGVuY3J5cHRlZA==", "b": "!!"}});
        let before = o.clone();
        assert_eq!(
            d.decrypt_object(&mut o, "s.yaml", &NoSources).unwrap(),
            Outcome::Plain
        );
        assert_eq!(o, before);
        assert!(!is_encrypted(&o));
    }
}
