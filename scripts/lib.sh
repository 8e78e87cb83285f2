# Shared by the scripts: install what is missing, idempotently. Sourced, not run.

# ensure_packages PKG...: installs the Debian packages that are not installed yet.
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing ${missing[*]} ..." >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# ensure_rust_components: rustfmt and clippy for the checks.
ensure_rust_components() {
    command -v cargo >/dev/null || { echo "cargo is needed: install Rust (https://rustup.rs)" >&2; exit 1; }
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
}

# trusted_scratch_dir: prints a directory for test sandboxes whose every ancestor passes the
# plugin trust checks (owned by root or us, not group/world writable). The build tree when it
# qualifies, else a cache directory in $HOME (a checkout under /tmp would not).
trusted_scratch_dir() {
    local candidate dir mode owner ok
    for candidate in "$PWD/target" "${HOME:-/root}/.cache/carbonio-mesh-tests"; do
        mkdir -p "$candidate" && chmod 0755 "$candidate" || continue
        dir=$(realpath "$candidate") ok=1
        while :; do
            read -r owner mode < <(stat -c '%u %a' "$dir")
            if { [ "$owner" -ne 0 ] && [ "$owner" -ne "$(id -u)" ]; } || (( 8#$mode & 8#022 )); then ok=0; break; fi
            [ "$dir" = / ] && break
            dir=$(dirname "$dir")
        done
        [ "$ok" -eq 1 ] && { realpath "$candidate"; return 0; }
    done
    echo "no directory fit for plugin trust tests: move the checkout out of a group/world-writable directory" >&2
    return 1
}

# start_consul_double CLUSTER [OPTION...]: starts the Consul test double (a stand-in for Consul
# agents, 1.9.3 unless --consul-version says; tests/consul-double) on a free loopback port with the double's OPTIONs, sets
# CONSUL_DOUBLE_URL and CONSUL_DOUBLE_PID, and stops it when the calling script exits.
start_consul_double() {
    local out cluster=$1
    shift
    out=$(mktemp)
    target/release/consul-double --cluster "$cluster" "$@" >"$out" &
    CONSUL_DOUBLE_PID=$!
    trap 'kill "$CONSUL_DOUBLE_PID" 2>/dev/null; rm -f "'"$out"'"' EXIT
    for _ in $(seq 100); do
        CONSUL_DOUBLE_URL=$(head -n1 "$out")
        [ -n "$CONSUL_DOUBLE_URL" ] && return 0
        sleep 0.05
    done
    echo "the Consul double did not start" >&2
    return 1
}

# The bootstrap token of the double's clusters (a made-up value from tests/fixtures/consul).
DOUBLE_TOKEN=260570b8-e9af-05cf-9513-c03866285b98

# this_host_ip: this machine's first global IPv4 address (the simulated leader's address in the
# fan-out benchmarks); fails when there is none.
this_host_ip() {
    local ip
    ip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n1)
    [ -n "$ip" ] || { echo "needs a non-loopback IPv4 address" >&2; return 1; }
    echo "$ip"
}

# The ansible-core the Ansible transport test runs (tests/tests/it/transport_ansible.rs), pinned:
# 2.19 is the newest line that runs on Debian 12's Python 3.11.
ANSIBLE_CORE_VERSION=2.19.15

# ensure_ansible: a virtual environment of its own holding ansible-core ANSIBLE_CORE_VERSION
# (python3 -m venv, pip from PyPI), made once; prints its bin directory. Nothing of ours is
# installed into it, nor anything into the system's Python.
ensure_ansible() {
    local venv="${HOME:-/root}/.cache/carbonio-mesh/ansible-core-$ANSIBLE_CORE_VERSION" version
    # Read whole, not piped into `grep -q`: under pipefail an early grep fails the pipeline.
    version=$("$venv/bin/ansible" --version 2>/dev/null || true)
    if [[ $version != *"[core $ANSIBLE_CORE_VERSION]"* ]]; then
        echo "Installing ansible-core $ANSIBLE_CORE_VERSION into $venv ..." >&2
        rm -rf "$venv"
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check "ansible-core==$ANSIBLE_CORE_VERSION" >&2
    fi
    echo "$venv/bin"
}
