#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what it needs, checks formatting
# and lints, builds everything (product and fixture plugins), runs every test. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# libclang-dev, nettle-dev, pkg-config: sequoia-openpgp's nettle backend (the credentials archive).
# gnupg, openssl, jq, curl: the service-discover stand-in and the real-gpg/tar interop tests;
# iproute2: the secret tests find this host's address with `ip`; openssh-server, openssh-client:
# the transport tests start their own sshd on loopback (tests/src/sshd.rs; the system's sshd
# service and /etc/ssh are not used, running or not). slapd and ldap-utils: the tests start their
# own slapd on a free loopback port (installing the package may also start a system slapd on port
# 389; the tests never touch it). zsh, fish: the completion tests run the generated scripts in
# the real shells (bash is there already).
ensure_packages build-essential pkg-config libclang-dev nettle-dev gnupg openssl jq curl iproute2 \
    openssh-server openssh-client slapd ldap-utils zsh fish
ensure_rust_components

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests drive the built binary and the built fixture plugins.
cargo build --workspace --locked
# The tests build plugin directories that must pass the trust checks (see tests/src/lib.rs).
CARBONIO_MESH_TEST_DIR=$(trusted_scratch_dir)
export CARBONIO_MESH_TEST_DIR
# Much of the test run waits (sshd, slapd, timeouts): the two other builds this command needs go
# on meanwhile, niced, each under its own lock: the release tree the package test packs (the
# command scripts/build-deb.sh runs, so it finds it built) and the fuzz target (nightly, its own
# target directory). Their output is shown only if they fail.
# The package test packs a release build: link-time optimisation changes how fast it runs, not
# what is packed or how it installs, and costs minutes on two cores, so the test's release build
# does without (scripts/build-deb.sh run alone builds the package as shipped: thin LTO).
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
logs=$(mktemp -d)
nice -n 10 cargo build --release --locked >"$logs/release.log" 2>&1 &
release=$!
nice -n 10 scripts/fuzz.sh --build-only >"$logs/fuzz-build.log" 2>&1 &
fuzz_build=$!
trap 'kill "$release" "$fuzz_build" 2>/dev/null || true; rm -rf "$logs"' EXIT
cargo test --workspace --locked
wait "$release" || { cat "$logs/release.log" >&2; exit 1; }
wait "$fuzz_build" || { cat "$logs/fuzz-build.log" >&2; exit 1; }
# The archive reader's fuzz target, for a bounded time (FUZZ_SECONDS, default 60).
scripts/fuzz.sh
# The Debian package: build, lintian, install, upgrade, purge (needs root for dpkg).
if [ "$(id -u)" -eq 0 ]; then scripts/test-package.sh; else sudo scripts/test-package.sh; fi
