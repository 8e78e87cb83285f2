#!/usr/bin/env bash
# `carbonio-mesh force-leave --failed` on a simulated cluster of 2,000 members, 200 of them failed
# (the Consul double, generated:3,1997,200), release build. Each run needs a fresh cluster (the
# first run leaves none failed), so the double is restarted per run and the command timed alone.
# Prints every run's wall time and the median; checks that no member is left failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages build-essential pkg-config libclang-dev nettle-dev jq curl
cargo build --release --workspace --locked

work="$PWD/target/bench/force-leave"
rm -rf "$work" && mkdir -p "$work/plugins"
install -m 0755 target/release/libcarbonio_mesh_plugin_force_leave.so "$work/plugins/force-leave.so"
bin="$PWD/target/release/carbonio-mesh"
runs=${RUNS:-7}
times=()
for _ in $(seq "$runs"); do
    out=$(mktemp)
    target/release/consul-double --cluster generated:3,1997,200 >"$out" &
    pid=$!
    for _ in $(seq 100); do url=$(head -n1 "$out"); [ -n "$url" ] && break; sleep 0.05; done
    start=$(date +%s%N)
    "$bin" --plugin-dir "$work/plugins" --http-addr "$url" --token "$DOUBLE_TOKEN" --yes \
        --format json force-leave --failed >"$work/result.json"
    end=$(date +%s%N)
    left_failed=$(curl -sf -H "X-Consul-Token: $DOUBLE_TOKEN" "$url/v1/agent/members" | jq '[.[] | select(.Status == 4)] | length')
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -f "$out"
    [ "$(jq length "$work/result.json")" -eq 200 ] || { echo "expected 200 outcomes" >&2; exit 1; }
    [ "$left_failed" -eq 0 ] || { echo "$left_failed members still failed" >&2; exit 1; }
    times+=($(( (end - start) / 1000000 )))
done
echo "wall times (ms): ${times[*]}"
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "median: " a[int((NR+1)/2)] " ms (" NR " runs, 200 failed of 2,000, none left failed)"}'
