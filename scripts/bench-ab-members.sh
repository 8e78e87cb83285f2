#!/usr/bin/env bash
# A/B of `carbonio-mesh members` (table and --format json) on a simulated 5,000-member cluster:
# two release builds side by side against the same Consul double, e.g. before and after a change,
# with the bare fetch (curl) as the baseline.
#   OLD=/path/to/old/target/release NEW=target/release RUNS=40 scripts/bench-ab-members.sh
# Each directory holds carbonio-mesh and its plugins (as `cargo build --release` leaves them).
# CONSUL_VERSION: what every agent of the cluster runs (1.21.4 by default, what Carbonio ships).
# ALTERNATE=1: instead of hyperfine (each command's runs in a row, so a change of load on a
# shared machine lands on one command), RUNS rounds that run every command once, the order
# turning each round; prints each command's median wall time and its ratio to curl's.
# FLOOR=DIR adds `members --format json` of another build to the series: one whose plugin
# fetches the member list and throws it away (see docs/BENCHMARKS.md, issue 25 item 11), the
# floor of any process that loads a plugin and fetches the list.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages hyperfine jq curl
: "${OLD:?set OLD to the release directory of the build to compare against}"
NEW=${NEW:-target/release}
OLD=$(realpath "$OLD") NEW=$(realpath "$NEW")
start_consul_double "generated:5,4995,0" --consul-version "${CONSUL_VERSION:-1.21.4}"
export CONSUL_HTTP_ADDR="$CONSUL_DOUBLE_URL" CONSUL_HTTP_TOKEN="$DOUBLE_TOKEN"
diff <("$OLD/carbonio-mesh" --plugin-dir "$OLD" members) <("$NEW/carbonio-mesh" --plugin-dir "$NEW" members) >/dev/null \
    && echo "tables identical" || echo "tables differ (another layout: compare times only)"
mkdir -p target/bench
printf 'X-Consul-Token: %s\n' "$DOUBLE_TOKEN" >target/bench/token-header
url="$CONSUL_DOUBLE_URL/v1/agent/members?segment=_all"
names=(old new old-json new-json curl-only)
commands=(
    "$OLD/carbonio-mesh --plugin-dir $OLD members"
    "$NEW/carbonio-mesh --plugin-dir $NEW members"
    "$OLD/carbonio-mesh --plugin-dir $OLD members --format json"
    "$NEW/carbonio-mesh --plugin-dir $NEW members --format json"
    "curl -s -H @target/bench/token-header $url"
)
if [ -n "${FLOOR:-}" ]; then
    FLOOR=$(realpath "$FLOOR")
    names+=(floor-json)
    commands+=("$FLOOR/carbonio-mesh --plugin-dir $FLOOR members --format json")
fi
if [ -z "${ALTERNATE:-}" ]; then
    args=()
    for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${commands[$i]}"); done
    hyperfine -N -w 5 -r "${RUNS:-40}" "${args[@]}" --export-json target/bench/ab-members.json >/dev/null
    jq -r '.results[] | "\(.command): median \(.median * 1000 * 10 | round / 10) ms"' target/bench/ab-members.json
    exit 0
fi
times=$(mktemp)
for round in $(seq 0 $((${RUNS:-40} + 2))); do
    for k in "${!names[@]}"; do
        i=$(((k + round) % ${#names[@]}))
        start=$(date +%s%N)
        # shellcheck disable=SC2086 # the words of a command line
        ${commands[$i]} >/dev/null
        # The first three rounds warm up.
        [ "$round" -lt 3 ] || echo "${names[$i]} $(($(date +%s%N) - start))" >>"$times"
    done
done
median() { grep "^$1 " "$times" | cut -d' ' -f2 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(median curl-only)
for name in "${names[@]}"; do
    m=$(median "$name")
    awk -v n="$name" -v m="$m" -v b="$base" 'BEGIN {printf "%s: median %.1f ms, %.2fx of curl-only\n", n, m / 1e6, m / b}'
done
rm -f "$times"
