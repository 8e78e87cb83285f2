#!/usr/bin/env bash
# `doctor` wall times (release build): this node's checks alone (`doctor --local`, one archive
# opening included), the cluster and node checks (`doctor`), and `doctor --nodes all` with 1 and
# with 50 other nodes. The leader is simulated as in bench-secret-fanout.sh: the Consul double
# (a generated cluster of one server, this host, and N clients), the service-discover/systemctl
# stand-ins, a sandbox root. The other nodes are simulated by the doctor-transport step, replaced
# by configuration with `sleep 1` and then the leader's own `doctor --local --format json`
# document: a node's checks run on its own machine, so this measures the leader's work plus its
# bounded parallel fan-out (32 at a time) and the merge. RUNS (default 5) runs per measurement;
# prints every time and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages build-essential pkg-config libclang-dev nettle-dev gnupg openssl jq curl iproute2
cargo build --release --workspace --locked

ip=$(this_host_ip)
work="$(trusted_scratch_dir)/bench-doctor"
rm -rf "$work" && install -d -m 0755 "$work" "$work/plugins"
install -m 0755 target/release/libcarbonio_mesh_plugin_doctor.so "$work/plugins/doctor.so"
export PATH="$PWD/tests/stand-ins:$PATH"
# carbonio-mesh runs programs in a clean environment: hand the stand-ins their settings.
export CARBONIO_MESH_CHILD_ENV="SERVICE_DISCOVER_STANDIN_ROOT CONSUL_HTTP_ADDR"
bin="$PWD/target/release/carbonio-mesh"
pid=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true' EXIT

setup() { # CLIENTS: a fresh leader and a double with that many other nodes
    local n=$1 root="$work/root" out
    [ -z "$pid" ] || { kill "$pid"; wait "$pid" 2>/dev/null || true; }
    rm -rf "$root" && install -d -m 0755 "$root"
    out=$(mktemp)
    target/release/consul-double --cluster "generated:1,$n,0" --unbootstrapped --leader-address "$ip" \
        --data-dir "$root/var/lib/service-discover/data" >"$out" &
    pid=$!
    for _ in $(seq 100); do url=$(head -n1 "$out"); [ -n "$url" ] && break; sleep 0.05; done
    rm -f "$out"
    export SERVICE_DISCOVER_STANDIN_ROOT="$root" CONSUL_HTTP_ADDR="$url"
    service-discover setup "$ip" --first-instance --password=bench-doctor-password >/dev/null
    chown nobody "$root/etc/zextras/service-discover/main.json" "$root/etc/zextras/service-discover/config.json"
    systemctl start service-discover
    install -d -m 0755 "$root/etc/carbonio-mesh/config.d"
    cat >"$root/etc/carbonio-mesh/config.d/10-bench.toml" <<TOML
[mesh]
service_user = "nobody"
[steps.doctor-transport]
exec = ["sh", "-c", "sleep 1; cat $work/node.json"]
TOML
}

mesh() { "$bin" --root "$work/root" --plugin-dir "$work/plugins" "$@"; }

time_ms() { # ARGS...: runs doctor ARGS once (exit 0, 10 or 11 are results), prints the ms
    local start end status=0
    start=$(date +%s%N)
    mesh doctor "$@" >"$work/result.txt" || status=$?
    end=$(date +%s%N)
    case $status in 0|10|11) ;; *) cat "$work/result.txt" >&2; exit 1 ;; esac
    echo $(( (end - start) / 1000000 ))
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A med
measure() { # LABEL ARGS...
    local label=$1; shift
    local times=()
    for _ in $(seq "${RUNS:-5}"); do times+=("$(time_ms "$@")"); done
    med[$label]=$(median "${times[@]}")
    echo "$label: ${times[*]} ms; median ${med[$label]} ms"
}

setup 1
mesh doctor --local --format json >"$work/node.json" || true
measure "doctor --local" --local
measure "doctor" 
measure "doctor --nodes all, 1 node" --nodes all
grep -q '"node": "agent-node1-mesh-test"' <(mesh doctor --nodes all --format json || true) \
    || { echo "the simulated node's document was not merged" >&2; exit 1; }
setup 50
mesh doctor --local --format json >"$work/node.json" || true
measure "doctor --nodes all, 50 nodes" --nodes all
[ "$(mesh doctor --nodes all --format json | jq '.nodes | length' || true)" = 51 ] \
    || { echo "not every simulated node was merged" >&2; exit 1; }
awk -v a="${med[doctor --nodes all, 50 nodes]}" -v b="${med[doctor --nodes all, 1 node]}" \
    'BEGIN {printf "50 nodes / 1 node: %.2fx\n", a / b}'
