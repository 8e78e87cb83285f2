#!/usr/bin/env bash
# cpu-by-program.sh COMMAND [ARG...]: runs COMMAND under BSD process accounting (root) and prints
# the CPU time (user + system) its process tree spent, by program: where a benchmark's CPU goes
# (e.g. `SIZES=50 RUNS=1 scripts/cpu-by-program.sh scripts/bench-regen.sh`). Accounting is
# system-wide: processes are kept by descent from COMMAND (parent pid, and a parent alive when
# the child started, since pids are reused), so other work on the machine is left out. The
# kernel accounts in ticks of 10 ms: a program's total is exact, one call's share is an average.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "$0: process accounting needs root" >&2; exit 1; }
here=$(dirname "$0")
. "$here/lib.sh"
ensure_packages acct python3
file=$(mktemp)
trap 'accton off >/dev/null 2>&1 || true; rm -f "$file" "$file.pid"' EXIT
accton "$file" >/dev/null
status=0
(echo "$BASHPID" >"$file.pid"; exec "$@") || status=$?
accton off >/dev/null
dump-acct "$file" | python3 -c '
import collections, sys
from datetime import datetime
root = int(sys.argv[1])
rows = []
for line in sys.stdin:
    f = [x.strip() for x in line.split("|")]
    begin = datetime.strptime(f[-1], "%a %b %d %H:%M:%S %Y").timestamp()
    rows.append(dict(comm=f[0], cpu=(float(f[2]) + float(f[3])) / 100, el=float(f[4]) / 100,
                     pid=int(f[9]), ppid=int(f[10]), begin=begin, i=len(rows)))
by_pid = collections.defaultdict(list)
for r in rows:
    by_pid[r["pid"]].append(r)
children = collections.defaultdict(list)
for r in rows:
    for p in by_pid[r["ppid"]]:
        # Begin times are whole seconds: a parent that began by then and lived until the child ended.
        if p["begin"] <= r["begin"] + 0.5 and p["begin"] + p["el"] + 1.5 >= r["begin"] + r["el"]:
            children[p["i"]].append(r)
tops = by_pid[root]
if not tops:
    sys.exit("the command left no accounting record")
cpu, calls, seen, stack = collections.Counter(), collections.Counter(), set(), [max(tops, key=lambda r: r["el"])]
while stack:
    r = stack.pop()
    if r["i"] in seen:
        continue
    seen.add(r["i"])
    cpu[r["comm"]] += r["cpu"]
    calls[r["comm"]] += 1
    stack.extend(children[r["i"]])
print(f"{sum(cpu.values()):.2f} s of CPU in {sum(calls.values())} processes", file=sys.stderr)
print("%-16s %6s %8s %8s" % ("program", "calls", "CPU (s)", "ms/call"), file=sys.stderr)
for comm, seconds in cpu.most_common(15):
    print(f"{comm:16} {calls[comm]:6} {seconds:8.2f} {seconds * 1000 / calls[comm]:8.1f}", file=sys.stderr)
' "$(cat "$file.pid")"
exit "$status"
