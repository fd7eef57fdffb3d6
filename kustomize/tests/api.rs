//! The public API as the agent uses it: in-memory trees, plain directories, errors that name
//! their file.

use std::path::Path;

use kustomize::{Error, MemFs, build};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n";
const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n";

#[test]
fn plain_directory_renders_its_yaml_files_in_name_order() {
    let mut fs = MemFs::new();
    fs.add("apps/web/b.yaml", CM);
    fs.add("apps/web/a.yml", SECRET);
    fs.add("apps/web/notes.txt", "not yaml");
    fs.add(
        "apps/web/sub/c.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nested\n",
    );
    let out = build(&fs, Path::new("apps/web")).expect("renders");
    let names: Vec<&str> = out
        .objects()
        .map(|o| o["metadata"]["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        vec!["c", "s"],
        "ConfigMap sorts before Secret; sub/ is not read"
    );
}

#[test]
fn nested_directory_without_kustomization_is_an_error_naming_it() {
    let mut fs = MemFs::new();
    fs.add("k/kustomization.yaml", "resources:\n- plain\n");
    fs.add("k/plain/cm.yaml", CM);
    let err = build(&fs, Path::new("k")).unwrap_err();
    assert!(matches!(err, Error::NoKustomization { .. }));
    assert!(err.to_string().contains("k/plain"), "{err}");
}

#[test]
fn objects_are_json_values_in_output_order() {
    let mut fs = MemFs::new();
    fs.add(
        "k/kustomization.yaml",
        "resources: [cm.yaml, s.yaml]\nnamespace: prod\n",
    );
    fs.add("k/cm.yaml", CM);
    fs.add("k/s.yaml", SECRET);
    let out = build(&fs, Path::new("k")).expect("renders");
    assert_eq!(out.len(), 2);
    for o in out.objects() {
        assert_eq!(o["metadata"]["namespace"], "prod");
    }
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let mut fs = MemFs::new();
    fs.add("k/kustomization.yaml", "resources: [bad.yaml]\n");
    fs.add("k/bad.yaml", "a: b\n c: [\n");
    let err = build(&fs, Path::new("k")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("k/bad.yaml: line"), "{msg}");
}

#[test]
fn unknown_field_names_file_and_key() {
    let mut fs = MemFs::new();
    fs.add(
        "k/kustomization.yaml",
        "resources: []\ncommonLabel:\n  a: b\n",
    );
    let msg = build(&fs, Path::new("k")).unwrap_err().to_string();
    assert_eq!(msg, "k/kustomization.yaml: `commonLabel`: unknown field");
}

#[test]
fn loading_a_file_above_the_kustomization_is_refused() {
    let mut fs = MemFs::new();
    fs.add("repo/secret.yaml", CM);
    fs.add(
        "repo/app/kustomization.yaml",
        "resources: [../secret.yaml]\n",
    );
    let err = build(&fs, Path::new("repo/app")).unwrap_err();
    assert!(matches!(err, Error::PathEscapesRoot { .. }), "{err}");
}

#[test]
fn escaping_the_file_system_root_is_refused() {
    let mut fs = MemFs::new();
    fs.add("app/kustomization.yaml", "resources: [../../../etc]\n");
    let err = build(&fs, Path::new("app")).unwrap_err();
    assert!(matches!(err, Error::PathEscapesRoot { .. }), "{err}");
}

#[test]
fn remote_bases_are_refused_without_network() {
    let mut fs = MemFs::new();
    fs.add(
        "app/kustomization.yaml",
        "resources:\n- github.com/org/repo/deploy?ref=v1\n",
    );
    let err = build(&fs, Path::new("app")).unwrap_err();
    assert!(matches!(err, Error::RemoteResource { .. }), "{err}");
}

#[test]
fn self_reference_is_a_cycle() {
    let mut fs = MemFs::new();
    fs.add("app/kustomization.yaml", "resources:\n- .\n");
    let err = build(&fs, Path::new("app")).unwrap_err();
    assert!(matches!(err, Error::Cycle { .. }), "{err}");
}

#[test]
fn deep_yaml_does_not_overflow_the_stack() {
    let mut fs = MemFs::new();
    fs.add("app/kustomization.yaml", "resources: [deep.yaml]\n");
    fs.add("app/deep.yaml", format!("a: {}", "[".repeat(100_000)));
    assert!(build(&fs, Path::new("app")).is_err());
}

#[test]
fn disk_symlinks_out_of_the_root_are_refused() {
    let dir = std::env::temp_dir().join(format!("kustomize-rs-symlink-{}", std::process::id()));
    let app = dir.join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    let outside =
        std::env::temp_dir().join(format!("kustomize-rs-outside-{}.yaml", std::process::id()));
    std::fs::write(&outside, CM).expect("write");
    let link = app.join("cm.yaml");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&outside, &link).expect("symlink");
    std::fs::write(app.join("kustomization.yaml"), "resources: [cm.yaml]\n").expect("write");
    let fs = kustomize::DiskFs::new(&dir);
    let result = build(&fs, Path::new("app"));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&outside);
    assert!(
        result.is_err(),
        "a symlink leading out of the root must not be read"
    );
}
