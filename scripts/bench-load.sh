#!/usr/bin/env bash
# What loading one plugin adds to a command, measured side by side with hyperfine (release build).
#   baseline:   carbonio-mesh --version              (process start, clap; no discovery, no load)
#   not found:  carbonio-mesh --plugin-dir D nothing (discovery of a missing plugin; no load)
#   one plugin: carbonio-mesh --plugin-dir D ok echo (discovery, trust checks, dlopen, abi_stable
#               checks, manifest, clap tree from it, invoke)
# Writes hyperfine's results to target/bench/load.json and prints it. Figures go to docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages hyperfine
cargo build --release --workspace --locked
dir="$PWD/target/bench/plugins"
rm -rf "$dir" && mkdir -p "$dir"
install -m 0755 target/release/libfixture_ok.so "$dir/ok.so"
bin="$PWD/target/release/carbonio-mesh"
hyperfine -N --warmup 50 --runs "${RUNS:-1000}" --export-json target/bench/load.json \
    -n baseline "$bin --version" \
    -n not-found "$bin --plugin-dir $dir nothing" \
    -n one-plugin "$bin --plugin-dir $dir ok echo" -i
echo "median wall time (ms):"
jq -r '.results[] | "  \(.command): \(.median * 1000 | . * 1000 | round / 1000)"' target/bench/load.json
jq -r '(.results | map({(.command): .median}) | add) as $m
  | "one plugin adds \((($m["one-plugin"] - $m["not-found"]) * 1000 * 1000 | round) / 1000) ms (median, vs not-found)"' target/bench/load.json
