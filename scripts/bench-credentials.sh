#!/usr/bin/env bash
# `carbonio-mesh credentials token` side by side with the documented pipeline
#   gpg -qdo - ARCHIVE | tar xOf - consul-acl-secret.json | jq -r .SecretID
# on an archive in service-discover's exact format (armored, AES-256, iterated SHA-256 S2K with
# count 16,777,216: host/archive/tests/fixtures). The S2K hashing is the floor both share.
# Writes hyperfine's results to target/bench/credentials.json. Figures go to docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages hyperfine gnupg jq build-essential pkg-config libclang-dev nettle-dev
cargo build --release --workspace --locked

work="$PWD/target/bench/credentials"
rm -rf "$work" && mkdir -p "$work/plugins" "$work/gnupg"
chmod 0700 "$work/gnupg"
install -m 0755 target/release/libcarbonio_mesh_plugin_credentials.so "$work/plugins/credentials.so"
archive="$work/cluster-credentials.tar.gpg"
cp host/archive/tests/fixtures/service-discover-format.tar.gpg "$archive"
printf '%s' 'correct horse battery staple' >"$work/password"
bin="$PWD/target/release/carbonio-mesh"

pipeline="gpg --homedir $work/gnupg --batch -q --no-symkey-cache --pinentry-mode loopback --passphrase-file $work/password -do - $archive | tar xOf - consul-acl-secret.json | jq -r .SecretID"
tool="$bin --plugin-dir $work/plugins credentials token --archive $archive --password-file $work/password"
# Both must print the same token before anything is timed.
[ "$(bash -c "$pipeline")" = "$($tool)" ] || { echo "the two disagree" >&2; exit 1; }

hyperfine --warmup 3 --runs "${RUNS:-30}" --export-json target/bench/credentials.json \
    -n 'gpg | tar | jq' "$pipeline" \
    -n 'credentials token' "$tool"
jq -r '.results[] | "  \(.command): median \(.median * 1000 | round) ms"' target/bench/credentials.json
jq -r '(.results | map({(.command): .median}) | add) as $m
  | "pipeline / tool: \(($m["gpg | tar | jq"] / $m["credentials token"] * 100 | round) / 100)x"' target/bench/credentials.json
