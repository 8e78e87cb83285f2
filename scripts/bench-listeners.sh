#!/usr/bin/env bash
# What it costs to learn who listens at an address (host/src/listeners.rs, before every
# connection that carries a token nobody gave): reading the kernel's socket tables
# (/proc/net/tcp and tcp6: a line for every TCP socket, connections included) against the
# netlink sock_diag dump of the listening sockets only (host/src/sock_diag.rs, what ss -ltn asks).
# CONNECTIONS (default: as many as the open-file limit allows, up to 10,000) loopback connections
# are held open, as a busy mail proxy holds its clients', then each way is timed in-process,
# RUNS (default 50) times; prints the medians. Needs python3 only.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages python3
python3 - "${CONNECTIONS:-10000}" "${RUNS:-50}" <<'PY'
import resource, socket, statistics, struct, sys, time

wanted, runs = int(sys.argv[1]), int(sys.argv[2])
limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
count = max(0, min(wanted, (limit - 64) // 2))
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(4096)
held = []
for _ in range(count):
    client = socket.create_connection(listener.getsockname())
    held += [client, listener.accept()[0]]

def tables():
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as table:
            table.read()

def dump(family):
    # struct nlmsghdr + struct inet_diag_req_v2: SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST|NLM_F_DUMP,
    # IPPROTO_TCP, the state TCP_LISTEN only; answers the number of sockets.
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4) as s:
        s.send(struct.pack("=IHHII", 72, 20, 0x301, 1, 0)
               + struct.pack("=BBBBI", family, 6, 0, 0, 1 << 10) + bytes(48))
        found = 0
        while True:
            data, at = s.recv(65536), 0
            while at < len(data):
                length, kind = struct.unpack_from("=IH", data, at)
                if kind == 3:
                    return found
                found += kind == 20
                at += (length + 3) & ~3

def listening():
    return dump(socket.AF_INET) + dump(socket.AF_INET6)

def median_ms(work):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)

with open("/proc/net/tcp") as t:
    lines = sum(1 for _ in t) - 1
print(f"{count} connections held ({lines} sockets in /proc/net/tcp, {listening()} listening)")
print(f"socket tables: median {median_ms(tables):.2f} ms")
print(f"sock_diag LISTEN dump: median {median_ms(listening):.3f} ms")
PY
