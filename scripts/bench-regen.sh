#!/usr/bin/env bash
# `secret regenerate --nodes all` on three Mesh servers and AGENTS agents (50, then 1) of the
# simulated Mesh (consul-double --mesh-roots: one Consul agent per node that elects a leader only
# with a majority sharing a CA and keeps local.keyring over encrypt), every node under its own
# root, set up beforehand by the service-discover stand-in (the first server, the other two, the
# agents). The transport reaches a node by running the real carbonio-mesh `secret rejoin
# --input-stdin` against that node's root and agent (what ssh runs on a real node; no sshd here:
# its cost is not the procedure's). What is timed is the whole procedure: snapshot, raft shrunk,
# the leader set up again, the gossip key rotated, the other servers one at a time, then the
# agents in parallel (32 at a time). RUNS (default 3) runs per size; prints every time, the
# medians and their ratio (the bar: 3 + 50 within twice 3 + 1); on standard error, each run's
# CPU time (user + system of the run and every program it started) and how busy the cores were.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages build-essential pkg-config libclang-dev nettle-dev gnupg openssl jq curl iproute2 time
cargo build --release --workspace --locked

ip=$(this_host_ip)
base="$(trusted_scratch_dir)/bench-regen"
bin="$PWD/target/release/carbonio-mesh"
stand_ins="$PWD/tests/stand-ins"
export PATH="$stand_ins:$PATH"

node_env() { # NAME: the environment a node's programs get
    echo "SERVICE_DISCOVER_STANDIN_ROOT=$work/roots/$1 CONSUL_HTTP_ADDR=$(url_of "$1") CONSUL_DOUBLE_CONTROL=$control"
}
url_of() { awk -v n="$1" '$1 == n { print $2 }' "$work/double.out"; }

setup_node() { # NAME FIRST: service-discover setup there (the stand-in starts its agent)
    local name=$1 root="$work/roots/$1"
    install -d -m 0755 "$root/etc/carbonio-mesh/config.d"
    printf '[mesh]\nservice_user = "nobody"\n' >"$root/etc/carbonio-mesh/config.d/10-bench.toml"
    if [[ $name == server-* ]]; then
        install -d -m 0755 "$root/var/lib/dpkg/info"
        echo /usr/bin/service-discover >"$root/var/lib/dpkg/info/service-discover-server.list"
    fi
    if [ "$2" = first ]; then
        env $(node_env "$name") service-discover setup 192.0.2.2 --first-instance --password=old-bench-password >/dev/null
    else
        install -d -m 0755 "$root/etc/zextras/service-discover"
        cp "$work/roots/$leader/etc/zextras/service-discover/cluster-credentials.tar.gpg" "$root/etc/zextras/service-discover/"
        env $(node_env "$name") service-discover setup 192.0.2.2 --password=old-bench-password >/dev/null
    fi
}

one_run() { # AGENTS: prints the wall time in ms
    local n=$1
    work="$base/$n"
    rm -rf "$work" && install -d -m 0755 "$work" "$work/plugins" "$work/roots"
    install -m 0755 target/release/libcarbonio_mesh_plugin_secret.so "$work/plugins/secret.so"
    printf '%s\n' new-bench-password >"$work/password"
    target/release/consul-double --mesh-roots "$work/roots" --cluster "generated:3,$n,0" \
        --unbootstrapped --leader-address "$ip" --consul-version 1.21.4 >"$work/double.out" &
    double_pid=$!
    # (one_run runs in a subshell: this trap stops the double when it fails half-way.)
    trap 'kill "$double_pid" 2>/dev/null || true' EXIT
    for _ in $(seq 200); do [ "$(wc -l <"$work/double.out")" -eq $((n + 4)) ] && break; sleep 0.05; done
    control=$(url_of control)
    leader=server-srv1-mesh-test
    setup_node "$leader" first
    for name in $(awk '$1 != "control" { print $1 }' "$work/double.out" | sort -t- -k1,1r); do
        [ "$name" = "$leader" ] || setup_node "$name" other
    done
    # Each member's address (the transport's {host}) with its node.
    local token
    token=$(gpg --batch --quiet --pinentry-mode loopback --passphrase old-bench-password \
        -d "$work/roots/$leader/etc/zextras/service-discover/cluster-credentials.tar.gpg" 2>/dev/null |
        tar -xOf - consul-acl-secret.json | jq -r .SecretID)
    curl -sS -H @<(printf 'X-Consul-Token: %s\n' "$token") "$(url_of "$leader")/v1/agent/members" |
        jq -r '.[] | "\(.Addr) \(.Name)"' >"$work/addresses"
    # The transport: the node's carbonio-mesh against its root and agent.
    cat >"$work/node.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
name=\$(awk -v h="\${1#host=}" '\$1 == h { print \$2 }' "$work/addresses")
export PATH="$stand_ins:/usr/sbin:/usr/bin:/sbin:/bin"
export CARBONIO_MESH_CHILD_ENV="SERVICE_DISCOVER_STANDIN_ROOT CONSUL_HTTP_ADDR CONSUL_DOUBLE_CONTROL"
export SERVICE_DISCOVER_STANDIN_ROOT="$work/roots/\$name" CONSUL_DOUBLE_CONTROL="$control"
export CONSUL_HTTP_ADDR=\$(awk -v n="\$name" '\$1 == n { print \$2 }' "$work/double.out")
exec "$bin" --root "$work/roots/\$name" --plugin-dir "$work/plugins" --yes secret rejoin --input-stdin
EOF
    chmod 0755 "$work/node.sh"
    cat >>"$work/roots/$leader/etc/carbonio-mesh/config.d/10-bench.toml" <<EOF
[steps.transport]
exec = ["$work/node.sh", "host={host}"]
password_stdin = true
EOF
    local start end
    start=$(date +%s%N)
    # The CPU time of the whole run, every node's programs included (the simulated agents, in
    # the double's process, are not): what the two cores had to do, against the wall time.
    /usr/bin/time -f '%U %S' -o "$work/cpu" env $(node_env "$leader") CARBONIO_MESH_CHILD_ENV="SERVICE_DISCOVER_STANDIN_ROOT CONSUL_HTTP_ADDR CONSUL_DOUBLE_CONTROL" \
        "$bin" --root "$work/roots/$leader" --plugin-dir "$work/plugins" --yes secret regenerate \
        --password-file "$work/password" --nodes all >"$work/result.txt" 2>&1 || { cat "$work/result.txt" >&2; exit 1; }
    end=$(date +%s%N)
    grep -q "$((n + 2)) node(s) set up again" "$work/result.txt" || { cat "$work/result.txt" >&2; exit 1; }
    kill "$double_pid"; wait "$double_pid" 2>/dev/null || true
    local wall=$(( (end - start) / 1000000 ))
    read -r user sys <"$work/cpu"
    awk -v w="$wall" -v u="$user" -v s="$sys" -v c="$(nproc)" -v n="$n" \
        'BEGIN { printf "3 + %d: %d ms wall, %.1f s CPU, cores busy %.0f%%\n", n, w, u + s, 100 * (u + s) / (w / 1000 * c) }' >&2
    echo "$wall"
}

declare -A median
for n in ${SIZES:-50 1}; do
    times=()
    for _ in $(seq "${RUNS:-3}"); do times+=("$(one_run "$n")"); done
    median[$n]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "3 servers + $n agent(s): ${times[*]} ms; median ${median[$n]} ms"
done
if [ -n "${median[50]:-}" ] && [ -n "${median[1]:-}" ]; then
    awk -v a="${median[50]}" -v b="${median[1]}" 'BEGIN { printf "ratio 3+50 / 3+1: %.2f\n", a / b }'
fi
