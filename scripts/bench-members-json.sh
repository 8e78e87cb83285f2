#!/usr/bin/env bash
# `members --format json` against the bare fetch (curl) on a simulated 5,000-member cluster
# (issue 16's bar: within 1.3x of curl), with the table for comparison. Release build.
# BEFORE=DIR adds another build's `members --format json` to the same series (DIR: its
# target/release, e.g. an older commit built in a worktree), after checking that both builds
# print the same bytes. Every agent runs CONSUL_VERSION (1.21.4 by default, what Carbonio ships).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages hyperfine jq curl
cargo build --release --workspace --locked
start_consul_double "generated:5,4995,0" --consul-version "${CONSUL_VERSION:-1.21.4}"
url="$CONSUL_DOUBLE_URL/v1/agent/members?segment=_all"
export CONSUL_HTTP_ADDR="$CONSUL_DOUBLE_URL" CONSUL_HTTP_TOKEN="$DOUBLE_TOKEN"
mkdir -p target/bench
printf 'X-Consul-Token: %s\n' "$DOUBLE_TOKEN" > target/bench/token-header
mesh="target/release/carbonio-mesh --plugin-dir $PWD/target/release"
before=()
if [ -n "${BEFORE:-}" ]; then
    old="$BEFORE/carbonio-mesh --plugin-dir $BEFORE"
    for args in "members --format json" "members --detailed" "members"; do
        # shellcheck disable=SC2086 # the words of a command line
        cmp <($old $args) <($mesh $args) || { echo "'$args' differs between the builds" >&2; exit 1; }
    done
    before=(-n before "$old members --format json")
fi
hyperfine -N --warmup 5 --runs "${RUNS:-30}" --export-json target/bench/members-json.json \
  "${before[@]}" \
  -n json "$mesh members --format json" \
  -n table "$mesh members" \
  -n curl-only "curl -s -H @target/bench/token-header $url" >/dev/null
jq -r '.results[] | "\(.command): median \(.median * 1000 * 10 | round / 10) ms, user \(.user * 1000 | round) ms, system \(.system * 1000 | round) ms"' \
  target/bench/members-json.json
