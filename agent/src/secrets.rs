//! Reading keys and credentials from Secrets and ConfigMaps: the one place every stage goes
//! through (trust material, image keys and pull secrets, source credentials, report tokens).
//! Everything is read at use, so a rotated Secret applies at the next reconcile.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;

use crate::api::KeyRef;

/// Why a referenced key could not be read.
#[derive(Debug)]
pub enum KeyError {
    /// The object or key is missing or unreadable: named.
    Missing(String),
    /// The API server did not answer.
    Unavailable(kube::Error),
    /// The reference itself is invalid.
    Invalid(String),
}

/// The data of a Secret of `namespace`, `None` when it does not exist.
///
/// # Errors
/// The API server's error.
pub async fn secret_data(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, ByteString>>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    Ok(api.get_opt(name).await?.map(|s| s.data.unwrap_or_default()))
}

/// Reads one key of a Secret or ConfigMap of `namespace` as text (`field` names the spec field
/// in errors).
///
/// # Errors
/// [`KeyError`], naming the field, the object and the key.
pub async fn read_ref(
    client: &kube::Client,
    namespace: &str,
    r: &KeyRef,
    field: &str,
) -> Result<String, KeyError> {
    let missing = KeyError::Missing;
    match (&r.secret_ref, &r.config_map_ref) {
        (Some(s), None) => {
            let data = secret_data(client, namespace, &s.name)
                .await
                .map_err(KeyError::Unavailable)?
                .ok_or_else(|| {
                    missing(format!(
                        "`{field}`: Secret `{namespace}/{}` not found",
                        s.name
                    ))
                })?;
            let bytes = data.get(&s.key).ok_or_else(|| {
                missing(format!(
                    "`{field}`: Secret `{namespace}/{}` has no key `{}`",
                    s.name, s.key
                ))
            })?;
            String::from_utf8(bytes.0.clone()).map_err(|_| {
                missing(format!(
                    "`{field}`: key `{}` of Secret `{}` is not UTF-8",
                    s.key, s.name
                ))
            })
        }
        (None, Some(c)) => {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
            let cm = api
                .get_opt(&c.name)
                .await
                .map_err(KeyError::Unavailable)?
                .ok_or_else(|| {
                    missing(format!(
                        "`{field}`: ConfigMap `{namespace}/{}` not found",
                        c.name
                    ))
                })?;
            cm.data.unwrap_or_default().remove(&c.key).ok_or_else(|| {
                missing(format!(
                    "`{field}`: ConfigMap `{namespace}/{}` has no key `{}`",
                    c.name, c.key
                ))
            })
        }
        _ => Err(KeyError::Invalid(format!(
            "`{field}` must set exactly one of `secretRef`, `configMapRef`"
        ))),
    }
}

/// One key of a Secret of `namespace`, trimmed of surrounding white space.
///
/// # Errors
/// A message naming the Secret and the key.
pub async fn secret_key(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Vec<u8>, String> {
    let mut data = secret_data(client, namespace, name)
        .await
        .map_err(|e| format!("cannot read Secret `{namespace}/{name}`: {e}"))?
        .ok_or_else(|| format!("Secret `{namespace}/{name}` not found"))?;
    let value = data
        .remove(key)
        .ok_or_else(|| format!("Secret `{namespace}/{name}` has no key `{key}`"))?;
    Ok(value.0.trim_ascii().to_vec())
}

/// A secret from a file (a mounted Secret), without the surrounding whitespace a trailing
/// newline adds. Read at each use, so a rotated Secret applies without a restart.
///
/// # Errors
/// The file cannot be read.
pub fn read_secret_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    Ok(std::fs::read(path)?.trim_ascii().to_vec())
}
