#!/usr/bin/env bash
# What loading each plugin in a child process costs the commands that list every plugin
# (issue 12, item 6), measured with hyperfine on a release build, with the 8 product plugins and
# the `ok` fixture in one --plugin-dir:
#   list: carbonio-mesh --plugin-dir D plugins list   (one probe per plugin)
#   help: carbonio-mesh --plugin-dir D --help         (the same probes)
#   run:  carbonio-mesh --plugin-dir D ok echo        (no probe: one plugin loaded in-process)
# BEFORE=/path/to/an/older/carbonio-mesh times the same commands with that binary too, side by
# side. Writes target/bench/probe.json and prints the medians. Figures go to docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages hyperfine jq
cargo build --release --workspace --locked
dir="$PWD/target/bench/probe-plugins"
rm -rf "$dir" && mkdir -p "$dir"
for so in target/release/libcarbonio_mesh_plugin_*.so; do
    name=$(basename "$so" .so)
    name=${name#libcarbonio_mesh_plugin_}
    install -m 0755 "$so" "$dir/${name//_/-}.so"
done
install -m 0755 target/release/libfixture_ok.so "$dir/ok.so"
benchmarks=()
for bin in ${BEFORE:+"$BEFORE"} "$PWD/target/release/carbonio-mesh"; do
    label=after
    [ "$bin" = "${BEFORE:-}" ] && label=before
    benchmarks+=(-n "$label list" "$bin --plugin-dir $dir plugins list"
                 -n "$label help" "$bin --plugin-dir $dir --help"
                 -n "$label run" "$bin --plugin-dir $dir ok echo")
done
hyperfine -N --warmup 30 --runs "${RUNS:-500}" --export-json target/bench/probe.json "${benchmarks[@]}"
echo "median wall time (ms):"
jq -r '.results[] | "  \(.command): \(.median * 1000 | . * 1000 | round / 1000)"' target/bench/probe.json
