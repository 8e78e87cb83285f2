#!/usr/bin/env bash
# The main job for a newcomer: build the release tree, start a simulated Carbonio cluster, and show
# carbonio-mesh at work on it, ending with a complete secret regeneration of the whole cluster.
# Idempotent; needs root (for a network namespace), no Carbonio and no Consul.
#
#   scripts/demo.sh [--consul-version 1.21.4|1.19.1|1.10.12|1.9.3]
#
# Every agent runs Consul 1.21.4 by default, what a new Carbonio install runs; --consul-version
# 1.9.3 shows the cluster as Carbonio ran it in 2021 (each command's output follows the agent's
# version: the members table, force-leave of a WAN name, Consul's texts).
#
# The simulated cluster lives in its own network namespace, so nothing on this machine changes:
# - this host is the Mesh leader srv1.example.com (192.168.56.101, on the namespace's own network
#   interface: service-discover setup refuses an address on the loopback interface);
# - the simulated Mesh (tests/consul-double, a stand-in for Consul agents of the chosen version) runs
#   one agent per node of the five-node cluster of tests/fixtures/consul, whose nodes carry real
#   Carbonio node names (server-srv1-example-com, agent-mail-example-com, ...): each started and
#   stopped by the systemctl stand-in from its node's files, raft voters needing a majority that
#   shares a CA, a keyring per node;
# - each other node (srv2, srv3, mail, proxy) has its own system root with the Carbonio Mesh files,
#   made by the `service-discover` stand-in, and is reached through Debian's real OpenSSH server
#   listening on that node's address (192.168.56.102 ...), whose forced command runs the real
#   carbonio-mesh binary against that node's root;
# - Carbonio's LDAP is a real OpenLDAP slapd (tests/src/bin/test-slapd.rs) listing the five
#   servers, where service-discover uploads the credentials archive; every node's localconfig.xml
#   names it, so carbonio-mesh knows each node's hostname;
# - the `carbonio` stand-in answers `carbonio prov gas service-discover` from that LDAP.
# The stand-ins live in tests/stand-ins.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

consul_version=1.21.4
case "${1:-}" in
    "") ;;
    --consul-version) consul_version=${2:-} ;;
    *) echo "usage: scripts/demo.sh [--consul-version 1.21.4|1.19.1|1.10.12|1.9.3]" >&2; exit 2 ;;
esac
case "$consul_version" in
    1.21.4 | 1.19.1 | 1.10.12 | 1.9.3) ;;
    *) echo "--consul-version: one of 1.21.4 (default), 1.19.1, 1.10.12, 1.9.3" >&2; exit 2 ;;
esac

namespace=carbonio-mesh-demo
if [ -z "${CARBONIO_MESH_DEMO_INSIDE:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "The demo builds a network namespace for its simulated cluster; rerunning with sudo." >&2
        exec sudo -E "$0" "$@"
    fi
    # libclang-dev, nettle-dev, pkg-config: sequoia-openpgp's nettle backend (the credentials
    # archive); openssh-server/-client: the nodes are reached through a real sshd.
    ensure_packages build-essential pkg-config libclang-dev nettle-dev gnupg openssl jq curl \
        iproute2 openssh-server openssh-client slapd ldap-utils
    ensure_rust_components
    cargo build --release --workspace --locked
    ip netns del "$namespace" 2>/dev/null || true
    if ! ip netns add "$namespace"; then
        echo "cannot create the network namespace $namespace: the demo needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN" >&2
        exit 1
    fi
    trap 'ip netns del "$namespace" 2>/dev/null || true' EXIT
    CARBONIO_MESH_DEMO_INSIDE=1 ip netns exec "$namespace" "$0" "$@"
    exit $?
fi

# Inside the namespace: this host has every simulated node's address (the leader's is this
# host's; the others are where the nodes' sshd listens).
ip link set lo up
# service-discover setup binds only to an address of a real interface, never lo's (docs/carbonio-mesh.md,
# "Regenerating the secrets"): the addresses sit on a veth pair of the namespace's own.
ip link add mesh0 type veth peer name mesh1
ip link set mesh0 up
ip link set mesh1 up
declare -A address=(
    [srv1.example.com]=192.168.56.101 [srv2.example.com]=192.168.56.102
    [srv3.example.com]=192.168.56.103 [mail.example.com]=192.168.56.110
    [proxy.example.com]=192.168.56.111
)
others=(srv2.example.com srv3.example.com mail.example.com proxy.example.com)
for host in "${!address[@]}"; do ip addr add "${address[$host]}/32" dev mesh0; done

bin="$PWD/target/release/carbonio-mesh"
# Cargo leaves each plugin crate as target/release/libcarbonio_mesh_plugin_<name>.so, a name the
# loader accepts, so the build tree itself is a plugin directory.
plugins="$PWD/target/release"
# sshd's StrictModes and the plugin trust rules both want a directory only root can write.
demo="$(trusted_scratch_dir)/demo"
rm -rf "$demo"
install -d -m 0755 "$demo"

# make_root DIR: a Carbonio node's system root with the stand-ins where Carbonio has the programs.
make_root() {
    local root=$1
    install -d -m 0755 "$root/etc" "$root/opt/zextras/bin" "$root/usr/bin" "$root/etc/carbonio-mesh/config.d"
    {
        echo "127.0.0.1       localhost"
        for host in "${!address[@]}"; do echo "${address[$host]}  $host"; done
    } >"$root/etc/hosts"
    install -m 0755 tests/stand-ins/carbonio "$root/opt/zextras/bin/carbonio"
    install -m 0755 tests/stand-ins/service-discover tests/stand-ins/systemctl tests/stand-ins/consul "$root/usr/bin/"
    # Consul runs as service-discover on a real node; this machine has no such user.
    printf '[mesh]\nservice_user = "nobody"\n' >"$root/etc/carbonio-mesh/config.d/10-demo.toml"
}

root="$demo/root"
make_root "$root"
for host in "${others[@]}"; do make_root "$demo/nodes/$host"; done

# Carbonio's LDAP: a real slapd, running while this script holds its standard input open.
coproc SLAPD {
    exec target/release/test-slapd --localconfig "$root/opt/zextras/conf/localconfig.xml" \
        $(for host in "${others[@]}"; do printf -- '--localconfig %s ' "$demo/nodes/$host/opt/zextras/conf/localconfig.xml"; done) \
        --server srv1.example.com=service-discover --server srv2.example.com=service-discover \
        --server srv3.example.com=service-discover --server mail.example.com=mailbox \
        --server proxy.example.com=proxy
}
read -r ready ldap_url <&"${SLAPD[0]}" && [ "$ready" = ready ] || { echo "slapd did not start" >&2; exit 1; }
export CARBONIO_STANDIN_USER="$(id -un)"   # the real one insists on zextras
export CARBONIO_STANDIN_ROOT="$root"       # its localconfig.xml names the LDAP it reads
# carbonio-mesh runs programs in a clean environment: hand the stand-ins their settings.
export CARBONIO_MESH_CHILD_ENV="CARBONIO_STANDIN_ROOT CARBONIO_STANDIN_USER SERVICE_DISCOVER_STANDIN_ROOT CONSUL_HTTP_ADDR CONSUL_STANDIN_VERSION SERVICE_DISCOVER_STANDIN_LAYOUT"
# The installed consul binary says the chosen version; service-discover writes main.json as it did
# for that Consul (TLS keys under tls.defaults since 2025, at the top level before).
export CONSUL_STANDIN_VERSION="$consul_version"
if [ "$consul_version" = 1.21.4 ]; then
    export SERVICE_DISCOVER_STANDIN_LAYOUT=tls.defaults
else
    export SERVICE_DISCOVER_STANDIN_LAYOUT=top-level
fi

# The simulated Mesh: one Consul agent per node (tests/consul-double, its Mesh), each under that
# node's root, started by the systemctl stand-in once service-discover's stand-in has set the node
# up: raft voters that need a majority sharing a CA, a keyring per node kept over `encrypt`, the
# ACL bootstrap served by the leader from its own data directory (docs/carbonio-mesh.md, "The
# simulated Mesh").
declare -A node_name=(
    [srv1.example.com]=server-srv1-example-com [srv2.example.com]=server-srv2-example-com
    [srv3.example.com]=server-srv3-example-com [mail.example.com]=agent-mail-example-com
    [proxy.example.com]=agent-proxy-example-com
)
declare -A node_root=([srv1.example.com]="$root")
for host in "${others[@]}"; do node_root[$host]="$demo/nodes/$host"; done
mesh_out="$demo/consul-double.out"
target/release/consul-double --cluster fixture-unbootstrapped --consul-version "$consul_version" \
    $(for host in "${!node_name[@]}"; do printf -- '--mesh-root %s=%s ' "${node_name[$host]}" "${node_root[$host]}"; done) \
    >"$mesh_out" &
CONSUL_DOUBLE_PID=$!
for _ in $(seq 100); do [ "$(wc -l <"$mesh_out")" -ge 6 ] && break; sleep 0.05; done
agent_url() { awk -v n="${node_name[$1]}" '$1 == n { print $2 }' "$mesh_out"; }
export CONSUL_DOUBLE_CONTROL=$(awk '$1 == "control" { print $2 }' "$mesh_out")
export CONSUL_HTTP_ADDR=$(agent_url srv1.example.com)
# service-discover leaves main.json and config.json to Consul's user (here nobody).
export SERVICE_DISCOVER_STANDIN_USER=nobody
export CARBONIO_MESH_CHILD_ENV="$CARBONIO_MESH_CHILD_ENV CONSUL_DOUBLE_CONTROL SERVICE_DISCOVER_STANDIN_USER"
# service-discover's server package on the Mesh servers (its setup makes a server there).
for host in srv1.example.com srv2.example.com srv3.example.com; do
    install -d -m 0755 "${node_root[$host]}/var/lib/dpkg/info"
    echo /usr/bin/service-discover >"${node_root[$host]}/var/lib/dpkg/info/service-discover-server.list"
done

# Set up the first Mesh server, as `service-discover setup` does on a real one: certificates,
# main.json, the unit started (its agent leads alone), the ACL bootstrap, the credentials archive,
# the password file and the upload to LDAP, under $root.
# (The real CLI takes the password in argv, a risk the facts file records; this one is a throwaway.)
old_password=$(head -c 18 /dev/urandom | base64)
PATH="$root/usr/bin:$PATH" SERVICE_DISCOVER_STANDIN_ROOT="$root" "$root/usr/bin/service-discover" \
    setup "${address[srv1.example.com]}" --first-instance --password="$old_password" >/dev/null
# The other nodes, servers first, each from LDAP's archive as on a real cluster: its agent joins.
for host in "${others[@]}"; do
    node="$demo/nodes/$host"
    PATH="$node/usr/bin:$PATH" SERVICE_DISCOVER_STANDIN_ROOT="$node" CONSUL_HTTP_ADDR="$(agent_url "$host")" \
        "$node/usr/bin/service-discover" setup "${address[$host]}" --password="$old_password" >/dev/null
done
unset old_password

# The nodes' OpenSSH server (Debian's sshd, one process listening on every node's address), its
# host key known to the leader under each node's hostname and address, the leader's key allowed
# to run carbonio-mesh only.
ssh_dir="$demo/ssh"
install -d -m 0700 "$ssh_dir"
ssh-keygen -q -t ed25519 -N '' -C demo-node -f "$ssh_dir/host_key"
ssh-keygen -q -t ed25519 -N '' -C demo-leader -f "$ssh_dir/leader_key"
install -d -m 0755 /run/sshd   # sshd's privilege separation directory
cat >"$ssh_dir/node-carbonio-mesh" <<SCRIPT
#!/bin/sh
# Stands in for carbonio-mesh as installed on each simulated node: sshd runs it as the forced
# command of the leader's key; it picks the node by the address the connection came in on and runs
# the real carbonio-mesh against that node's root, with that node's stand-ins.
set -eu
set -- \$SSH_CONNECTION
case "\$3" in
$(for host in "${others[@]}"; do printf '    %s) node=%s agent=%s ;;\n' "${address[$host]}" "$demo/nodes/$host" "$(agent_url "$host")"; done)
    *) echo "no simulated node at \$3" >&2; exit 127 ;;
esac
case "\$SSH_ORIGINAL_COMMAND" in
    "carbonio-mesh "*) ;;
    *) echo "this key only runs carbonio-mesh" >&2; exit 126 ;;
esac
export PATH="\$node/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin" SERVICE_DISCOVER_STANDIN_ROOT="\$node"
export CONSUL_HTTP_ADDR="\$agent" CONSUL_STANDIN_VERSION="$consul_version" CONSUL_DOUBLE_CONTROL="$CONSUL_DOUBLE_CONTROL"
export SERVICE_DISCOVER_STANDIN_USER=nobody
export CARBONIO_MESH_CHILD_ENV="SERVICE_DISCOVER_STANDIN_ROOT CONSUL_HTTP_ADDR CONSUL_STANDIN_VERSION CONSUL_DOUBLE_CONTROL SERVICE_DISCOVER_STANDIN_USER"
eval "set -- \${SSH_ORIGINAL_COMMAND#carbonio-mesh }"
exec "$bin" --root "\$node" --plugin-dir "$plugins" "\$@"
SCRIPT
chmod 0755 "$ssh_dir/node-carbonio-mesh"
printf 'command="%s",restrict %s\n' "$ssh_dir/node-carbonio-mesh" "$(cat "$ssh_dir/leader_key.pub")" >"$ssh_dir/authorized_keys"
{
    for host in "${others[@]}"; do echo "ListenAddress ${address[$host]}:22"; done
    cat <<CONFIG
HostKey $ssh_dir/host_key
PidFile $ssh_dir/sshd.pid
AuthorizedKeysFile $ssh_dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
UseDNS no
CONFIG
} >"$ssh_dir/sshd_config"
/usr/sbin/sshd -f "$ssh_dir/sshd_config" -E "$ssh_dir/sshd.log"
trap 'kill "$(cat "$ssh_dir/sshd.pid" 2>/dev/null)" 2>/dev/null; kill "$CONSUL_DOUBLE_PID" 2>/dev/null' EXIT
{
    for host in "${others[@]}"; do
        echo "$host,${address[$host]} $(cut -d' ' -f1,2 "$ssh_dir/host_key.pub")"
    done
} >"$ssh_dir/known_hosts"
# Where each hostname is: DNS's job on a real site, this file's here.
{
    for host in "${others[@]}"; do printf 'Host %s\n    HostName %s\n' "$host" "${address[$host]}"; done
} >"$ssh_dir/config"
cat >>"$ssh_dir/config" <<CONFIG
Host *
    User root
    IdentityFile $ssh_dir/leader_key
    IdentitiesOnly yes
    IdentityAgent none
    UserKnownHostsFile $ssh_dir/known_hosts
    GlobalKnownHostsFile /dev/null
CONFIG
# The built-in transport (`secret plan` shows it) with this ssh configuration (-F) added: that is
# all a site changes.
cat >"$root/etc/carbonio-mesh/config.d/50-transport.toml" <<TOML
[steps.transport]
exec = ["ssh", "-F", "$ssh_dir/config", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10", "root@{host}", "carbonio-mesh", "--yes", "secret", "rejoin", "--input-stdin"]
password_stdin = true
TOML

# No token is exported: like `sudo carbonio-mesh members` on a Mesh server, carbonio-mesh finds the
# bootstrap token in the credentials archive, opened with the Mesh password file (both under $root).
# That replaces the documented
#   gpg -qdo - cluster-credentials.tar.gpg | tar xOf - consul-acl-secret.json | jq .SecretID -r
unset CONSUL_HTTP_TOKEN CONSUL_HTTP_TOKEN_FILE
export PATH="$root/usr/bin:$PATH" SERVICE_DISCOVER_STANDIN_ROOT="$root"
mesh() { "$bin" --root "$root" --plugin-dir "$plugins" "$@"; }
show() {
    printf '\n$ carbonio-mesh %s\n' "$*"
    local code=0
    mesh "$@" || code=$?
    [ "$code" -eq 0 ] || echo "(exit status $code)"
}

echo
echo "Simulated Carbonio cluster of Consul $consul_version agents (scripts/demo.sh --consul-version V for another):"
echo "this node's Consul agent (the simulated Mesh) at $CONSUL_HTTP_ADDR, LDAP (slapd) at $ldap_url,"
echo "this host srv1.example.com (192.168.56.101), four more nodes behind a real sshd, their Carbonio"
echo "files under $demo:"
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
printf '\n$ carbonio-mesh members --format json | jq -c ...   # JSON adds each node'"'"'s Carbonio hostname\n'
mesh members --format json | jq -c '.[] | {node, host, address, status}'
show members --status failed
show catalog nodes
show catalog services --tags
show catalog nodes --service carbonio-mailbox --format json
# A node by its hostname, its node name, its short node ID or its address: the same node.
show catalog services --node mail.example.com
show catalog services --node f1c36ec8
show force-leave mail.example.com   # alive: refused, naming the node and its host
# A WAN name: Consul 1.11+ looks in both pools (the plan); 1.9 and 1.10 refuse it (Consul's words,
# and the LAN name that works).
show --dry-run force-leave --force server-srv2-example-com.dc1
# Changing the cluster: the plan first, then the change (--yes: no terminal to confirm on here).
show --dry-run services deregister --id carbonio-mailbox   # on mail.example.com, not this agent
show --dry-run force-leave --failed
show --yes reload
# The whole Mesh's health: the cluster's checks here, each node's own checks over ssh (the packaged
# doctor-transport with this ssh configuration). On a node, service-discover runs (the stand-in's
# systemctl) and Consul's files belong to its user.
cat >"$root/etc/carbonio-mesh/config.d/51-doctor-transport.toml" <<TOML
[steps.doctor-transport]
exec = ["ssh", "-F", "$ssh_dir/config", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10", "root@{host}", "carbonio-mesh", "doctor", "--local", "--format", "json"]
TOML
for node in "$root" "${others[@]/#/$demo/nodes/}"; do
    chown nobody "$node/etc/zextras/service-discover/main.json" "$node/etc/zextras/service-discover/config.json"
    SERVICE_DISCOVER_STANDIN_ROOT="$node" "$node/usr/bin/systemctl" start service-discover
done
show doctor --nodes all
# Two planted problems: service-discover stopped on proxy.example.com, and a leftover certificate
# here (what a setup over old files leaves). doctor names both, with the fix.
SERVICE_DISCOVER_STANDIN_ROOT="$demo/nodes/proxy.example.com" "$demo/nodes/proxy.example.com/usr/bin/systemctl" stop service-discover
cp "$root/var/lib/service-discover/dc1-server-consul-0.pem" "$root/var/lib/service-discover/dc1-server-consul-1.pem"
show doctor --nodes all
SERVICE_DISCOVER_STANDIN_ROOT="$demo/nodes/proxy.example.com" "$demo/nodes/proxy.example.com/usr/bin/systemctl" start service-discover
rm "$root/var/lib/service-discover/dc1-server-consul-1.pem"
# Secret regeneration of the whole cluster: the configured steps, a dry run, then the real thing.
# Each other node is set up again over ssh with the new password and archive on its standard
# input, never in a command line.
printf '%s\n' "$(head -c 18 /dev/urandom | base64)" >"$demo/new-password"
chmod 0600 "$demo/new-password"
show secret plan
show --dry-run secret regenerate --nodes all --password-file "$demo/new-password"
# The real thing: the demo fails if it does not complete.
printf '\n$ carbonio-mesh --yes secret regenerate --nodes all --password-file %s\n' "$demo/new-password"
mesh --yes secret regenerate --nodes all --password-file "$demo/new-password"
# After it: one gossip key everywhere, three voters, a failure tolerance of 1 (doctor's checks).
show doctor --nodes all
# Every node's archive now opens with the new password, and is LDAP's copy.
for host in "${others[@]}"; do
    printf '\n$ carbonio-mesh credentials verify   # on %s\n' "$host"
    "$bin" --root "$demo/nodes/$host" --plugin-dir "$plugins" credentials verify --password-file "$demo/new-password"
done

echo
echo "Exit status 6 from leader means: another host is the leader (0 on the leader itself)."
echo "Exit status 11 from doctor means: a check failed (10: warnings only)."
echo "Exit status 2 from members --status means: no member matched (as consul members)."
