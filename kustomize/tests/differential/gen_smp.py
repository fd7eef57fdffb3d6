# Random Deployments and Services and strategic merge patches over them, aimed at kyaml's
# associative lists: ports keyed by port/containerPort and protocol (protocol often left out),
# containers, env, topologySpreadConstraints, element and list `$patch` directives, nulls.
#   python3 gen_smp.py SEED DIR
import random, sys, os, json
s = int(sys.argv[1]); out = sys.argv[2]; r = random.Random(s)
def maybe(p=0.5): return r.random() < p
def port_entry(svc, patch):
    e = {}
    k = "port" if svc else "containerPort"
    if not (patch and maybe(0.05)): e[k] = r.choice([53, 80, 443, 8080])
    if maybe(0.55): e["protocol"] = r.choice(["TCP", "UDP", "TCP", "SCTP"])
    if maybe(0.5): e["name"] = r.choice(["http", "dns", "m", "x"])
    if maybe(0.4): e["targetPort" if svc else "hostPort"] = r.choice([1, 2, 3])
    if patch and maybe(0.15): e["$patch"] = r.choice(["delete", "replace", "merge"])
    return e
def plist(svc, patch):
    l = [port_entry(svc, patch) for _ in range(r.randint(0, 4))]
    if patch and maybe(0.08): l.insert(r.randint(0, len(l)), {"$patch": r.choice(["replace", "delete", "merge"])})
    return l
def container(patch, names):
    c = {"name": r.choice(names)}
    if maybe(0.7): c["image"] = r.choice(["i:1", "i:2"])
    if maybe(0.7): c["ports"] = plist(False, patch)
    if maybe(0.3): c["env"] = [{"name": r.choice(["A", "B"]), "value": r.choice(["1", "2"])} for _ in range(r.randint(0, 2))]
    if patch and maybe(0.1): c["$patch"] = r.choice(["delete", "replace"])
    if patch and maybe(0.05): c["args"] = None
    if not patch and maybe(0.3): c["args"] = ["x"]
    return c
def deploy(patch):
    spec = {}
    if not patch or maybe(0.8):
        spec["containers"] = [container(patch, ["a", "b", "c"]) for _ in range(r.randint(0 if patch else 1, 3))]
    if maybe(0.3):
        spec["initContainers"] = [container(patch, ["i", "j"]) for _ in range(r.randint(0, 2))]
    if maybe(0.3):
        spec["topologySpreadConstraints"] = [dict(
            [("maxSkew", r.randint(1, 3)), ("topologyKey", r.choice(["zone", "host"]))] +
            ([("whenUnsatisfiable", r.choice(["DoNotSchedule", "ScheduleAnyway"]))] if maybe(0.6) else [])
        ) for _ in range(r.randint(0, 3))]
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": spec}}}
    if patch and maybe(0.2): d["metadata"]["labels"] = {"p": "1"}
    return d
def svc(patch):
    spec = {}
    if not patch or maybe(0.85): spec["ports"] = plist(True, patch)
    if maybe(0.3): spec["type"] = "ClusterIP"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}
os.makedirs(out, exist_ok=True)
res = [deploy(False), svc(False)]
with open(f"{out}/res.yaml", "w") as f:
    f.write("\n---\n".join(json.dumps(x) for x in res))
patches = []
for _ in range(r.randint(1, 3)):
    p = deploy(True) if maybe() else svc(True)
    patches.append("- patch: " + json.dumps(json.dumps(p)))
with open(f"{out}/kustomization.yaml", "w") as f:
    f.write("resources:\n- res.yaml\npatches:\n" + "\n".join(patches) + "\n")
