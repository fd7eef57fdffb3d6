//! Rendered objects and kustomize sources holding files encrypted by the real `sops`
//! (`tests/fixtures`), decrypted as Flux kustomize-controller decrypts them.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kustomize::{FileSystem, MemFs};
use serde_json::{Value, json};
use sops::kube::{Decryptor, NoSources, Outcome};
use sops::kustomize::DecryptingFs;
use sops::{Format, Keyring};

fn fixture(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn text(path: &str) -> String {
    String::from_utf8(fixture(path)).unwrap()
}

fn keys() -> Keyring {
    let mut k = Keyring::new();
    k.add_age_identities("one", &text("keys/one.agekey"))
        .unwrap();
    k.add_pgp_keys("pgp", &fixture("keys/pgp.asc")).unwrap();
    k
}

/// kustomize-rs build of `dir`, each object with its origin.
fn render(fs: &dyn FileSystem, dir: &str) -> Vec<(Value, String)> {
    kustomize::build(fs, Path::new(dir))
        .unwrap_or_else(|e| panic!("{e}"))
        .into_resources()
        .into_iter()
        .map(|r| {
            let o = r.origin().to_owned();
            (r.into_object(), o)
        })
        .collect()
}

fn reader(fs: &MemFs) -> impl Fn(&str) -> Option<Vec<u8>> + '_ {
    move |p| fs.read(Path::new(p)).ok()
}

fn app() -> MemFs {
    let mut fs = MemFs::new();
    fs.add("app/secret.enc.yaml", fixture("enc/secret.yaml"));
    fs.add(
        "app/kustomization.yaml",
        "namespace: prod\ncommonLabels:\n  team: a\nnamePrefix: x-\nresources: [secret.enc.yaml]\n",
    );
    fs
}

#[test]
fn a_rendered_secret_should_decrypt_with_the_mac_checked_on_its_file() {
    let fs = app();
    let mut objs = render(&fs, "app");
    let k = keys();
    let mut d = Decryptor::new(&k);
    let (obj, origin) = &mut objs[0];
    let out = d.decrypt_object(obj, origin, &reader(&fs)).unwrap();
    assert_eq!(out, Outcome::Decrypted(5));
    assert!(obj.get("sops").is_none());
    // The build's changes stay (namespace, prefix, labels) and the values are the plaintext.
    assert_eq!(obj["metadata"]["namespace"], "prod");
    assert_eq!(obj["metadata"]["name"], "x-db");
    assert_eq!(obj["metadata"]["labels"]["team"], "a");
    assert_eq!(
        obj["stringData"],
        json!({"username": "admin", "password": "s3cr3t: with # and 'quotes'",
               "url": "postgres://admin@db:5432/app?sslmode=require", "empty": ""})
    );
    assert_eq!(obj["data"]["token"], "c2VjcmV0LXRva2Vu");
}

#[test]
fn a_tampered_file_should_refuse_its_objects_naming_them() {
    let mut fs = app();
    let tampered = text("enc/secret.yaml").replace("app: db", "app: dbx");
    fs.add("app/secret.enc.yaml", tampered);
    let mut objs = render(&fs, "app");
    let k = keys();
    let mut d = Decryptor::new(&k);
    let (obj, origin) = &mut objs[0];
    let before = obj.clone();
    let e = d.decrypt_object(obj, origin, &reader(&fs)).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("`app/secret.enc.yaml`") && m.contains("Secret prod/x-db"),
        "{m}"
    );
    assert!(m.contains("MAC does not match"), "{m}");
    assert!(!m.contains("s3cr3t"), "{m}");
    assert_eq!(*obj, before, "left as it was");
}

#[test]
fn a_patch_that_puts_a_clear_value_where_sops_expects_a_secret_should_be_refused() {
    let mut fs = app();
    fs.add(
        "app/kustomization.yaml",
        "resources: [secret.enc.yaml]\npatches:\n- patch: |\n    apiVersion: v1\n    kind: Secret\n    metadata: {name: db, namespace: team-a}\n    stringData: {password: plain}\n",
    );
    let mut objs = render(&fs, "app");
    let k = keys();
    let (obj, origin) = &mut objs[0];
    let e = Decryptor::new(&k)
        .decrypt_object(obj, origin, &reader(&fs))
        .unwrap_err();
    assert!(
        e.to_string().contains("`stringData.password`") && e.to_string().contains("in clear"),
        "{e}"
    );
}

#[test]
fn opted_out_objects_should_stay_encrypted() {
    let mut fs = app();
    fs.add(
        "app/kustomization.yaml",
        "resources: [secret.enc.yaml]\ncommonAnnotations:\n  kustomize.toolkit.fluxcd.io/decrypt: Disabled\n",
    );
    let mut objs = render(&fs, "app");
    let before = objs[0].0.clone();
    let k = keys();
    let (obj, origin) = &mut objs[0];
    let out = Decryptor::new(&k)
        .decrypt_object(obj, origin, &reader(&fs))
        .unwrap();
    assert_eq!(out, Outcome::OptedOut);
    assert_eq!(objs[0].0, before);
    assert!(sops::kube::is_encrypted(&before));
}

#[test]
fn every_document_of_a_multi_document_file_should_decrypt() {
    let mut fs = MemFs::new();
    fs.add("m/s.yaml", fixture("enc/multi.yaml"));
    fs.add("m/kustomization.yaml", "resources: [s.yaml]\n");
    let mut objs = render(&fs, "m");
    let k = keys();
    let mut d = Decryptor::new(&k);
    for (o, origin) in &mut objs {
        d.decrypt_object(o, origin, &reader(&fs)).unwrap();
    }
    let got: Vec<Value> = objs.iter().map(|(o, _)| o["stringData"].clone()).collect();
    assert!(
        got.contains(&json!({"a": "one"})) && got.contains(&json!({"b": "two"})),
        "{got:?}"
    );
}

#[test]
fn without_its_file_an_object_in_another_order_should_not_pass_the_mac() {
    let fs = app();
    let mut objs = render(&fs, "app");
    let k = keys();
    let (obj, origin) = &mut objs[0];
    let e = Decryptor::new(&k)
        .decrypt_object(obj, origin, &NoSources)
        .unwrap_err();
    assert!(e.to_string().contains("MAC cannot be verified"), "{e}");
}

#[test]
fn encrypted_metadata_should_be_refused() {
    // sops without --encrypted-regex encrypts apiVersion, kind and metadata too.
    assert!(sops::load(&fixture("enc/secret-all.yaml"), Format::Yaml).is_ok());
    let mut obj = kustomize::yaml::parse_one(&text("enc/secret-all.yaml")).unwrap();
    let k = keys();
    let mut fs = MemFs::new();
    fs.add("all.yaml", fixture("enc/secret-all.yaml"));
    let e = Decryptor::new(&k)
        .decrypt_object(&mut obj, "all.yaml", &reader(&fs))
        .unwrap_err();
    assert!(e.to_string().contains("must stay in clear"), "{e}");
}

#[test]
fn non_secret_objects_with_sops_metadata_should_decrypt_as_in_flux() {
    // Flux decrypts any kind that carries `sops.mac`; here the JSON file's object itself.
    let mut fs = MemFs::new();
    fs.add("c/config.json", fixture("enc/config.json"));
    let mut obj = kustomize::yaml::parse_one(&text("enc/config.json")).unwrap();
    let k = keys();
    let out = Decryptor::new(&k)
        .decrypt_object(&mut obj, "c/config.json", &reader(&fs))
        .unwrap();
    assert!(matches!(out, Outcome::Decrypted(_)), "{out:?}");
    assert_eq!(obj["port"], 8080);
    assert_eq!(obj["ratio"], 0.75);
    assert_eq!(obj["tags"], json!(["a", "b"]));
    assert_eq!(obj["html"], "<b>&</b>");
    assert_eq!(obj["sops_like_key_unencrypted"], "clear");
}

fn secret_with_entries(entries: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(k, f)| ((*k).to_owned(), Value::String(STANDARD.encode(fixture(f)))))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gen", "namespace": "n"}, "data": data})
}

#[test]
fn secret_entries_holding_encrypted_files_should_decrypt_in_their_keys_format() {
    let mut obj = secret_with_entries(&[
        ("app.env", "enc/app.env"),
        ("key.pem", "enc/key.pem"),
        ("config.json", "enc/config.json"),
        ("token", "enc/token.bin"),
        ("secret.yaml", "enc/secret.yaml"),
    ]);
    let k = keys();
    let out = Decryptor::new(&k)
        .decrypt_object(&mut obj, "kustomization.yaml", &NoSources)
        .unwrap();
    assert!(
        matches!(out, Outcome::SecretEntries(ref v) if v.len() == 5),
        "{out:?}"
    );
    let got = |k: &str| STANDARD.decode(obj["data"][k].as_str().unwrap()).unwrap();
    assert_eq!(got("app.env"), fixture("dec/app.env"));
    assert_eq!(got("key.pem"), fixture("dec/key.pem"));
    assert_eq!(got("config.json"), fixture("dec/config.json"));
    assert_eq!(got("token"), fixture("dec/token.bin"));
    let yaml = String::from_utf8(got("secret.yaml")).unwrap();
    assert!(
        yaml.contains("password: 's3cr3t: with # and ''quotes'''"),
        "{yaml}"
    );
}

#[test]
fn a_tampered_secret_entry_should_be_refused_naming_its_key() {
    let env = text("enc/app.env").replace("EMPTY=", "EMPTY=injected");
    let mut obj = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gen"},
        "data": {"app.env": STANDARD.encode(env)}});
    let k = keys();
    let e = Decryptor::new(&k)
        .decrypt_object(&mut obj, "k.yaml", &NoSources)
        .unwrap_err();
    assert!(e.to_string().contains("`data.app.env`"), "{e}");
    assert!(!e.to_string().contains("injected"), "{e}");
}

#[test]
fn secret_generator_sources_should_be_decrypted_before_the_build() {
    let mut fs = MemFs::new();
    fs.add("base/app.env", fixture("enc/app.env"));
    fs.add("base/key.pem", fixture("enc/key.pem"));
    fs.add("base/plain.txt", "not encrypted\n");
    fs.add(
        "base/kustomization.yaml",
        "secretGenerator:\n- name: app\n  envs: [app.env]\n  files: [tls.key=key.pem, plain.txt]\n",
    );
    fs.add(
        "overlay/kustomization.yaml",
        "resources: [../base]\nnamespace: prod\n",
    );
    let k = keys();
    let dfs = DecryptingFs::new(&fs, &k, "overlay").unwrap();
    let decrypted: Vec<String> = dfs.decrypted().map(|p| p.display().to_string()).collect();
    assert_eq!(decrypted, ["base/app.env", "base/key.pem"]);
    let objs = render(&dfs, "overlay");
    let data = &objs[0].0["data"];
    // kustomize wraps base64 at 70 columns, as Go's decoder accepts.
    let get = |k: &str| {
        let b64: String = data[k].as_str().unwrap().split('\n').collect();
        String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
    };
    assert_eq!(get("DB_USER"), "admin");
    assert_eq!(get("DB_PASSWORD"), "p@ss=word");
    assert_eq!(get("MULTI"), "line1\\nline2");
    assert_eq!(get("tls.key").as_bytes(), fixture("dec/key.pem"));
    assert_eq!(get("plain.txt"), "not encrypted\n");
    assert!(data.get("sops_mac").is_none());
    // The name hash is over the plaintext, as in Flux: re-encrypting does not change it.
    let name = objs[0].0["metadata"]["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("app-"), "{name}");
}

#[test]
fn an_encrypted_patch_should_be_decrypted_before_the_build() {
    let mut fs = MemFs::new();
    fs.add("p/cm.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: team-a\nstringData:\n  username: x\n");
    fs.add("p/patch.yaml", fixture("enc/secret.yaml"));
    fs.add(
        "p/kustomization.yaml",
        "resources: [cm.yaml]\npatches:\n- path: patch.yaml\n",
    );
    let k = keys();
    let dfs = DecryptingFs::new(&fs, &k, "p").unwrap();
    let objs = render(&dfs, "p");
    assert_eq!(objs[0].0["stringData"]["username"], "admin");
    assert!(objs[0].0.get("sops").is_none());
}

#[test]
fn a_tampered_generator_source_should_be_refused_naming_it_and_its_kustomization() {
    let mut fs = MemFs::new();
    fs.add(
        "b/app.env",
        text("enc/app.env").replace("EMPTY=", "EMPTY=x"),
    );
    fs.add(
        "b/kustomization.yaml",
        "secretGenerator:\n- name: app\n  envs: [app.env]\n",
    );
    let k = keys();
    let e = DecryptingFs::new(&fs, &k, "b").unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("`b/app.env`") && m.contains("`b/kustomization.yaml`"),
        "{m}"
    );
    // Without the key.
    let mut fs = MemFs::new();
    fs.add("b/app.env", fixture("enc/app.env"));
    fs.add(
        "b/kustomization.yaml",
        "secretGenerator:\n- name: app\n  envs: [app.env]\n",
    );
    let e = DecryptingFs::new(&fs, &Keyring::new(), "b").unwrap_err();
    assert!(e.to_string().contains("no key can decrypt"), "{e}");
}
