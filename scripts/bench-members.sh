#!/usr/bin/env bash
# `carbonio-mesh members` against a simulated 5,000-member cluster, side by side with the shell
# pipeline admins use today (curl | jq | column: the same table) and with the bare fetch
# (curl > /dev/null). Medians go to docs/BENCHMARKS.md. Every agent of the cluster runs
# CONSUL_VERSION (1.21.4 by default, what Carbonio ships; 1.9.3 for its eight-column table).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages hyperfine jq curl bsdextrautils
cargo build --release --workspace --locked

consul_version=${CONSUL_VERSION:-1.21.4}
start_consul_double "generated:${SERVERS:-5},${CLIENTS:-4995},0" --consul-version "$consul_version"
url="$CONSUL_DOUBLE_URL/v1/agent/members?segment=_all"
export CONSUL_HTTP_ADDR="$CONSUL_DOUBLE_URL" CONSUL_HTTP_TOKEN="$DOUBLE_TOKEN"
mkdir -p target/bench
token_header="$PWD/target/bench/token-header"
printf 'X-Consul-Token: %s\n' "$DOUBLE_TOKEN" >"$token_header"   # keeps the token out of argv
# The table consul members prints, in jq: up to 1.10 by segment then name, eight columns; from
# 1.11 servers first, a Partition column (`default` in CE).
case "$consul_version" in
    1.9.* | 1.10.*)
        jq_table='["Node","Address","Status","Type","Build","Protocol","DC","Segment"],
  (map(. + {seg: (if .Tags.role == "consul" then "<all>" elif (.Tags.segment // "") == "" then "<default>" else .Tags.segment end)})
   | sort_by(.seg, .Name)[]
   | [.Name, "\(.Addr):\(.Port)", (["none","alive","leaving","left","failed"][.Status]),
      (if .Tags.role == "consul" then "server" elif .Tags.role == "node" then "client" else "unknown" end),
      ((.Tags.build // "< 0.3") | split(":")[0]), .Tags.vsn, .Tags.dc, .seg])
  | @tsv' ;;
    *)
        jq_table='["Node","Address","Status","Type","Build","Protocol","DC","Partition","Segment"],
  (map(. + {ap: (.Tags.ap // "default"),
            seg: (if .Tags.role == "consul" then "<all>" elif (.Tags.segment // "") == "" then "<default>" else .Tags.segment end)})
   | sort_by((.Tags.role != "consul"), (.ap != "default"), .seg, .ap, .Name)[]
   | [.Name, "\(.Addr):\(.Port)", (["none","alive","leaving","left","failed"][.Status]),
      (if .Tags.role == "consul" then "server" elif .Tags.role == "node" then "client" else "unknown" end),
      ((.Tags.build // "< 0.3") | split(":")[0]), .Tags.vsn, .Tags.dc, .ap, .seg])
  | @tsv' ;;
esac
printf '%s\n' "$jq_table" >target/bench/members.jq

# The same table both ways (column pads like columnize here: no cell holds a blank).
diff <(target/release/carbonio-mesh --plugin-dir "$PWD/target/release" members) \
     <(curl -s -H @"$token_header" "$url" | jq -r -f target/bench/members.jq | column -t -s $'\t' -o '  ') >/dev/null \
    || { echo "the two tables differ ($consul_version)" >&2; exit 1; }
echo "tables identical ($consul_version)"

hyperfine --warmup 5 --runs "${RUNS:-30}" --export-json target/bench/members.json \
    -n carbonio-mesh "target/release/carbonio-mesh --plugin-dir $PWD/target/release members > /dev/null" \
    -n curl+jq "curl -s -H @$token_header '$url' | jq -r -f target/bench/members.jq | column -t -s \$'\\t' -o '  ' > /dev/null" \
    -n curl-only "curl -s -H @$token_header '$url' > /dev/null"
jq -r '.results[] | "\(.command): median \(.median * 1000 * 10 | round / 10) ms"' target/bench/members.json
jq -r '(.results | map({(.command): .median}) | add) as $m
  | "carbonio-mesh / curl-only = \($m["carbonio-mesh"] / $m["curl-only"] * 100 | round / 100); carbonio-mesh / curl+jq = \($m["carbonio-mesh"] / $m["curl+jq"] * 100 | round / 100)"' target/bench/members.json
