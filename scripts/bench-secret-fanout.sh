#!/usr/bin/env bash
# `secret regenerate --nodes` wall time for 1, 10 and 50 other nodes (release build). The leader
# is simulated as in tests/tests/it/secret.rs: the Consul double (leader moved to this host's
# address, reset file read from the sandbox), the service-discover/systemctl/consul stand-ins, a
# sandbox root. The other nodes are simulated by the transport step, replaced by configuration
# with `sleep 1` that swallows its input: what a node does happens on another machine, so this
# measures the leader's own work plus its fan-out (default 32 nodes at a time), which is what the
# bar is about. RUNS (default 3) runs per size; prints every time and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages build-essential pkg-config libclang-dev nettle-dev gnupg openssl jq curl iproute2
cargo build --release --workspace --locked

ip=$(this_host_ip)
work="$(trusted_scratch_dir)/bench-secret"
rm -rf "$work" && install -d -m 0755 "$work" "$work/plugins"
install -m 0755 target/release/libcarbonio_mesh_plugin_secret.so "$work/plugins/secret.so"
printf '%s\n' 'new-bench-password' >"$work/password"
export PATH="$PWD/tests/stand-ins:$PATH"
# carbonio-mesh runs programs in a clean environment: hand the stand-ins their settings.
export CARBONIO_MESH_CHILD_ENV="SERVICE_DISCOVER_STANDIN_ROOT CONSUL_HTTP_ADDR"
bin="$PWD/target/release/carbonio-mesh"

one_run() { # NODES: prints the wall time in ms
    local n=$1 root="$work/root" out pid list
    rm -rf "$root" && install -d -m 0755 "$root"
    out=$(mktemp)
    # One server (this host, the leader) and N clients: `--nodes all` is every client.
    target/release/consul-double --cluster "generated:1,$n,0" --unbootstrapped --leader-address "$ip" \
        --data-dir "$root/var/lib/service-discover/data" >"$out" &
    pid=$!
    for _ in $(seq 100); do url=$(head -n1 "$out"); [ -n "$url" ] && break; sleep 0.05; done
    export SERVICE_DISCOVER_STANDIN_ROOT="$root" CONSUL_HTTP_ADDR="$url"
    service-discover setup "$ip" --first-instance --password=old-bench-password >/dev/null
    install -d -m 0755 "$root/etc/carbonio-mesh/config.d"
    cat >"$root/etc/carbonio-mesh/config.d/10-bench.toml" <<'TOML'
[mesh]
service_user = "nobody"
[steps.transport]
exec = ["sh", "-c", "sleep 1; cat >/dev/null"]
password_stdin = true
TOML
    local start end
    start=$(date +%s%N)
    "$bin" --root "$root" --plugin-dir "$work/plugins" --yes secret regenerate \
        --password-file "$work/password" --nodes all >"$work/result.txt"
    end=$(date +%s%N)
    grep -q "$n node(s) set up again" "$work/result.txt" || { cat "$work/result.txt" >&2; exit 1; }
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -f "$out"
    echo $(( (end - start) / 1000000 ))
}

declare -A median
for n in 1 10 50; do
    times=()
    for _ in $(seq "${RUNS:-3}"); do times+=("$(one_run "$n")"); done
    median[$n]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$n node(s): ${times[*]} ms; median ${median[$n]} ms"
done
awk -v a="${median[50]}" -v b="${median[1]}" 'BEGIN {printf "50 nodes / 1 node: %.2fx\n", a / b}'
