//! The resource a reconcile is about: the owner of what is applied, the subject of status,
//! Events and reports, whatever its kind.

use crate::api::Report;
use crate::apply::Owner;

/// The resource an outcome is about (what a `Work` is for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// `apiVersion` of the resource.
    pub api_version: String,
    /// `kind` of the resource.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: Option<String>,
}

impl Subject {
    /// The owner labels set on every applied object.
    pub fn owner(&self) -> Owner {
        Owner {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// `namespace/name`.
    pub fn display(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// An `ObjectReference` to the resource (the `regarding` of its Events).
    pub fn object_ref(&self) -> k8s_openapi::api::core::v1::ObjectReference {
        k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(self.api_version.clone()),
            kind: Some(self.kind.clone()),
            namespace: Some(self.namespace.clone()),
            name: Some(self.name.clone()),
            uid: self.uid.clone(),
            ..Default::default()
        }
    }
}

/// The resource an outcome is about, with where it asks its reports to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reported {
    /// The resource.
    pub subject: Subject,
    /// Its own receivers (`spec.report`).
    pub report: Option<Report>,
}
