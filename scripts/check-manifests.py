"""Checks deploy/kubernetes: the core kinds with kubernetes-validate (Kubernetes 1.30 schemas),
KEDA's ScaledObject and TriggerAuthentication by their documented fields, and that the manifests
agree with each other and with the seed's rule. Prints `ok …` lines; exits 1 on the first problem."""
import glob
import subprocess
import sys

import yaml

problems = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        problems.append(what)


docs = []
for path in sorted(glob.glob("deploy/kubernetes/*.yaml")):
    with open(path) as f:
        for d in yaml.safe_load_all(f):
            if d:
                docs.append((path, d))

core = [p for p in sorted(glob.glob("deploy/kubernetes/*.yaml")) if "keda" not in p]
r = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "--kubernetes-version", "1.30", *core],
                   capture_output=True, text=True)
check(r.returncode == 0, f"kubernetes-validate --strict (1.30): {', '.join(core)}" + ("" if r.returncode == 0 else "\n" + r.stdout + r.stderr))

deployments = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "Deployment"}
SCALED_SPEC = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod", "idleReplicaCount",
               "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers"}
REDIS_META = {"address", "addressFromEnv", "host", "hostFromEnv", "port", "portFromEnv", "passwordFromEnv", "username",
              "usernameFromEnv", "listName", "listLength", "activationListLength", "databaseIndex", "enableTLS", "unsafeSsl"}
TRIGGER = {"type", "metadata", "authenticationRef", "name", "useCachedMetrics", "metricType"}
scaled = [(p, d) for p, d in docs if d["kind"] == "ScaledObject"]
check(len(scaled) == 2, f"two ScaledObjects (one per queue): {len(scaled)}")
for path, d in scaled:
    name, spec = d["metadata"]["name"], d["spec"]
    check(d["apiVersion"] == "keda.sh/v1alpha1", f"{name}: apiVersion keda.sh/v1alpha1")
    check(set(spec) <= SCALED_SPEC, f"{name}: spec fields are KEDA's ({sorted(set(spec) - SCALED_SPEC) or 'none unknown'})")
    target = spec["scaleTargetRef"]["name"]
    check(target in deployments, f"{name}: scaleTargetRef {target} is a Deployment in deploy/kubernetes")
    check(spec.get("maxReplicaCount") == 10 and spec.get("minReplicaCount") == 0, f"{name}: 0 to 10 replicas (the seed's cap per queue)")
    for t in spec["triggers"]:
        check(set(t) <= TRIGGER and t["type"] == "redis", f"{name}: a redis trigger with known fields")
        meta = t["metadata"]
        check(set(meta) <= REDIS_META, f"{name}: redis trigger metadata fields are KEDA's ({sorted(set(meta) - REDIS_META) or 'none unknown'})")
        check(all(isinstance(v, str) for v in meta.values()), f"{name}: trigger metadata values are strings")
        check(meta.get("listLength") == "50", f"{name}: listLength \"50\" (ceil(pending / 50))")
        queue = deployments.get(target, {}).get("metadata", {}).get("labels", {}).get("rpa/queue")
        check(meta.get("listName") == f"fila:{queue}", f"{name}: listName fila:{queue} matches the Deployment's queue")
        auth = t.get("authenticationRef", {}).get("name")
        auths = {x["metadata"]["name"] for _, x in docs if x["kind"] == "TriggerAuthentication"}
        check(auth in auths, f"{name}: authenticationRef {auth} exists")

for name, d in deployments.items():
    pod = d["spec"]["template"]["spec"]
    c = pod["containers"][0]
    args = c.get("args", [])
    if "--job-timeout" in args:
        timeout = int(args[args.index("--job-timeout") + 1].rstrip("s"))
        check(pod["terminationGracePeriodSeconds"] > timeout, f"{name}: terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} > --job-timeout {timeout}")
    check(pod["securityContext"].get("runAsNonRoot") is True, f"{name}: runs as non-root")
    env_names = {e["name"] for e in c.get("env", [])}
    check(not ({"REDIS_PASSWORD", "RPA_PASSWORD", "HTTP_TOKEN"} & env_names), f"{name}: no secret written in the manifest (they come from the Secret)")
    check(any("secretRef" in e for e in c.get("envFrom", [])), f"{name}: settings and secrets from the Secret")

sys.exit(1 if problems else 0)
