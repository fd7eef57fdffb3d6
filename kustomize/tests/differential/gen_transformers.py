# Random kustomizations for the namespace transformer and generator options: Namespace objects
# (v1 and others), kinds whose scope depends on their apiVersion, binding subjects, and
# generatorOptions against each generator's own options (true / false / absent).
#   python3 gen_transformers.py SEED DIR
import random, sys, os, json
s = int(sys.argv[1]); out = sys.argv[2]; r = random.Random(s)
def maybe(p=0.5): return r.random() < p
def opts():
    o = {}
    for k in ["disableNameSuffixHash", "immutable"]:
        if maybe(0.6): o[k] = maybe()
    for k in ["labels", "annotations"]:
        if maybe(0.4): o[k] = {r.choice(["a", "b", "c"]): r.choice(["g", "l", "x"]) for _ in range(r.randint(0, 2))}
    return o
k = {}
if maybe(0.8): k["namespace"] = r.choice(["prod", "team", "default"])
if maybe(0.7): k["generatorOptions"] = opts()
for gk in ["configMapGenerator", "secretGenerator"]:
    gens = []
    for i in range(r.randint(0, 3)):
        g = {"name": f"{gk[:3].lower()}{i}", "literals": ["k=v"]}
        if maybe(0.6): g["options"] = opts()
        gens.append(g)
    if gens: k[gk] = gens
kinds = [("v1", "Namespace"), ("v1", "Namespace"), ("v1beta1", "Namespace"), ("example.com/v1", "Namespace"),
         ("v1", "ConfigMap"), ("rbac.authorization.k8s.io/v1", "ClusterRole"), ("rbac.authorization.k8s.io/v1alpha1", "ClusterRole"),
         ("scheduling.k8s.io/v1", "PriorityClass"), ("scheduling.k8s.io/v1beta1", "PriorityClass"), ("scheduling.k8s.io/v1alpha1", "PriorityClass"),
         ("storage.k8s.io/v1", "StorageClass"), ("networking.k8s.io/v1", "IngressClass"), ("policy/v1beta1", "PodSecurityPolicy"),
         ("policy/v1", "PodDisruptionBudget"), ("v1", "PersistentVolume"), ("example.com/v1", "Widget"), ("v1", "ServiceAccount")]
res = []
names = set()
for i in range(r.randint(1, 6)):
    av, kd = r.choice(kinds)
    n = r.choice(["a", "b", "staging", "prod"])
    if (av, kd, n) in names: continue
    names.add((av, kd, n))
    m = {"name": n}
    if maybe(0.3): m["namespace"] = r.choice(["staging", "other"])
    res.append({"apiVersion": av, "kind": kd, "metadata": m})
for kd in ["RoleBinding", "ClusterRoleBinding"]:
    if maybe(0.5):
        subs = []
        for _ in range(r.randint(0, 4)):
            sb = {"kind": r.choice(["ServiceAccount", "User", "Group"]), "name": r.choice(["default", "app", "default"])}
            if maybe(0.4): sb["namespace"] = r.choice(["staging", "kube-system"])
            subs.append(sb)
        res.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kd, "metadata": {"name": "rb"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "x"}, "subjects": subs})
os.makedirs(out, exist_ok=True)
open(f"{out}/res.yaml", "w").write("\n---\n".join(json.dumps(x) for x in res))
k["resources"] = ["res.yaml"]
open(f"{out}/kustomization.yaml", "w").write(json.dumps(k, indent=1))
