//! Typed reads from a live object's JSON that never panic.
//!
//! A field that is absent or `null` reads as `None`; a field of the wrong type is [`Malformed`],
//! which [`super::assess`] turns into [`super::Status::Unknown`] naming the field, as kstatus
//! returns an error (and its poller reports `Unknown`) when the object does not decode.

use std::fmt;

use serde_json::Value;

/// A field that is present but cannot be read as the type the assessment needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Malformed {
    /// Dotted path from the object root, e.g. `status.containerStatuses[1].name`.
    pub path: String,
    /// What is wrong with it, e.g. `is not an integer`.
    pub problem: &'static str,
}

impl Malformed {
    fn new(path: &str, problem: &'static str) -> Self {
        Malformed {
            path: path.to_owned(),
            problem,
        }
    }

    /// Prefixes the path with the element the field was read from.
    pub fn within(self, parent: &str) -> Self {
        let path = if self.path.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.path)
        };
        Malformed {
            path,
            problem: self.problem,
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "."
        } else {
            &self.path
        };
        write!(f, "`{path}` {}", self.problem)
    }
}

/// Reads a field result; `Ok(None)` when it or any parent is absent or `null`.
pub(super) type Field<T> = Result<Option<T>, Malformed>;

/// The value at the dotted `path`, walking objects only.
pub(super) fn value<'v>(root: &'v Value, path: &str) -> Field<&'v Value> {
    let mut current = root;
    let mut walked = 0;
    for key in path.split('.') {
        let Value::Object(map) = current else {
            let parent = if walked == 0 { "" } else { &path[..walked - 1] };
            return Err(Malformed::new(parent, "is not an object"));
        };
        match map.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(next) => current = next,
        }
        walked += key.len() + 1;
    }
    Ok(Some(current))
}

/// An integer field (Kubernetes `int32`/`int64`).
pub(super) fn int(root: &Value, path: &str) -> Field<i64> {
    match value(root, path)? {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| Malformed::new(path, "is not an integer")),
    }
}

/// An integer field with the default the controller uses when it is unset.
pub(super) fn int_or(root: &Value, path: &str, default: i64) -> Result<i64, Malformed> {
    Ok(int(root, path)?.unwrap_or(default))
}

/// A string field.
pub(super) fn string<'v>(root: &'v Value, path: &str) -> Field<&'v str> {
    match value(root, path)? {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| Malformed::new(path, "is not a string")),
    }
}

/// A boolean field.
pub(super) fn boolean(root: &Value, path: &str) -> Field<bool> {
    match value(root, path)? {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| Malformed::new(path, "is not a boolean")),
    }
}

/// An array field; empty when absent.
pub(super) fn array<'v>(root: &'v Value, path: &str) -> Result<&'v [Value], Malformed> {
    match value(root, path)? {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(Malformed::new(path, "is not an array")),
    }
}

/// An object field, checked for shape only.
pub(super) fn object(root: &Value, path: &str) -> Result<(), Malformed> {
    match value(root, path)? {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(Malformed::new(path, "is not an object")),
    }
}

/// One entry of `status.conditions`; absent string fields read as empty, as in kstatus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Condition<'v> {
    pub type_: &'v str,
    pub status: &'v str,
    pub reason: &'v str,
    pub message: &'v str,
}

impl Condition<'_> {
    /// Whether this is the condition `type_` with status `status` (`True`, `False`, `Unknown`).
    pub fn is(&self, type_: &str, status: &str) -> bool {
        self.type_ == type_ && self.status == status
    }

    /// `reason: message`, leaving out whichever is empty.
    pub fn explain(&self) -> String {
        explain(self.reason, self.message)
    }
}

/// `reason: message`, leaving out whichever is empty.
pub(super) fn explain(reason: &str, message: &str) -> String {
    match (reason, message) {
        ("", "") => String::new(),
        (reason, "") => reason.to_owned(),
        ("", message) => message.to_owned(),
        (reason, message) => format!("{reason}: {message}"),
    }
}

/// `status.conditions`, in order.
pub(super) fn conditions(root: &Value) -> Result<Vec<Condition<'_>>, Malformed> {
    array(root, "status.conditions")?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let parent = || format!("status.conditions[{i}]");
            if !item.is_object() {
                return Err(Malformed::new(&parent(), "is not an object"));
            }
            let text = |key| {
                string(item, key)
                    .map(Option::unwrap_or_default)
                    .map_err(|m| m.within(&parent()))
            };
            Ok(Condition {
                type_: text("type")?,
                status: text("status")?,
                reason: text("reason")?,
                message: text("message")?,
            })
        })
        .collect()
}

/// The first condition of `type_` with `status`.
pub(super) fn find<'c, 'v>(
    conditions: &'c [Condition<'v>],
    type_: &str,
    status: &str,
) -> Option<&'c Condition<'v>> {
    conditions.iter().find(|c| c.is(type_, status))
}

/// The first condition of `type_`, whatever its status.
pub(super) fn find_type<'c, 'v>(
    conditions: &'c [Condition<'v>],
    type_: &str,
) -> Option<&'c Condition<'v>> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// `1 replica`, `2 replicas`.
pub(super) fn plural(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn absent_and_null_fields_should_read_as_none() {
        let o = json!({"spec": {"replicas": null}, "status": null});
        assert_eq!(int(&o, "spec.replicas"), Ok(None));
        assert_eq!(int(&o, "spec.missing"), Ok(None));
        assert_eq!(int(&o, "status.replicas"), Ok(None));
        assert_eq!(string(&o, "metadata.name"), Ok(None));
        assert_eq!(boolean(&o, "spec.paused"), Ok(None));
        assert_eq!(array(&o, "status.conditions"), Ok(&[][..]));
        assert_eq!(object(&o, "status"), Ok(()));
        assert_eq!(int_or(&o, "spec.replicas", 1), Ok(1));
    }

    #[test]
    fn present_fields_should_read_with_their_type() {
        let o =
            json!({"spec": {"replicas": 3, "paused": true, "type": "x", "list": [1], "obj": {}}});
        assert_eq!(int(&o, "spec.replicas"), Ok(Some(3)));
        assert_eq!(boolean(&o, "spec.paused"), Ok(Some(true)));
        assert_eq!(string(&o, "spec.type"), Ok(Some("x")));
        assert_eq!(array(&o, "spec.list").map(<[Value]>::len), Ok(1));
        assert_eq!(object(&o, "spec.obj"), Ok(()));
    }

    #[test]
    fn fields_of_the_wrong_type_should_be_malformed_naming_the_path() {
        let o = json!({"spec": {"replicas": "3", "paused": 1, "type": 2, "list": {}, "obj": [], "f": 1.5}});
        assert_eq!(
            int(&o, "spec.replicas").unwrap_err().to_string(),
            "`spec.replicas` is not an integer"
        );
        assert_eq!(int(&o, "spec.f").unwrap_err().path, "spec.f");
        assert_eq!(
            boolean(&o, "spec.paused").unwrap_err().problem,
            "is not a boolean"
        );
        assert_eq!(
            string(&o, "spec.type").unwrap_err().problem,
            "is not a string"
        );
        assert_eq!(
            array(&o, "spec.list").unwrap_err().problem,
            "is not an array"
        );
        assert_eq!(
            object(&o, "spec.obj").unwrap_err().problem,
            "is not an object"
        );
    }

    #[test]
    fn walking_through_a_non_object_should_name_the_parent() {
        let o = json!({"spec": "text", "status": {"a": 1}});
        assert_eq!(
            int(&o, "spec.replicas").unwrap_err().to_string(),
            "`spec` is not an object"
        );
        assert_eq!(int(&o, "status.a.b").unwrap_err().path, "status.a");
        let root = int(&json!([1]), "spec").unwrap_err();
        assert_eq!(root.to_string(), "`.` is not an object");
        assert_eq!(
            root.within("items[0]").to_string(),
            "`items[0]` is not an object"
        );
    }

    #[test]
    fn conditions_should_read_in_order_with_missing_strings_empty() {
        let o = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "Ok", "message": "fine"},
            {"type": "Stalled"}
        ]}});
        let cs = conditions(&o).unwrap();
        assert_eq!(cs.len(), 2);
        assert!(cs[0].is("Ready", "True"));
        assert_eq!(
            cs[1],
            Condition {
                type_: "Stalled",
                status: "",
                reason: "",
                message: ""
            }
        );
        assert_eq!(find(&cs, "Ready", "True").map(|c| c.reason), Some("Ok"));
        assert_eq!(find(&cs, "Ready", "False"), None);
        assert_eq!(find_type(&cs, "Stalled").map(|c| c.status), Some(""));
        assert_eq!(find_type(&cs, "Available"), None);
    }

    #[test]
    fn malformed_conditions_should_name_the_entry() {
        let not_object = json!({"status": {"conditions": ["Ready"]}});
        assert_eq!(
            conditions(&not_object).unwrap_err().to_string(),
            "`status.conditions[0]` is not an object"
        );
        let bad_status = json!({"status": {"conditions": [{"type": "Ready", "status": true}]}});
        assert_eq!(
            conditions(&bad_status).unwrap_err().path,
            "status.conditions[0].status"
        );
        let not_array = json!({"status": {"conditions": {}}});
        assert_eq!(
            conditions(&not_array).unwrap_err().path,
            "status.conditions"
        );
    }

    #[test]
    fn explain_should_join_reason_and_message_leaving_out_empty_parts() {
        let c = |reason, message| Condition {
            type_: "Ready",
            status: "False",
            reason,
            message,
        };
        assert_eq!(c("", "").explain(), "");
        assert_eq!(c("R", "").explain(), "R");
        assert_eq!(c("", "m").explain(), "m");
        assert_eq!(c("R", "m").explain(), "R: m");
    }

    #[test]
    fn plural_should_add_s_except_for_one() {
        assert_eq!(plural(0, "replica"), "0 replicas");
        assert_eq!(plural(1, "replica"), "1 replica");
        assert_eq!(plural(2, "pod"), "2 pods");
    }
}
