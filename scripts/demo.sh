#!/usr/bin/env bash
# The main job for a newcomer: build the release tree, start a simulated Carbonio cluster on
# loopback, and show carbonio-mesh at work on it. Idempotent; needs no Carbonio and no Consul.
#
# The simulated cluster: the Consul test double (tests/consul-double, a stand-in for a Consul 1.9.3
# agent) serving the five-node cluster of tests/fixtures/consul (3 Mesh servers, a mailbox and
# a proxy node); a temporary root holding the Carbonio Mesh files, made by the `service-discover`
# stand-in's `setup --first-instance` (certificates, main.json, the encrypted credentials archive,
# the password file) exactly where a Mesh server has them; and the `carbonio` stand-in answering
# `carbonio prov gas service-discover`. Both stand-ins live in tests/stand-ins.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# libclang-dev, nettle-dev, pkg-config: sequoia-openpgp's nettle backend (the credentials archive).
ensure_packages build-essential pkg-config libclang-dev nettle-dev gnupg openssl jq curl
ensure_rust_components
cargo build --release --workspace --locked

bin="$PWD/target/release/carbonio-mesh"
# Cargo leaves each plugin crate as target/release/libcarbonio_mesh_plugin_<name>.so, a name the
# loader accepts, so the build tree itself is a plugin directory.
plugins="$PWD/target/release"

root="$PWD/target/demo/root"
rm -rf "$root"
install -d -m 0755 "$root/etc" "$root/opt/zextras/bin"
cat >"$root/etc/hosts" <<'HOSTS'
127.0.0.1       localhost
192.168.56.101  srv1.example.com
192.168.56.102  srv2.example.com
192.168.56.103  srv3.example.com
192.168.56.110  mail.example.com
192.168.56.111  proxy.example.com
HOSTS
install -m 0755 tests/stand-ins/carbonio "$root/opt/zextras/bin/carbonio"
install -d -m 0755 "$root/usr/bin"
install -m 0755 tests/stand-ins/service-discover "$root/usr/bin/service-discover"
install -m 0755 tests/stand-ins/systemctl tests/stand-ins/consul "$root/usr/bin/"
export CARBONIO_STANDIN_SERVERS="srv1.example.com srv2.example.com srv3.example.com"
export CARBONIO_STANDIN_USER="$(id -un)"   # the real one insists on zextras
# carbonio-mesh runs programs in a clean environment: hand the stand-ins their settings.
export CARBONIO_MESH_CHILD_ENV="CARBONIO_STANDIN_SERVERS CARBONIO_STANDIN_USER SERVICE_DISCOVER_STANDIN_ROOT CONSUL_HTTP_ADDR"

start_consul_double fixture-unbootstrapped
export CONSUL_HTTP_ADDR="$CONSUL_DOUBLE_URL"

# Set up the first Mesh server, as `service-discover setup` does on a real one: ACL bootstrap on the
# agent, certificates, main.json, the credentials archive and the password file under $root.
# (The real CLI takes the password in argv, a risk the facts file records; this one is a throwaway.)
demo_password=$(head -c 18 /dev/urandom | base64)
SERVICE_DISCOVER_STANDIN_ROOT="$root" "$root/usr/bin/service-discover" \
    setup 192.168.56.101 --first-instance --password="$demo_password"
unset demo_password

# No token is exported: like `sudo carbonio-mesh members` on a Mesh server, carbonio-mesh finds the
# bootstrap token in the credentials archive, opened with the Mesh password file (both under $root).
# That replaces the documented
#   gpg -qdo - cluster-credentials.tar.gpg | tar xOf - consul-acl-secret.json | jq .SecretID -r
unset CONSUL_HTTP_TOKEN CONSUL_HTTP_TOKEN_FILE
mesh() { "$bin" --root "$root" --plugin-dir "$plugins" "$@"; }
show() {
    printf '\n$ carbonio-mesh %s\n' "$*"
    local code=0
    mesh "$@" || code=$?
    [ "$code" -eq 0 ] || echo "(exit status $code)"
}

echo
echo "Simulated Carbonio cluster: Consul double at $CONSUL_HTTP_ADDR, Carbonio files under $root:"
(cd "$root" && find etc/zextras var/lib/service-discover -type f -printf '  %m  %p\n' | sort -k2)
show plugins list
show credentials show
show credentials verify
printf '\n$ export CONSUL_HTTP_TOKEN=$(carbonio-mesh credentials token)   # for the consul CLI\n'
token=$(mesh credentials token)
echo "(a ${#token}-character token; not printed)"
unset token
printf '\n$ carbonio-mesh -v members   # no token given: it comes from the archive\n'
mesh -v members 2>&1 | grep -v DEBUG || true
show leader --carbonio "$root/opt/zextras/bin/carbonio" --carbonio-user "$CARBONIO_STANDIN_USER"
show members
show members --status failed
show catalog nodes
show catalog services --tags
show catalog nodes --service carbonio-mailbox --format json
# Changing the cluster: the plan first, then the change (--yes: no terminal to confirm on here).
show --dry-run services deregister --id carbonio-mailbox   # on mail.example.com, not this agent
show --dry-run force-leave --failed
show --yes reload
# Secret regeneration: the configured steps, then a dry run. This host is not the simulated
# leader (srv1 at 192.168.56.101), so the run stops, safely, at check-on-leader.
show secret plan
SERVICE_DISCOVER_STANDIN_ROOT="$root" PATH="$root/usr/bin:$PATH" show --dry-run secret regenerate --generate


echo
echo "Exit status 6 from leader means: another host is the leader (0 on the leader itself)."
echo "Exit status 2 from members --status means: no member matched (as consul members)."
