#!/bin/sh
# The compose file's one-shot `init` service: makes the deployment's secrets once, into the
# `fleet-ca` volume (the only place ca.key lives), and gives each role a volume holding only
# what that role needs (least privilege: a gateway never holds the registry's or another
# gateway's secret key). Runs as root so it can hand the files to uid 10001 (the images' user);
# files 0600 (0400 would do, but a re-run must be able to replace them), directories 0700.
# Re-running keeps every existing secret, so a `compose up` after a `down` (without -v) is the
# same deployment.
set -eu
umask 077
ca=/fleet-ca
out=/secrets
# Host names the certificate must name: the services (HAProxy re-encrypts to each gateway and
# checks its name) and localhost, plus any the operator publishes (FLEET_PUBLIC_HOSTS="a b").
hosts="haproxy gateway-1 gateway-2 ${FLEET_PUBLIC_HOSTS:-}"

if [ ! -f "$ca/pki/gateway.key" ]; then
    set --
    for host in $hosts; do set -- "$@" --host "$host"; done
    master certs init --dir "$ca/pki" "$@" >/dev/null
fi
if [ ! -f "$ca/bus-keys/registry.key" ]; then
    master keys generate --dir "$ca/bus-keys" --gateways 2 --workers 1 >/dev/null
fi
for token in agent-token admin-token; do
    if [ ! -s "$ca/tokens/$token" ]; then
        mkdir -p "$ca/tokens"
        # 32 random bytes, hex: the same shape `master serve` makes.
        od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$ca/tokens/$token"
        echo >> "$ca/tokens/$token"
    fi
done

# put SOURCE DEST: DEST becomes a copy of SOURCE, replaced atomically (a rename) and only when it
# differs. Engines may run init again while the roles run (podman-compose starts it before
# each service that depends on it), so a file a role may be reading is never truncated.
put() {
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2.new"
        chown 10001:10001 "$2.new"
        chmod 0600 "$2.new"
        mv -f "$2.new" "$2"
    fi
}
# give DEST FILE... : copies FILEs (paths under $ca) into the role volume's DEST directory.
give() {
    dest="$1"; shift
    mkdir -p "$dest"
    for file in "$@"; do put "$ca/$file" "$dest/$(basename "$file")"; done
}
give "$out/registry/bus-keys" bus-keys/registry.key bus-keys/registry.pub \
    bus-keys/gateway-1.pub bus-keys/gateway-2.pub bus-keys/worker-1.pub
for gateway in gateway-1 gateway-2; do
    give "$out/$gateway/bus-keys" "bus-keys/$gateway.key" "bus-keys/$gateway.pub" bus-keys/registry.pub
    give "$out/$gateway/pki" pki/gateway.crt pki/gateway.key
    give "$out/$gateway/tokens" tokens/agent-token tokens/admin-token
done
# Every replica of `worker` (`--scale worker=N`) presents the one worker key: the registry
# admits the role by key; each replica still has its own bus id.
give "$out/worker/bus-keys" bus-keys/worker-1.key bus-keys/worker-1.pub bus-keys/registry.pub
# HAProxy terminates the clients' TLS with the gateway certificate (it names haproxy and
# localhost) and checks the gateways' certificates against the CA when it re-encrypts.
# (sed: each file ends with a newline, or END and BEGIN would run together.)
sed -e '$a\' "$ca/pki/gateway.crt" "$ca/pki/gateway.key" > "$ca/pki/haproxy.pem"
give "$out/haproxy" pki/haproxy.pem pki/ca.crt
give "$out/agent" pki/ca.crt tokens/agent-token
# For the operator on the host (a bind mount): the CA to trust and the bootstrap admin token.
if [ -d /operator ]; then
    for file in pki/ca.crt tokens/admin-token; do
        cmp -s "$ca/$file" "/operator/$(basename "$file")" || cp "$ca/$file" /operator/
        chmod 0600 "/operator/$(basename "$file")"
    done
fi

for role in registry gateway-1 gateway-2 worker haproxy agent; do
    find "$out/$role" -type d -exec chown 10001:10001 {} + -exec chmod 0700 {} +
done
# The roles' own state volumes: theirs from the start, whatever the engine does with a new
# volume's ownership.
for state in /state/*; do
    [ -d "$state" ] || continue
    chown 10001:10001 "$state"
    chmod 0700 "$state"
done
echo "fleet init: secrets ready (CA and keys kept in the fleet-ca volume)"
