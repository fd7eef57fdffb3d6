#!/usr/bin/env python3
"""Generates one random multi-layer kustomization: gen.py SEED OUTDIR (see run.sh)."""
import random, os, sys, json
seed=int(sys.argv[1]); out=sys.argv[2]
R=random.Random(seed)
def w(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path,'w').write(text)
RES = {
'deploy': '''apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: sa
      containers:
      - name: web
        image: nginx:1.25
        env:
        - {name: A, value: "1"}
        - name: S
          valueFrom: {secretKeyRef: {name: sec, key: k}}
        envFrom:
        - configMapRef: {name: cfg}
        volumeMounts:
        - {name: v, mountPath: /v}
      volumes:
      - name: v
        configMap: {name: cfg}
''',
'svc': '''apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
''',
'sa': '''apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
''',
'role': '''apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r}
rules:
- {apiGroups: [""], resources: [configmaps], resourceNames: [cfg], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects:
- {kind: ServiceAccount, name: sa}
- {kind: ServiceAccount, name: default}
''',
'ing': '''apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  tls: [{hosts: [a.example.com], secretName: sec}]
  rules:
  - host: a.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
''',
'sts': '''apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: web
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: db, image: "postgres:16"}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce]}
''',
'cron': '''apiVersion: batch/v1
kind: CronJob
metadata: {name: job}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: j
            image: busybox
            envFrom: [{configMapRef: {name: cfg}}]
''',
'cr': '''apiVersion: example.com/v1
kind: Widget
metadata: {name: w, annotations: {note: "1.0"}}
spec:
  size: 3
  items: [a, b]
  template:
    spec:
      containers: [{name: x, image: nginx}]
''',
'pdb': '''apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
''',
'cluster': '''apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- {apiGroups: [""], resources: [secrets], resourceNames: [sec], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
- {kind: ServiceAccount, name: sa, namespace: ns0}
- {kind: ServiceAccount, name: default, namespace: kube-system}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: hook}
webhooks:
- name: hook.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig:
    service: {name: web, namespace: ns0, path: /mutate}
''',
'pod': '''apiVersion: v1
kind: Pod
metadata: {name: debug, labels: {app: debug}}
spec:
  priorityClassName: high
  serviceAccountName: sa
  imagePullSecrets: [{name: sec}]
  containers:
  - name: d
    image: busybox:1.36
    envFrom: [{secretRef: {name: sec}}]
  volumes:
  - name: p
    projected:
      sources:
      - configMap: {name: cfg}
      - secret: {name: sec}
''',
'hpa': '''apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
''',
}
COMPONENTS = []
FILES = []
def layer_transforms(lvl, kinds):
    k=[]
    if R.random()<0.4: k.append(f"namespace: ns{lvl}")
    if R.random()<0.5: k.append(f"namePrefix: l{lvl}-")
    if R.random()<0.3: k.append(f"nameSuffix: -s{lvl}")
    if R.random()<0.3: k.append(f"commonLabels:\n  lvl{lvl}: \"{R.choice(['x','1','true','a b'])}\"")
    if R.random()<0.3:
        k.append(f"labels:\n- pairs:\n    tier{lvl}: t\n  includeSelectors: {R.choice(['true','false'])}\n  includeTemplates: {R.choice(['true','false'])}")
    if R.random()<0.3: k.append(f"commonAnnotations:\n  ann{lvl}: \"{R.choice(['v','10','yes','long value with: colon'])}\"")
    if R.random()<0.4:
        k.append("images:\n- name: nginx\n  " + R.choice(['newTag: "1.27"','newName: mirror/nginx','digest: sha256:' + 'a'*64, 'newName: m/n\n  newTag: v2']))
    if 'deploy' in kinds and R.random()<0.3: k.append("replicas:\n- name: web\n  count: %d" % R.randint(0,5))
    gens=[]
    if R.random()<0.5:
        beh = R.choice(['merge', 'merge', 'replace', '']) if lvl>0 else ''
        g = f"- name: cfg\n  literals:\n  - K{lvl}=v{lvl}"
        if beh: g += f"\n  behavior: {beh}"
        gens.append(g)
    if gens and R.random()<0.5: k.append("configMapGenerator:\n" + "\n".join(gens))
    if R.random()<0.3:
        k.append(f"secretGenerator:\n- name: sec\n  literals:\n  - k=s{lvl}" + ("\n  behavior: merge" if lvl>0 else ""))
    patches=[]
    if 'deploy' in kinds and R.random()<0.4:
        patches.append('''- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          containers:
          - name: web
            env:
            - name: P%d
              value: "p"
            - name: A
              value: "2"''' % lvl)
    if R.random()<0.3:
        patches.append('''- target:
    kind: %s
  patch: |-
    - op: add
      path: /metadata/annotations
      value:
        patched%d: "yes"''' % (R.choice(['Service','Deployment','Widget','ConfigMap']), lvl))
    if 'cr' in kinds and R.random()<0.3:
        patches.append('''- target:
    group: example.com
  patch: |-
    apiVersion: example.com/v1
    kind: Widget
    metadata:
      name: any
    spec:
      items: [z]
      size: 4''')
    if patches: k.append("patches:\n" + "\n".join(patches))
    if 'deploy' in kinds and 'svc' in kinds and R.random()<0.25:
        k.append("""replacements:
- source:
    kind: Service
    name: web
  targets:
  - select:
      kind: Deployment
    fieldPaths:
    - spec.template.spec.containers.[name=web].env.[name=A].value
- source:
    kind: Deployment
    name: web
    fieldPath: spec.template.spec.containers.0.image
    options:
      delimiter: ':'
      index: 1
  targets:
  - select:
      kind: Service
    fieldPaths:
    - metadata.annotations.image-tag
    options:
      create: true""")
    if R.random()<0.25:
        k.append(f"components:\n- comp{lvl}")
        comp = ["kind: Component"]
        if R.random()<0.5: comp.append(f"commonAnnotations:\n  comp{lvl}: \"on\"")
        if R.random()<0.5: comp.append(f"configMapGenerator:\n- name: comp-cfg{lvl}\n  literals:\n  - C=1")
        if 'svc' in kinds and R.random()<0.5:
            comp.append("patches:\n- target:\n    kind: Service\n  patch: |-\n    - op: add\n      path: /spec/ports/-\n      value:\n        name: extra\n        port: 9%d" % lvl)
        COMPONENTS.append((lvl, "\n".join(comp) + "\n"))
    if R.random()<0.2:
        FILES.append((lvl, "extra.env", "E1=one\nE2=two=2\n"))
        FILES.append((lvl, "conf.txt", "line1\nline2\n"))
        k.append("configMapGenerator:\n- name: files%d\n  files:\n  - conf.txt\n  - renamed.txt=conf.txt\n  envs:\n  - extra.env" % lvl if not any(x.startswith("configMapGenerator") for x in k) else "secretGenerator:\n- name: files%d\n  files:\n  - conf.txt\n  envs:\n  - extra.env\n  type: Opaque" % lvl)
    if R.random()<0.2:
        k.append("patchesStrategicMerge:\n- |-\n  apiVersion: v1\n  kind: ServiceAccount\n  metadata:\n    name: sa\n  automountServiceAccountToken: false\n  imagePullSecrets:\n  - name: sec" if 'sa' in kinds else "patchesStrategicMerge: []")
    if R.random()<0.2:
        k.append("patchesJson6902:\n- target:\n    version: v1\n    kind: Service\n    name: web\n  patch: |-\n    - op: replace\n      path: /spec/ports/0/port\n      value: 8%d" % lvl)
    if R.random()<0.2:
        k.append(R.choice(["generatorOptions:\n  disableNameSuffixHash: true", "generatorOptions:\n  labels:\n    gen: \"y\"\n  immutable: true"]))
    return k
kinds = R.sample(list(RES.keys()), R.randint(2, len(RES)))
if 'deploy' in kinds:
    for dep in ['sa']:
        if dep not in kinds: kinds.append(dep)
layers = R.randint(1,3)
# base
files=[]
for kname in kinds:
    w(f"{out}/l0/{kname}.yaml", RES[kname]); files.append(f"{kname}.yaml")
base_k = ["resources:"] + [f"- {f}" for f in files]
base_gen = "configMapGenerator:\n- name: cfg\n  literals:\n  - BASE=1\nsecretGenerator:\n- name: sec\n  literals:\n  - k=v"
t0 = layer_transforms(0, kinds)
t0 = [x for x in t0 if not x.startswith('configMapGenerator') and not x.startswith('secretGenerator')]
w(f"{out}/l0/kustomization.yaml", "\n".join(base_k + [base_gen] + t0) + "\n")
for lvl in range(1, layers):
    t = layer_transforms(lvl, kinds)
    w(f"{out}/l{lvl}/kustomization.yaml", "\n".join([f"resources:\n- ../l{lvl-1}"] + t) + "\n")
w(f"{out}/kustomization.yaml", f"resources:\n- l{layers-1}\n")
for lvl, name, text in FILES:
    w(f"{out}/l{lvl}/{name}", text)
for lvl, text in COMPONENTS:
    w(f"{out}/l{lvl}/comp{lvl}/kustomization.yaml", text)
