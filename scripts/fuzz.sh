#!/usr/bin/env bash
# Fuzzes the credentials archive reader (host/archive/fuzz) for FUZZ_SECONDS (default 60) with
# cargo-fuzz on the nightly toolchain, both installed when missing. A crash fails the run and
# leaves the input in host/archive/fuzz/artifacts/. Idempotent; the corpus grows between runs.
# `--build-only` builds the fuzz target and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages build-essential pkg-config libclang-dev nettle-dev
command -v rustup >/dev/null || { echo "rustup is needed for the nightly toolchain" >&2; exit 1; }
rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

seconds=${FUZZ_SECONDS:-60}
cd host/archive
# --build-only: build the target (scripts/test.sh does it while the tests run), do not fuzz.
if [ "${1:-}" = "--build-only" ]; then
    exec cargo +nightly fuzz build open_archive
fi
# The seed corpus is committed (fuzz/seeds); the working corpus is not.
mkdir -p fuzz/corpus/open_archive
cp -n fuzz/seeds/* fuzz/corpus/open_archive/ 2>/dev/null || true
cargo +nightly fuzz run open_archive fuzz/corpus/open_archive -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
