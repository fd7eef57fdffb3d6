//! Fuzz target bodies, kept in the library so they compile and run in unit tests; the
//! cargo-fuzz targets in `fuzz/` call them.

use std::path::Path;

use crate::{MemFs, build, kustomization, patch, yaml};

/// Parses arbitrary bytes as a kustomization, then renders it over a small fixed tree.
/// Must never panic.
pub fn kustomization_parser(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = yaml::parse_one(text) {
        let _ = kustomization::parse(&v, "kustomization.yaml");
    }
    let fs = fixture(data);
    if let Ok(out) = build(&fs, Path::new("k")) {
        let _ = out.to_yaml();
    }
}

/// The tree the kustomization fuzz target renders: `data` as `k/kustomization.yaml` beside
/// resources, patches, an env file, a configuration, replacements and a component.
fn fixture(data: &[u8]) -> MemFs {
    let mut fs = MemFs::new();
    fs.add("k/kustomization.yaml", data.to_vec());
    fs.add(
        "k/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n",
    );
    fs.add("k/base/kustomization.yaml", "resources:\n- ../cm.yaml\n");
    fs.add(
        "k/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: nginx\n        envFrom:\n        - configMapRef:\n            name: cm\n",
    );
    fs.add(
        "k/patch.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 2\n",
    );
    fs.add(
        "k/ops.yaml",
        "- op: add\n  path: /metadata/labels\n  value: {a: b}\n",
    );
    fs.add("k/app.env", "A=1\nB=2\n");
    fs.add("k/config.yaml", "nameReference:\n- kind: ConfigMap\n  fieldSpecs:\n  - kind: Deployment\n    path: spec/x\n");
    fs.add(
        "k/replacements.yaml",
        "- source: {kind: ConfigMap, name: cm, fieldPath: data.a}\n  targets:\n  - select: {kind: Deployment}\n    fieldPaths: [spec.template.spec.containers.0.image]\n",
    );
    fs.add(
        "k/comp/kustomization.yaml",
        "kind: Component\nnamePrefix: c-\n",
    );
    fs
}

/// Splits the input at the first NUL into a target object and a patch (strategic merge or
/// JSON 6902) and applies it. Must never panic.
pub fn patch_engine(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once('\0').unwrap_or((text, "{}"));
    let (Ok(mut target), Ok(p)) = (yaml::parse_one(a), yaml::parse_one(b)) else {
        return;
    };
    if p.is_array() {
        let _ = patch::json6902::apply(&mut target, &p);
    } else {
        let _ = patch::smp::apply(&mut target, &p);
    }
    let _ = yaml::to_yaml_document(&target);
}

/// A small deterministic generator (xorshift) of Kubernetes-shaped trees for the structured
/// strategic-merge run below: field names and values chosen so that keyed lists, several merge
/// keys, directives (valid, unknown, misplaced), nulls and mismatched shapes meet often.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }

    fn value(&mut self, depth: u32) -> serde_json::Value {
        use serde_json::{Value, json};
        const KEYS: &[&str] = &[
            "spec",
            "template",
            "containers",
            "initContainers",
            "ephemeralContainers",
            "ports",
            "port",
            "protocol",
            "containerPort",
            "name",
            "env",
            "value",
            "volumes",
            "finalizers",
            "topologySpreadConstraints",
            "topologyKey",
            "whenUnsatisfiable",
            "$patch",
            "metadata",
            "args",
            "conditions",
            "type",
        ];
        let roll = if depth == 0 {
            self.next() % 4
        } else {
            self.next() % 9
        };
        match roll {
            0 => json!(self.pick(&["TCP", "UDP", "80", "a", "", "delete", "replace", "merge"])),
            1 => json!(self.next() % 4),
            2 => Value::Null,
            3 => Value::Bool(self.next().is_multiple_of(2)),
            4..=6 => {
                let mut m = serde_json::Map::new();
                for _ in 0..self.next() % 4 {
                    let k = self.pick(KEYS).to_string();
                    let v = self.value(depth - 1);
                    m.insert(k, v);
                }
                Value::Object(m)
            }
            _ => Value::Array(
                (0..self.next() % 4)
                    .map(|_| self.value(depth - 1))
                    .collect(),
            ),
        }
    }
}

/// Applies a generated strategic merge patch to a generated object. Must never panic.
pub fn smp_structured(seed: u64) {
    let mut g = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for (api, kind) in [
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("example.com/v1", "X"),
    ] {
        let mut target = g.value(6);
        if let Some(m) = target.as_object_mut() {
            m.insert("apiVersion".into(), api.into());
            m.insert("kind".into(), kind.into());
        }
        let p = g.value(6);
        if patch::smp::apply(&mut target, &p).is_ok() {
            let _ = yaml::to_yaml_document(&target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_fixture_renders_a_full_kustomization() {
        let k = "resources: [deploy.yaml, cm.yaml]\npatches:\n- path: patch.yaml\n- path: ops.yaml\n  target: {kind: Deployment}\nconfigMapGenerator:\n- name: g\n  envs: [app.env]\nconfigurations: [config.yaml]\nreplacements:\n- path: replacements.yaml\ncomponents: [comp]\nnamespace: ns1\n";
        let out = build(&fixture(k.as_bytes()), Path::new("k")).expect("fixture renders");
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn strategic_merge_survives_generated_trees() {
        for seed in 0..20_000 {
            smp_structured(seed);
        }
    }

    #[test]
    fn fuzz_bodies_survive_samples() {
        for s in [
            &b"resources: [cm.yaml]\nnamePrefix: p-\n"[..],
            b"resources: [base]\n",
            b"resources: [../../etc/passwd]\n",
            b"patches: [{patch: '[{\"op\": \"remove\", \"path\": \"/x\"}]', target: {kind: ConfigMap}}]\nresources: [cm.yaml]\n",
            b"{{{{",
            b"- - - -",
            b"\xff\xfe",
            b"configMapGenerator: [{name: a, literals: [x=1, '=bad']}]",
        ] {
            kustomization_parser(s);
        }
        for s in [
            &b"a: [1, 2]\0a: null"[..],
            b"spec: {containers: [{name: a}]}\0spec: {containers: [{name: a, $patch: delete}]}",
            b"a: 1\0[{op: add, path: /b, value: 2}, {op: remove, path: /zz}]",
            b"[1]\0{$patch: delete}",
            b"spec: {ports: [{port: 1}, 2, null, {}]}\0spec: {ports: [{port: 1, protocol: UDP}, 3, {$patch: replace}]}",
            b"spec: {ports: [{protocol: UDP}]}\0spec: {ports: [{$patch: bogus}, {port: []}]}",
            b"kind: Service\napiVersion: v1\nspec: {ports: [{port: 1, protocol: TCP}, {port: 1}]}\0spec: {ports: [{port: 1, $patch: delete}]}",
        ] {
            patch_engine(s);
        }
    }
}
