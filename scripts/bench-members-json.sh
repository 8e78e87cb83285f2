#!/usr/bin/env bash
# `members --format json` against the bare fetch (curl) on a simulated 5,000-member cluster
# (issue 16's bar: within 1.3x of curl), with the table for comparison. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages hyperfine jq curl
cargo build --release --workspace --locked
start_consul_double "generated:5,4995,0"
url="$CONSUL_DOUBLE_URL/v1/agent/members?segment=_all"
export CONSUL_HTTP_ADDR="$CONSUL_DOUBLE_URL" CONSUL_HTTP_TOKEN="$DOUBLE_TOKEN"
mkdir -p target/bench
printf 'X-Consul-Token: %s\n' "$DOUBLE_TOKEN" > target/bench/token-header
hyperfine -N --warmup 5 --runs ${RUNS:-30} --export-json target/bench/members-json.json \
  -n json "target/release/carbonio-mesh --plugin-dir $PWD/target/release members --format json" \
  -n table "target/release/carbonio-mesh --plugin-dir $PWD/target/release members" \
  -n curl-only "curl -s -H @target/bench/token-header $url" >/dev/null
jq -r '.results[] | "\(.command): median \(.median * 1000 * 10 | round / 10) ms"' target/bench/members-json.json
