//! Where images are in rendered objects: every container of every pod-bearing kind, with the
//! JSON pointer of its `image`, so that it can be rewritten to a digest.

use serde_json::Value;

/// One use of an image in the rendered objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageUse {
    /// Index of the object in the slice given to [`extract_images`].
    pub object: usize,
    /// JSON pointer (RFC 6901) of the `image` field in that object
    /// (`/spec/template/spec/containers/0/image`).
    pub pointer: String,
    /// The image as written.
    pub image: String,
}

/// Where the pod spec is, by kind. Kinds are matched by name whatever their API group: a
/// custom kind named like a workload gets its images checked too, which only errs on the safe
/// side.
fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("/spec"),
        "PodTemplate" => Some("/template/spec"),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// Every image of every pod-bearing object (Pod, PodTemplate, Deployment, ReplicaSet,
/// StatefulSet, DaemonSet, Job, ReplicationController, CronJob), in object order, then init
/// containers, containers and ephemeral containers. A container without a string `image` is
/// skipped (the API server refuses it anyway); an empty string is returned, so that it is
/// refused as an invalid reference.
pub fn extract_images(objects: &[Value]) -> Vec<ImageUse> {
    let mut uses = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let Some(base) = object
            .get("kind")
            .and_then(Value::as_str)
            .and_then(pod_spec_pointer)
        else {
            continue;
        };
        let Some(spec) = object.pointer(base) else {
            continue;
        };
        for list in CONTAINER_LISTS {
            let Some(containers) = spec.get(list).and_then(Value::as_array) else {
                continue;
            };
            for (i, container) in containers.iter().enumerate() {
                if let Some(image) = container.get("image").and_then(Value::as_str) {
                    uses.push(ImageUse {
                        object: index,
                        pointer: format!("{base}/{list}/{i}/image"),
                        image: image.to_owned(),
                    });
                }
            }
        }
    }
    uses
}

/// Sets the image at `image_use` to `reference`. Returns false (and changes nothing) when the
/// object or the pointer is not there any more.
pub fn rewrite_image(objects: &mut [Value], image_use: &ImageUse, reference: &str) -> bool {
    match objects
        .get_mut(image_use.object)
        .and_then(|o| o.pointer_mut(&image_use.pointer))
    {
        Some(slot @ Value::String(_)) => {
            *slot = Value::String(reference.to_owned());
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_spec(images: &[&str]) -> Value {
        json!({ "containers": images.iter().map(|i| json!({"name": "c", "image": i})).collect::<Vec<_>>() })
    }

    #[test]
    fn every_pod_bearing_kind_should_yield_its_images_with_pointers() {
        let objects = vec![
            json!({"apiVersion": "v1", "kind": "Pod", "spec": {
                "initContainers": [{"name": "i", "image": "init:1"}],
                "containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}],
                "ephemeralContainers": [{"name": "e", "image": "debug:1"}]}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": pod_spec(&["dep:1"])}}}),
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"template": {"spec": pod_spec(&["rs:1"])}}}),
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"template": {"spec": pod_spec(&["sts:1"])}}}),
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": pod_spec(&["ds:1"])}}}),
            json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": pod_spec(&["job:1"])}}}),
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec(&["cron:1"])}}}}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"image": "not-an-image"}}),
        ];
        let uses = extract_images(&objects);
        let got: Vec<(usize, &str, &str)> = uses
            .iter()
            .map(|u| (u.object, u.pointer.as_str(), u.image.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, "/spec/initContainers/0/image", "init:1"),
                (0, "/spec/containers/0/image", "a:1"),
                (0, "/spec/containers/1/image", "b:1"),
                (0, "/spec/ephemeralContainers/0/image", "debug:1"),
                (1, "/spec/template/spec/containers/0/image", "dep:1"),
                (2, "/spec/template/spec/containers/0/image", "rs:1"),
                (3, "/spec/template/spec/containers/0/image", "sts:1"),
                (4, "/spec/template/spec/containers/0/image", "ds:1"),
                (5, "/spec/template/spec/containers/0/image", "job:1"),
                (
                    6,
                    "/spec/jobTemplate/spec/template/spec/containers/0/image",
                    "cron:1"
                ),
            ]
        );
        for u in &uses {
            assert_eq!(objects[u.object].pointer(&u.pointer), Some(&json!(u.image)));
        }
    }

    #[test]
    fn objects_without_pod_specs_or_images_should_yield_nothing() {
        let objects = vec![
            json!({"kind": "Deployment"}),
            json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": "x"}}}}),
            json!({"kind": "Pod", "spec": {"containers": [{"name": "a"}, {"name": "b", "image": 3}]}}),
            json!({"kind": 7}),
            json!([1, 2]),
            json!(null),
        ];
        assert!(extract_images(&objects).is_empty());
    }

    #[test]
    fn an_empty_image_should_be_extracted_so_that_it_is_refused() {
        let objects = vec![json!({"kind": "Pod", "spec": {"containers": [{"image": ""}]}})];
        assert_eq!(extract_images(&objects)[0].image, "");
    }

    #[test]
    fn rewrite_should_set_the_image_at_its_pointer_only() {
        let mut objects = vec![json!({"kind": "Pod", "spec": {"containers": [
            {"name": "a", "image": "app:v1"}, {"name": "b", "image": "app:v1"}]}})];
        let uses = extract_images(&objects);
        assert!(rewrite_image(&mut objects, &uses[1], "app@sha256:00"));
        assert_eq!(objects[0]["spec"]["containers"][0]["image"], "app:v1");
        assert_eq!(
            objects[0]["spec"]["containers"][1]["image"],
            "app@sha256:00"
        );
        let gone = ImageUse {
            object: 3,
            ..uses[0].clone()
        };
        assert!(!rewrite_image(&mut objects, &gone, "x"));
    }
}
