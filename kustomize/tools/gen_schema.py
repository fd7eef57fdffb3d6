#!/usr/bin/env python3
"""Generates kustomize/src/patch/schema.rs: which lists of which built-in types kyaml's strategic
merge treats as associative, and by which keys, read from the Kubernetes OpenAPI document kyaml
embeds (kyaml/openapi/kubernetesapi/v1_21_2/swagger.pb, a gnostic OpenAPI v2 protobuf).

  go mod download -json sigs.k8s.io/kustomize/kyaml@v0.21.1     # prints its Dir
  python3 kustomize/tools/gen_schema.py DIR/openapi/kubernetesapi/v1_21_2/swagger.pb \
      > kustomize/src/patch/schema.rs
"""
import sys

def varint(b, i):
    x = s = 0
    while True:
        c = b[i]; i += 1
        x |= (c & 0x7f) << s; s += 7
        if c < 0x80:
            return x, i

def fields(b):
    i, out = 0, []
    while i < len(b):
        key, i = varint(b, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = varint(b, i)
        elif w == 2:
            n, i = varint(b, i); v = b[i:i + n]; i += n
        elif w == 1:
            v = b[i:i + 8]; i += 8
        elif w == 5:
            v = b[i:i + 4]; i += 4
        else:
            raise ValueError(f"wire type {w}")
        out.append((f, v))
    return out

def schema(b):
    s = {"ref": None, "type": [], "items": None, "props": {}, "ext": {}}
    for f, v in fields(b):
        if f == 1:
            s["ref"] = v.decode()
        elif f == 22:  # TypeItem { repeated string value = 1 }
            s["type"] += [x.decode() for g, x in fields(v) if g == 1]
        elif f == 23:  # ItemsItem { repeated Schema schema = 1 }
            items = [schema(x) for g, x in fields(v) if g == 1]
            s["items"] = items[0] if items else None
        elif f == 25:  # Properties { repeated NamedSchema additional_properties = 1 }
            for g, ns in fields(v):
                if g != 1:
                    continue
                name, val = None, None
                for h, y in fields(ns):
                    if h == 1: name = y.decode()
                    elif h == 2: val = schema(y)
                s["props"][name] = val
        elif f == 31:  # NamedAny { name = 1; Any value = 2 { yaml = 2 } }
            name, yml = None, ""
            for h, y in fields(v):
                if h == 1: name = y.decode()
                elif h == 2:
                    for k, z in fields(y):
                        if k == 2: yml = z.decode()
            s["ext"][name] = yml
    return s

doc = open(sys.argv[1], "rb").read()
defs = {}
for f, v in fields(doc):
    if f == 9:  # Definitions { repeated NamedSchema additional_properties = 1 }
        for g, ns in fields(v):
            name, val = None, None
            for h, y in fields(ns):
                if h == 1: name = y.decode()
                elif h == 2: val = schema(y)
            defs[name] = val

def resolve(s):
    seen = 0
    while s is not None and s["ref"] and seen < 20:
        s = defs.get(s["ref"].split("/")[-1]); seen += 1
    return s

def yaml_list(y):
    return [l[2:].strip().strip('"') for l in y.splitlines() if l.startswith("- ")]

def gvks(y):
    out, cur = [], {}
    for l in y.splitlines():
        l = l.strip()
        if l.startswith("- "):
            if cur: out.append(cur)
            cur = {}; l = l[2:]
        if ":" in l:
            k, v = l.split(":", 1); cur[k.strip()] = v.strip().strip('"')
    if cur: out.append(cur)
    return out

# A node: a definition name; its table: field -> (keys or None, child definition or None).
tables, order = {}, []
def table(name):
    if name in tables:
        return name if tables[name] is not None else None
    tables[name] = {}  # in progress: recursion sees it as present
    d = defs[name]
    t = {}
    for field, p in sorted(d["props"].items()):
        keys = None
        st = p["ext"].get("x-kubernetes-patch-strategy", "").strip()
        if "merge" in st.split(","):
            mk = p["ext"].get("x-kubernetes-list-map-keys")
            if mk is not None:
                keys = yaml_list(mk)
            elif "x-kubernetes-patch-merge-key" in p["ext"]:
                keys = [p["ext"]["x-kubernetes-patch-merge-key"].strip()]
            else:
                keys = []
        target = p["items"] if p["items"] is not None else p
        child = None
        if target["ref"]:
            cn = target["ref"].split("/")[-1]
            if cn in defs:
                child = table(cn)
        if keys is not None or child is not None:
            t[field] = (keys, child)
    tables[name] = t if t else None
    if t:
        order.append(name)
    return name if t else None

roots = []
for name, d in sorted(defs.items()):
    g = d["ext"].get("x-kubernetes-group-version-kind")
    if not g:
        continue
    for gvk in gvks(g):
        api = gvk.get("version", "") if not gvk.get("group") else f'{gvk["group"]}/{gvk["version"]}'
        roots.append((api, gvk.get("kind", ""), name))
    table(name)

# Recursive definitions seen "in progress" may have ended empty: drop links to them.
changed = True
while changed:
    changed = False
    for n in list(order):
        t = tables[n]
        for f, (k, c) in list(t.items()):
            if c is not None and not tables.get(c):
                t[f] = (k, None); changed = True
                if k is None:
                    del t[f]
        if not t:
            tables[n] = None; order.remove(n); changed = True

index = {n: i for i, n in enumerate(order)}
print("//! Generated by `gen_schema.py` from kyaml's embedded Kubernetes v1.21.2 OpenAPI document")
print("//! (`kyaml/openapi/kubernetesapi/v1_21_2/swagger.pb`); do not edit by hand.")
print("//!")
print("//! For every built-in type kyaml has a schema for, the fields on the way to a list that its")
print("//! strategic merge treats as associative (`x-kubernetes-patch-strategy: merge`), and that")
print("//! list's keys (`x-kubernetes-list-map-keys`, else `x-kubernetes-patch-merge-key`; none for a")
print("//! list of scalars merged as a set).")
print()
print("/// A field of a definition: the list keys when it is a merged list, the definition below it.")
print("pub(super) type Field = (&'static str, Option<&'static [&'static str]>, Option<u16>);")
print()
print("/// Definitions, by index; each sorted by field name.")
print("pub(super) static DEFS: &[&[Field]] = &[")
for n in order:
    print(f"    // {n}")
    print("    &[")
    for f, (k, c) in sorted(tables[n].items()):
        ks = "None" if k is None else "Some(&[" + ", ".join(f'"{x}"' for x in k) + "])"
        cs = "None" if c is None else f"Some({index[c]})"
        print(f'        ("{f}", {ks}, {cs}),')
    print("    ],")
print("];")
print()
print("/// (apiVersion, kind) of the types whose schema has merged lists, sorted, and their")
print("/// definition. Any other type merges every list by replacing it, as a type without schema.")
print("pub(super) static ROOTS: &[(&str, &str, u16)] = &[")
for api, kind, n in sorted(set(roots)):
    if n in index:
        print(f'    ("{api}", "{kind}", {index[n]}),')
print("];")
