#!/usr/bin/env bash
# A/B of `carbonio-mesh members` (table and --format json) on a simulated 5,000-member cluster:
# two release builds side by side against the same Consul double, e.g. before and after a change.
#   OLD=/path/to/old/target/release NEW=target/release RUNS=40 scripts/bench-ab-members.sh
# Each directory holds carbonio-mesh and its plugins (as `cargo build --release` leaves them).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages hyperfine jq
: "${OLD:?set OLD to the release directory of the build to compare against}"
NEW=${NEW:-target/release}
OLD=$(realpath "$OLD") NEW=$(realpath "$NEW")
start_consul_double "generated:5,4995,0"
export CONSUL_HTTP_ADDR="$CONSUL_DOUBLE_URL" CONSUL_HTTP_TOKEN="$DOUBLE_TOKEN"
diff <("$OLD/carbonio-mesh" --plugin-dir "$OLD" members) <("$NEW/carbonio-mesh" --plugin-dir "$NEW" members) >/dev/null \
    && echo "tables identical"
mkdir -p target/bench
hyperfine -N -w 5 -r "${RUNS:-40}" \
    -n old "$OLD/carbonio-mesh --plugin-dir $OLD members" \
    -n new "$NEW/carbonio-mesh --plugin-dir $NEW members" \
    -n old-json "$OLD/carbonio-mesh --plugin-dir $OLD members --format json" \
    -n new-json "$NEW/carbonio-mesh --plugin-dir $NEW members --format json" \
    --export-json target/bench/ab-members.json >/dev/null
jq -r '.results[] | "\(.command): median \(.median * 1000 * 10 | round / 10) ms"' target/bench/ab-members.json
