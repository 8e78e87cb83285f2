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
# the real shells (bash is there already). python3-venv: ansible-core for the Ansible transport
# test, pinned, in a virtual environment of its own (ensure_ansible, scripts/lib.sh).
ensure_packages build-essential pkg-config libclang-dev nettle-dev gnupg openssl jq curl iproute2 \
    openssh-server openssh-client slapd ldap-utils zsh fish python3-venv
ensure_rust_components
CARBONIO_MESH_TEST_ANSIBLE=$(PATH=/usr/bin:/bin:$PATH ensure_ansible)
export CARBONIO_MESH_TEST_ANSIBLE

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The end-to-end tests drive the built binary and the built fixture plugins.
cargo build --workspace --locked
# The tests build plugin directories that must pass the trust checks (see tests/src/lib.rs).
CARBONIO_MESH_TEST_DIR=$(trusted_scratch_dir)
export CARBONIO_MESH_TEST_DIR
# Much of the test run waits (sshd, slapd, timeouts): the fuzz target (nightly, its own target
# directory) builds meanwhile, niced; its output is shown only if it fails.
logs=$(mktemp -d)
nice -n 10 scripts/fuzz.sh --build-only >"$logs/fuzz-build.log" 2>&1 &
fuzz_build=$!
trap 'kill "$fuzz_build" 2>/dev/null || true; rm -rf "$logs"' EXIT
# Most end-to-end tests wait (sshd, slapd, Consul timeouts, steps that sleep): twice as many test
# threads as cores overlap the waiting (the e2e binary: 183 s with 2 threads, 147 s with 4, 116 s
# with 8 on this 2-core machine; docs/BENCHMARKS.md).
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-$((2 * $(nproc)))}"
wait "$fuzz_build" || { cat "$logs/fuzz-build.log" >&2; exit 1; }
# The archive reader's fuzz target, for a bounded time (FUZZ_SECONDS, default 60).
scripts/fuzz.sh
# The Debian package: it packs the debug build made above (DEB_PROFILE=dev, see
# scripts/build-deb.sh): a release build would cost two cores ten minutes and test nothing more
# of the package. scripts/demo.sh and the benchmarks build and run the release build.
if [ "$(id -u)" -eq 0 ]; then DEB_PROFILE=dev scripts/test-package.sh; else sudo DEB_PROFILE=dev scripts/test-package.sh; fi
