#!/usr/bin/env bash
# Fills docker/k8s/secrets/ (git-ignored) with everything the kustomization's secretGenerator reads:
#   pki/      ca.crt ca.key gateway.crt gateway.key   (`master certs init`)
#   bus-keys/ registry, gateway-1, worker-1 .key/.pub (`master keys generate`)
#   tokens/   agent-token admin-token                 (32 random bytes each, hex)
#
# Usage: make-secrets.sh [MASTER_BINARY]      (default: `master` on PATH)
# Env:   FLEET_K8S_SECRETS_DIR  where to write (default: secrets/ beside this script)
#        FLEET_PUBLIC_HOST      the name agents use through the Ingress (default: fleet.example.com);
#                               repeatable as a space-separated list
#        FLEET_NAMESPACE        namespace of the gateway Service (default: fleet, as kustomization.yaml)
#
# Idempotent: a set that is already complete is kept (re-running never makes a new CA or new keys,
# which would lock out every agent and peer). A half-made set is an error, not silently completed:
# mixing a new CA with old certificates, or new keys with old ones, is worse than stopping.
# To rotate: delete the set (e.g. secrets/pki) and run again, then `kubectl apply -k` (the generated
# Secret names change, so the pods roll).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
master=${1:-master}
out=${FLEET_K8S_SECRETS_DIR:-$here/secrets}
namespace=${FLEET_NAMESPACE:-fleet}
public_hosts=${FLEET_PUBLIC_HOST:-fleet.example.com}

if ! command -v "$master" >/dev/null 2>&1; then
    echo "make-secrets.sh: no master binary '$master' (give its path as the first argument)" >&2
    exit 2
fi

umask 077
mkdir -p "$out"
chmod 700 "$out"

# all_or_none DIR FILE...: 0 = all present (keep), 1 = none present (make), exit = some present.
all_or_none() {
    local dir=$1; shift
    local present=0 missing=()
    for f in "$@"; do
        if [[ -e "$dir/$f" ]]; then present=$((present + 1)); else missing+=("$f"); fi
    done
    if [[ $present -eq $# ]]; then return 0; fi
    if [[ $present -eq 0 ]]; then return 1; fi
    echo "make-secrets.sh: $dir is incomplete (missing: ${missing[*]}); remove it to make a new set" >&2
    exit 1
}

# TLS: the gateway certificate must name every host a client verifies: the Service from inside the
# cluster (short, namespaced and fully qualified forms), and the public name behind the Ingress.
if all_or_none "$out/pki" ca.crt ca.key gateway.crt gateway.key; then
    echo "kept $out/pki"
else
    names=(fleet-gateway "fleet-gateway.$namespace" "fleet-gateway.$namespace.svc"
           "fleet-gateway.$namespace.svc.cluster.local" $public_hosts)
    args=()
    for h in "${names[@]}"; do args+=(--host "$h"); done
    "$master" certs init --dir "$out/pki" "${args[@]}" >/dev/null
    echo "made $out/pki for: ${names[*]}"
fi

# CURVE: one keypair per role; the replicas of a Deployment share theirs (gateway-1, worker-1).
if all_or_none "$out/bus-keys" registry.key registry.pub gateway-1.key gateway-1.pub worker-1.key worker-1.pub; then
    echo "kept $out/bus-keys"
else
    "$master" keys generate --dir "$out/bus-keys" --gateways 1 --workers 1 >/dev/null
    echo "made $out/bus-keys (registry, gateway-1, worker-1)"
fi

# Tokens: 32 random bytes as 64 hex digits, like `master serve` makes them. They must differ
# (the gateway refuses equal ones).
mkdir -p "$out/tokens"
chmod 700 "$out/tokens"
for name in agent-token admin-token; do
    if [[ -s "$out/tokens/$name" ]]; then
        echo "kept $out/tokens/$name"
    else
        token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
        [[ ${#token} -eq 64 ]] || { echo "make-secrets.sh: could not read 32 random bytes" >&2; exit 1; }
        printf '%s\n' "$token" > "$out/tokens/$name.tmp"
        mv "$out/tokens/$name.tmp" "$out/tokens/$name"
        echo "made $out/tokens/$name"
    fi
done
