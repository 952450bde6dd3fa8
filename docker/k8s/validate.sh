#!/usr/bin/env bash
# Renders the manifests with `kubectl kustomize` and validates every object against the
# Kubernetes OpenAPI schemas with kubernetes-validate (strict: unknown fields are errors), for
# the base and for the base with each example Component (examples/*) and with all of them.
# Then a few checks of our own that a schema cannot make (namespace, labels, security context,
# resources, Service selectors). Non-zero on any error, any warning, any unknown kind.
#
# Runs on a clean clone: when docker/k8s/secrets/ is missing it works on a temporary copy of
# docker/k8s and fills the copy's secrets/ with make-secrets.sh (a `master` binary from
# FLEET_MASTER_BIN, PATH or the repo's .build/{release,debug}/), or, without any master
# binary, with placeholder files (the manifests are what is validated, not the keys).
#
# Env:
#   KUBERNETES_VALIDATE  the kubernetes-validate executable (default: on PATH). Tested: 1.37.0
#                        (pip install kubernetes-validate==1.37.0)
#   FLEET_K8S_PYTHON     a python3 with PyYAML for the checks of our own (default: the python
#                        beside KUBERNETES_VALIDATE, i.e. the same venv; else python3)
#   KUBECTL              kubectl (default: on PATH); its kustomize does the rendering
#   K8S_VERSION          Kubernetes version of the schemas (default: 1.32.0)
#   FLEET_MASTER_BIN     master binary for make-secrets.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
validator=${KUBERNETES_VALIDATE:-kubernetes-validate}
kubectl=${KUBECTL:-kubectl}
version=${K8S_VERSION:-1.32.0}

command -v "$validator" >/dev/null 2>&1 || { echo "validate.sh: no kubernetes-validate ('$validator'); set KUBERNETES_VALIDATE" >&2; exit 2; }
command -v "$kubectl" >/dev/null 2>&1 || { echo "validate.sh: no kubectl ('$kubectl'); set KUBECTL" >&2; exit 2; }
if [[ -n "${FLEET_K8S_PYTHON:-}" ]]; then
    python=$FLEET_K8S_PYTHON
elif [[ -x "$(dirname "$(command -v "$validator")")/python" ]]; then
    python="$(dirname "$(command -v "$validator")")/python"
else
    python=python3
fi
"$python" -c 'import yaml' 2>/dev/null || { echo "validate.sh: $python has no PyYAML; set FLEET_K8S_PYTHON" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The tree to render: the real one if its secrets exist, else a copy with secrets made here.
if [[ -d "$here/secrets" ]]; then
    tree=$here
else
    tree=$work/k8s
    mkdir -p "$tree"
    (cd "$here" && tar --exclude=./secrets -cf - .) | (cd "$tree" && tar -xf -)
    master=${FLEET_MASTER_BIN:-}
    if [[ -z "$master" ]]; then
        for candidate in "$(command -v master || true)" "$repo/.build/release/master" "$repo/.build/debug/master"; do
            if [[ -n "$candidate" && -x "$candidate" ]]; then master=$candidate; break; fi
        done
    fi
    if [[ -n "$master" ]]; then
        echo "== secrets: none in docker/k8s/secrets; making a temporary set with $master"
        FLEET_K8S_SECRETS_DIR=$tree/secrets "$tree/make-secrets.sh" "$master" >/dev/null
    else
        echo "== secrets: none in docker/k8s/secrets and no master binary; placeholder files"
        (umask 077; mkdir -p "$tree/secrets/pki" "$tree/secrets/bus-keys" "$tree/secrets/tokens"
         for f in pki/ca.crt pki/ca.key pki/gateway.crt pki/gateway.key tokens/agent-token tokens/admin-token \
                  bus-keys/{registry,gateway-1,worker-1}.{key,pub}; do echo placeholder > "$tree/secrets/$f"; done)
    fi
fi

# Overlays for the examples: outside the base's directory (kustomize refuses a root inside
# another it visits), referring to it by a relative path (it refuses absolute ones).
overlay() {  # overlay NAME COMPONENT...
    local dir=$work/overlays/$1; shift
    mkdir -p "$dir"
    local rel
    rel=$(realpath --relative-to="$dir" "$tree")
    {
        echo "apiVersion: kustomize.config.k8s.io/v1beta1"
        echo "kind: Kustomization"
        echo "resources: [$rel]"
        echo "components:"
        for c in "$@"; do echo "  - $rel/examples/$c"; done
    } > "$dir/kustomization.yaml"
    echo "$dir"
}

targets=("base=$tree")
components=()
for c in "$tree"/examples/*/; do
    c=$(basename "$c")
    components+=("$c")
    targets+=("base+$c=$(overlay "$c" "$c")")
done
if [[ ${#components[@]} -gt 1 ]]; then
    targets+=("base+all-examples=$(overlay all "${components[@]}")")
fi

failed=0
for target in "${targets[@]}"; do
    name=${target%%=*}
    dir=${target#*=}
    out=$work/$name.yaml
    echo "== $name: kubectl kustomize"
    if ! "$kubectl" kustomize "$dir" > "$out"; then
        echo "FAIL $name: kubectl kustomize"; failed=1; continue
    fi
    echo "== $name: kubernetes-validate --strict -k $version"
    report=$("$validator" --strict -k "$version" "$out" 2>&1) || true
    passed=$(grep -c '^INFO .* passed for resource' <<<"$report" || true)
    problems=$(grep -v '^INFO .* passed for resource' <<<"$report" || true)
    if [[ -n "$problems" ]]; then
        # WARN lines matter: kubernetes-validate only warns (and exits 0) for an unknown kind.
        echo "$problems"; echo "FAIL $name: kubernetes-validate"; failed=1
    else
        echo "ok: $passed objects valid against Kubernetes $version (strict)"
    fi
    echo "== $name: fleet checks"
    if "$python" - "$out" <<'PY'
import sys, yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
errors = []
def err(obj, msg): errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {msg}")

pods = []  # (owner, pod template)
for d in docs:
    meta = d["metadata"]
    if d["kind"] != "Namespace" and meta.get("namespace") != "fleet":
        err(d, f"namespace is {meta.get('namespace')!r}, not 'fleet'")
    if meta.get("labels", {}).get("app.kubernetes.io/name") != "fleet":
        err(d, "no label app.kubernetes.io/name=fleet")
    if d["kind"] in ("Deployment", "StatefulSet"):
        pods.append((d, d["spec"]["template"]))

for owner, tpl in pods:
    labels = tpl["metadata"].get("labels", {})
    if labels.get("app.kubernetes.io/component") not in ("registry", "gateway", "worker"):
        err(owner, "pod has no app.kubernetes.io/component of registry|gateway|worker")
    spec = tpl["spec"]
    if spec.get("automountServiceAccountToken") is not False:
        err(owner, "automountServiceAccountToken is not false")
    psc = spec.get("securityContext", {})
    for key, want in (("runAsNonRoot", True), ("runAsUser", 10001), ("runAsGroup", 10001), ("fsGroup", 10001)):
        if psc.get(key) != want:
            err(owner, f"pod securityContext.{key} is {psc.get(key)!r}, not {want!r}")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        err(owner, "pod seccompProfile is not RuntimeDefault")
    if not 5 <= spec.get("terminationGracePeriodSeconds", 30) <= 60:
        err(owner, "terminationGracePeriodSeconds outside 5..60")
    for c in spec.get("initContainers", []) + spec["containers"]:
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("readOnlyRootFilesystem") is not True:
            err(owner, f"container {c['name']}: allowPrivilegeEscalation/readOnlyRootFilesystem")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            err(owner, f"container {c['name']}: capabilities not drop [ALL]")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(kind, {}):
                    err(owner, f"container {c['name']}: no resources.{kind}.{r}")
    for c in spec["containers"]:
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in c:
                err(owner, f"container {c['name']}: no {probe}")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for v in volumes.values():
        if "secret" in v and v["secret"].get("defaultMode") != 0o400:
            err(owner, f"secret volume {v['name']}: defaultMode is not 0400")

# Every Service, PDB, HPA and NetworkPolicy must select something that exists.
def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", selector).items()
               if not isinstance(v, (dict, list))) and all(
        (labels.get(e["key"]) in e["values"]) == (e["operator"] == "In")
        for e in selector.get("matchExpressions", []))
pod_labels = [tpl["metadata"]["labels"] for _, tpl in pods]
names = {(d["kind"], d["metadata"]["name"]) for d in docs}
for d in docs:
    sel = None
    if d["kind"] == "Service": sel = d["spec"]["selector"]
    elif d["kind"] in ("PodDisruptionBudget", "NetworkPolicy"): sel = d["spec"].get("selector", d["spec"].get("podSelector"))
    if sel is not None and not any(selects(sel, l) for l in pod_labels):
        err(d, "selects no pod")
    if d["kind"] == "HorizontalPodAutoscaler":
        ref = d["spec"]["scaleTargetRef"]
        if (ref["kind"], ref["name"]) not in names:
            err(d, f"scales {ref['kind']}/{ref['name']}, which is not in the output")
        if any(x["kind"] == ref["kind"] and x["metadata"]["name"] == ref["name"] and "replicas" in x["spec"] for x in docs):
            err(d, f"{ref['kind']}/{ref['name']} still sets replicas (apply would reset the HPA's count)")

for e in errors: print("ERROR", e)
print(f"ok: {len(docs)} objects, {len(pods)} workloads checked" if not errors else f"{len(errors)} problem(s)")
sys.exit(1 if errors else 0)
PY
    then :; else echo "FAIL $name: fleet checks"; failed=1; fi
done

if [[ $failed -ne 0 ]]; then echo "validate.sh: FAILED"; exit 1; fi
echo "validate.sh: all manifests valid (${targets[*]%%=*})"
