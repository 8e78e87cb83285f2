#!/usr/bin/env bash
# What a hostile credentials archive costs the reader (issue 12, item 5), next to the genuine
# archive in service-discover's format (host/archive/tests/fixtures). The hostile set is built by
# host/archive/examples/hostile_archives.rs from tests/hostile (the set tests/hostile_archives.rs
# checks): Argon2, unknown S2K, too many password packets, hashing over the budget, floods of
# packets that cost only parsing (up to whole 8 MiB files of them), and the worst the limits
# accept (every packet tried, ending as a wrong password).
# Each file is opened RUNS times (default 5, keep it odd) in a fresh process; prints per case the
# median time `open` took and the median peak RSS of the process (/usr/bin/time %M), as a table
# for docs/BENCHMARKS.md. A run is stopped after TIMEOUT seconds (default 60), so an old build
# that does the work cannot hang the script; such a run shows as "> TIMEOUT s".
# Fails when a case ends other than expected (refused, wrong password, or opened).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages time build-essential pkg-config libclang-dev nettle-dev
cargo build --release -p carbonio-mesh-archive --example hostile_archives --locked

target=${CARGO_TARGET_DIR:-target}
bin="$target/release/examples/hostile_archives"
work="$target/bench/hostile-archives"
runs=${RUNS:-5}
timeout=${TIMEOUT:-60}
rm -rf "$work" && mkdir -p "$work"
"$bin" write "$work" --huge >"$work/cases.tsv"
cp host/archive/tests/fixtures/service-discover-format.tar.gpg "$work/genuine.gpg"
printf 'genuine\t%s\topened\n' "$(stat -c %s "$work/genuine.gpg")" >>"$work/cases.tsv"

median() { sort -g | sed -n "$(((runs + 1) / 2))p"; }

unexpected=0
echo "| case | bytes | outcome | median time in open (ms) | median peak RSS (MiB) |"
echo "|---|---|---|---|---|"
while IFS=$'\t' read -r name bytes expected; do
    times=() rss=() outcome=""
    for ((i = 0; i < runs; i++)); do
        if out=$(/usr/bin/time -f '%M' -o "$work/rss" timeout "$timeout" "$bin" open "$work/$name.gpg"); then
            times+=("${out%%$'\t'*}") outcome=${out#*$'\t'}
        else
            times+=(inf) outcome="stopped after $timeout s"
        fi
        rss+=("$(tail -1 "$work/rss")")
    done
    case "$expected:$outcome" in
        refused:KeyDerivationRefused*|refused:TooManyPackets*|tried:WrongPassword|opened:opened*) ;;
        *) unexpected=1 outcome="UNEXPECTED ($expected expected): $outcome" ;;
    esac
    time=$(printf '%s\n' "${times[@]}" | median)
    [ "$time" = inf ] && time="> ${timeout}000"
    mib=$(printf '%s\n' "${rss[@]}" | median | awk '{ printf "%.1f", $1 / 1024 }')
    echo "| $name | $bytes | $outcome | $time | $mib |"
done <"$work/cases.tsv"
exit "$unexpected"
