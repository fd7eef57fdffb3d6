//! The inventory: which objects an Application applied, in Flux's `<ns>_<name>_<group>_<kind>` form.

use crate::api::InventoryEntry;
use crate::render::Object;

/// The inventory entry of an object applied to `namespace` (`None` when cluster-scoped).
pub fn entry_for(o: &Object, namespace: Option<&str>) -> InventoryEntry {
    let (group, version) = match o.api_version().rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", o.api_version()),
    };
    InventoryEntry {
        id: format!(
            "{}_{}_{}_{}",
            namespace.unwrap_or_default(),
            o.name(),
            group,
            o.kind()
        ),
        v: version.to_owned(),
    }
}

/// A sorted, de-duplicated inventory.
pub fn inventory_of<'a>(
    entries: impl IntoIterator<Item = &'a InventoryEntry>,
) -> Vec<InventoryEntry> {
    let mut v: Vec<_> = entries.into_iter().cloned().collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_should_use_flux_ids() {
        let d = Object {
            value: json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}),
            origin: "f".into(),
        };
        assert_eq!(
            entry_for(&d, Some("team-a")),
            InventoryEntry {
                id: "team-a_web_apps_Deployment".into(),
                v: "v1".into()
            }
        );
        let ns = Object {
            value: json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}),
            origin: "f".into(),
        };
        assert_eq!(entry_for(&ns, None).id, "_a__Namespace");
    }

    #[test]
    fn inventories_should_be_sorted_and_unique() {
        let a = InventoryEntry {
            id: "b".into(),
            v: "v1".into(),
        };
        let b = InventoryEntry {
            id: "a".into(),
            v: "v1".into(),
        };
        assert_eq!(inventory_of([&a, &b, &a]), vec![b.clone(), a.clone()]);
    }
}
