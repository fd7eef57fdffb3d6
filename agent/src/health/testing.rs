//! Helpers for the tests of the kind rules.

use serde_json::{Value, json};

use super::{Status, assess};

/// An object named `x` at generation 2.
pub(super) fn object(api_version: &str, kind: &str, spec: Value, status: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind,
           "metadata": {"name": "x", "generation": 2}, "spec": spec, "status": status})
}

/// Asserts that `object` (named `x`) is assessed `status` with message `<kind> x: <why>`.
#[track_caller]
pub(super) fn assert_health(object: Value, status: Status, why: &str) {
    let health = assess(&object);
    let kind = object["kind"].as_str().unwrap_or_default();
    let expected = format!("{kind} x: {why}");
    assert_eq!(
        (health.status, health.message.as_str()),
        (status, expected.as_str()),
        "for {object}"
    );
}
