//! Tenancy: which namespaces and cluster-scoped kinds an Application's repository may touch.
//! Pure: checked on every object after discovery and before anything is written.

use crate::api::{Destination, GroupKind};

/// The limits of one Application.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tenancy {
    /// The destination namespace (always allowed).
    pub namespace: String,
    /// Other allowed namespaces; `*` allows any.
    pub allowed_namespaces: Vec<String>,
    /// Allowed cluster-scoped kinds.
    pub cluster_resources: Vec<GroupKind>,
}

impl Tenancy {
    /// The limits an Application's destination sets, `namespace` being its target namespace.
    pub fn of(destination: &Destination, namespace: &str) -> Self {
        Tenancy {
            namespace: namespace.to_owned(),
            allowed_namespaces: destination.allowed_namespaces.clone(),
            cluster_resources: destination.allowed_cluster_resources.clone(),
        }
    }

    /// No limit at all (the CLI's local use).
    pub fn unrestricted(namespace: &str) -> Self {
        Tenancy {
            namespace: namespace.to_owned(),
            allowed_namespaces: vec!["*".into()],
            cluster_resources: vec![GroupKind {
                group: "*".into(),
                kind: "*".into(),
            }],
        }
    }

    /// Checks one object going to `namespace` (`None`: cluster-scoped).
    ///
    /// # Errors
    /// Why the object is refused, naming the field that would allow it.
    pub fn check(&self, group: &str, kind: &str, namespace: Option<&str>) -> Result<(), String> {
        match namespace {
            Some(ns) => {
                let ok = ns == self.namespace
                    || self.allowed_namespaces.iter().any(|a| a == "*" || a == ns);
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "namespace `{ns}` is outside the destination `{}` (add it to `spec.destination.allowedNamespaces`)",
                        self.namespace
                    ))
                }
            }
            None => {
                let ok = self.cluster_resources.iter().any(|gk| {
                    (gk.group == "*" || gk.group == group) && (gk.kind == "*" || gk.kind == kind)
                });
                if ok {
                    Ok(())
                } else {
                    let g = if group.is_empty() { "\"\"" } else { group };
                    Err(format!(
                        "cluster-scoped kind `{kind}` (group {g}) is not allowed (add it to `spec.destination.allowedClusterResources`)"
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gk(group: &str, kind: &str) -> GroupKind {
        GroupKind {
            group: group.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn the_destination_namespace_should_be_the_only_one_by_default() {
        let t = Tenancy::of(&Destination::default(), "team-a");
        assert!(t.check("", "ConfigMap", Some("team-a")).is_ok());
        let e = t.check("", "ConfigMap", Some("kube-system")).unwrap_err();
        assert!(
            e.contains("`kube-system`") && e.contains("allowedNamespaces"),
            "{e}"
        );
    }

    #[test]
    fn allowed_namespaces_should_widen_the_destination() {
        let d = Destination {
            allowed_namespaces: vec!["jobs".into()],
            ..Default::default()
        };
        let t = Tenancy::of(&d, "team-a");
        assert!(t.check("", "ConfigMap", Some("jobs")).is_ok());
        assert!(t.check("", "ConfigMap", Some("other")).is_err());
        let d = Destination {
            allowed_namespaces: vec!["*".into()],
            ..Default::default()
        };
        assert!(
            Tenancy::of(&d, "a")
                .check("", "ConfigMap", Some("other"))
                .is_ok()
        );
    }

    #[test]
    fn cluster_scoped_kinds_should_be_refused_unless_listed() {
        let t = Tenancy::of(&Destination::default(), "team-a");
        let e = t
            .check("rbac.authorization.k8s.io", "ClusterRole", None)
            .unwrap_err();
        assert!(
            e.contains("`ClusterRole`") && e.contains("allowedClusterResources"),
            "{e}"
        );
        assert!(
            t.check("", "Namespace", None)
                .unwrap_err()
                .contains("group \"\"")
        );
        let d = Destination {
            allowed_cluster_resources: vec![gk("", "Namespace"), gk("apiextensions.k8s.io", "*")],
            ..Default::default()
        };
        let t = Tenancy::of(&d, "team-a");
        assert!(t.check("", "Namespace", None).is_ok());
        assert!(
            t.check("apiextensions.k8s.io", "CustomResourceDefinition", None)
                .is_ok()
        );
        assert!(
            t.check("rbac.authorization.k8s.io", "ClusterRole", None)
                .is_err()
        );
        assert!(Tenancy::unrestricted("x").check("a", "B", None).is_ok());
        assert!(
            Tenancy::unrestricted("x")
                .check("a", "B", Some("y"))
                .is_ok()
        );
    }
}
