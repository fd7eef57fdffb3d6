//! The inventory: which objects an Application applied, in Flux's `<ns>_<name>_<group>_<kind>`
//! form, and what pruning must delete when it changes. Pure.

use std::collections::BTreeSet;

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

/// An inventory entry, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectId {
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// API group, empty for the core group.
    pub group: String,
    /// API version the object was applied with.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl ObjectId {
    /// Parses an entry. Kubernetes names, namespaces, groups and kinds cannot contain `_`, so the
    /// id splits into exactly four parts.
    pub fn parse(e: &InventoryEntry) -> Option<Self> {
        let mut parts = e.id.split('_');
        let (namespace, name, group, kind) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || name.is_empty() || kind.is_empty() || e.v.is_empty() {
            return None;
        }
        Some(ObjectId {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            group: group.to_owned(),
            version: e.v.clone(),
            kind: kind.to_owned(),
        })
    }

    /// `Kind namespace/name` for messages.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// Deletion order: namespaced objects first, then cluster-scoped ones, CRDs and Namespaces last
    /// (the reverse of the apply order, so nothing is left orphaned mid-prune).
    fn deletion_rank(&self) -> u8 {
        match (self.kind.as_str(), self.namespace.is_empty()) {
            (_, false) => 0,
            ("CustomResourceDefinition", true) => 2,
            ("Namespace", true) => 3,
            _ => 1,
        }
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

/// The entries of `old` whose object is not in `new`, in deletion order. Entries that do not parse
/// are returned last, to be reported, never guessed at.
pub fn stale(
    old: &[InventoryEntry],
    new: &[InventoryEntry],
) -> (Vec<ObjectId>, Vec<InventoryEntry>) {
    let keep: BTreeSet<&str> = new.iter().map(|e| e.id.as_str()).collect();
    let mut ids = Vec::new();
    let mut bad = Vec::new();
    for e in old.iter().filter(|e| !keep.contains(e.id.as_str())) {
        match ObjectId::parse(e) {
            Some(id) => ids.push(id),
            None => bad.push(e.clone()),
        }
    }
    ids.sort_by(|a, b| {
        a.deletion_rank()
            .cmp(&b.deletion_rank())
            .then_with(|| a.display().cmp(&b.display()))
    });
    (ids, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn e(id: &str) -> InventoryEntry {
        InventoryEntry {
            id: id.into(),
            v: "v1".into(),
        }
    }

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
        assert_eq!(
            inventory_of([&e("b"), &e("a"), &e("b")]),
            vec![e("a"), e("b")]
        );
    }

    #[test]
    fn ids_should_round_trip() {
        let id = ObjectId::parse(&InventoryEntry {
            id: "team-a_web_apps_Deployment".into(),
            v: "v1".into(),
        })
        .unwrap();
        assert_eq!(
            (
                id.namespace.as_str(),
                id.name.as_str(),
                id.group.as_str(),
                id.kind.as_str()
            ),
            ("team-a", "web", "apps", "Deployment")
        );
        assert_eq!(id.display(), "Deployment team-a/web");
        assert_eq!(
            ObjectId::parse(&e("_a__Namespace")).unwrap().display(),
            "Namespace a"
        );
        for bad in ["", "a_b_c", "a_b_c_d_e", "ns__g_Kind", "ns_n_g_"] {
            assert_eq!(ObjectId::parse(&e(bad)), None, "{bad}");
        }
        assert_eq!(
            ObjectId::parse(&InventoryEntry {
                id: "a_b_c_D".into(),
                v: String::new()
            }),
            None
        );
    }

    #[test]
    fn stale_entries_should_come_in_deletion_order() {
        let old = [
            e("_ns1__Namespace"),
            e("_w.x.io_apiextensions.k8s.io_CustomResourceDefinition"),
            e("_r_rbac.authorization.k8s.io_ClusterRole"),
            e("ns1_cm__ConfigMap"),
            e("ns1_keep__ConfigMap"),
            e("garbage"),
        ];
        let new = [e("ns1_keep__ConfigMap")];
        let (ids, bad) = stale(&old, &new);
        let order: Vec<String> = ids.iter().map(ObjectId::display).collect();
        assert_eq!(
            order,
            [
                "ConfigMap ns1/cm",
                "ClusterRole r",
                "CustomResourceDefinition w.x.io",
                "Namespace ns1"
            ]
        );
        assert_eq!(bad, vec![e("garbage")]);
    }

    #[test]
    fn nothing_should_be_stale_when_only_the_version_changes() {
        let old = [InventoryEntry {
            id: "ns_web_apps_Deployment".into(),
            v: "v1beta1".into(),
        }];
        let new = [InventoryEntry {
            id: "ns_web_apps_Deployment".into(),
            v: "v1".into(),
        }];
        assert!(stale(&old, &new).0.is_empty());
    }
}
