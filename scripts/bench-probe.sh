#!/usr/bin/env bash
# What loading each plugin in a child process costs the commands that list every plugin
# (issue 12, item 6; issue 26, item 8), measured with hyperfine on a release build, with the 9
# product plugins and the `ok` fixture (10 plugins) in one --plugin-dir:
#   probed list: carbonio-mesh --root BARE --plugin-dir D plugins list  (one probe per plugin:
#                BARE has no /var/cache, so nothing is kept between runs)
#   probed help: carbonio-mesh --root BARE --plugin-dir D --help        (the same probes)
#   cached list: carbonio-mesh --root KEPT --plugin-dir D plugins list  (KEPT has /var/cache: the
#                first warm-up run probes and keeps the results, the timed runs read them)
#   cached help: carbonio-mesh --root KEPT --plugin-dir D --help
#   run:         carbonio-mesh --plugin-dir D ok echo                   (no probe: one plugin
#                loaded in-process)
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
# The roots must pass the trust checks up to / for the cache to be read or written.
roots="$(trusted_scratch_dir)/bench-probe-roots"
rm -rf "$roots" && install -d -m 0755 "$roots/bare" "$roots/kept/var/cache"
benchmarks=()
for bin in ${BEFORE:+"$BEFORE"} "$PWD/target/release/carbonio-mesh"; do
    label=after
    [ "$bin" = "${BEFORE:-}" ] && label=before
    benchmarks+=(-n "$label probed list" "$bin --root $roots/bare --plugin-dir $dir plugins list"
                 -n "$label probed help" "$bin --root $roots/bare --plugin-dir $dir --help"
                 -n "$label cached list" "$bin --root $roots/kept --plugin-dir $dir plugins list"
                 -n "$label cached help" "$bin --root $roots/kept --plugin-dir $dir --help"
                 -n "$label run" "$bin --plugin-dir $dir ok echo")
done
hyperfine -N --warmup 30 --runs "${RUNS:-500}" --export-json target/bench/probe.json "${benchmarks[@]}"
echo "median wall time (ms):"
jq -r '.results[] | "  \(.command): \(.median * 1000 | . * 1000 | round / 1000)"' target/bench/probe.json
