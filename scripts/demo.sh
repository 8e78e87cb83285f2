#!/usr/bin/env bash
# The main job for a newcomer: build the release tree and show the tool at work on it.
# (The simulated Carbonio cluster arrives with the Consul issue; until then the demo shows the
# plugin host itself.) Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages build-essential pkg-config
ensure_rust_components

cargo build --release --workspace --locked
bin=target/release/carbonio-mesh
# Cargo leaves each plugin crate as target/release/libcarbonio_mesh_plugin_<name>.so, a name the
# loader accepts, so the build tree itself is a plugin directory.
dir="$PWD/target/release"
show() { printf '\n$ %s\n' "$*"; "$@"; }
show "$bin" --plugin-dir "$dir" --help
show "$bin" --plugin-dir "$dir" plugins list
show "$bin" --plugin-dir "$dir" plugins list --format json
show "$bin" --plugin-dir "$dir" plugins check
