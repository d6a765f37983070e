#!/usr/bin/env bash
# Instructions per call, counted by valgrind (callgrind), for one role of a
# small cluster (Redis, the simulator, 1 worker, 1 edge on 127.0.0.1) under
# the benchmark's query (issue 21). Unlike requests per second, the count
# is the same from run to run whatever else the machine is doing, so a
# change to the request path can be judged from one run of each build.
#
#   loadtest/bench/instructions.sh                    # ROLE=edge
#   ROLE=worker BIN=/tmp/d365mcp-before loadtest/bench/instructions.sh
#   SCENARIO=loadtest/bench/scenarios/tools-list.toml loadtest/bench/instructions.sh
#
# The role runs under callgrind (about 50 times slower), so the load is a
# closed loop of CONCURRENCY (4) clients: WARMUP (20s) unmeasured, then
# DURATION (30s) counted. Prints the calls answered, the instructions per
# call, the share spent in memcpy and the heaviest functions (inclusive).
# Raw outputs (the callgrind file) go to loadtest/bench/out/instructions/.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROLE=${ROLE:-edge}
WARMUP=${WARMUP:-20s}
DURATION=${DURATION:-30s}
CONCURRENCY=${CONCURRENCY:-4}
SCENARIO=${SCENARIO:-loadtest/bench/scenarios/query.toml}
TOP=${TOP:-40}
OUT=loadtest/bench/out/instructions
SERVER_CPUS=${SERVER_CPUS:-0-$(($(nproc) - 1))}
case "$ROLE" in edge | worker | sim) ;; *) echo "ROLE is edge, worker or sim" >&2; exit 1 ;; esac
command -v valgrind >/dev/null 2>&1 || {
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq valgrind
}
mkdir -p "$OUT"
rm -f "$OUT"/callgrind.*
TARGET="${CARGO_TARGET_DIR:-target}"
if [ -z "${BIN:-}" ]; then
    cargo build --release --bin d365mcp
    BIN="$TARGET/release/d365mcp"
fi
source loadtest/bench/cluster.sh

# role NAME: the command prefix that runs NAME (under callgrind when it is ROLE).
role() {
    if [ "$1" = "$ROLE" ]; then
        echo "valgrind --tool=callgrind --callgrind-out-file=$OUT/callgrind.$ROLE $BIN"
    else
        echo "$BIN"
    fi
}
port=$(free_port)
taskset -c "$SERVER_CPUS" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    >"$OUT/redis.log" 2>&1 &
CLUSTER_PIDS+=("$!")
CLUSTER_NAMES+=(redis)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
# shellcheck disable=SC2046 # the prefix is words on purpose
spawn sim $(role sim) sim --listen 127.0.0.1:0
sim="http://$ADDR"
# shellcheck disable=SC2046
spawn worker $(role worker) worker --listen 127.0.0.1:0 --d365fo-base-url "$sim" \
    --redis-url "redis://127.0.0.1:$port"
worker="http://$ADDR"
printf '[principal]\nrate = 1000000.0\nburst = 1000000\n' >"$OUT/rate-limits.toml"
# shellcheck disable=SC2046
spawn edge $(role edge) edge --listen 127.0.0.1:0 --workers "$worker" \
    --redis-url "redis://127.0.0.1:$port" --rate-limits-file "$OUT/rate-limits.toml" --health-interval 250ms
edge="http://$ADDR"
for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$edge/ready")" = 200 ] && break
    sleep 0.2
done

load() {
    "$BIN" loadtest --target "$edge/mcp" --scenario "$SCENARIO" --mode closed \
        --concurrency "$CONCURRENCY" --duration "$1" --warmup 0s --quiet --out "$OUT/$2.json" >/dev/null
}
echo "== $ROLE under callgrind: warm-up $WARMUP, then $DURATION counted" >&2
load "$WARMUP" warmup
# Each dump holds what was counted since the one before: the start-up and
# the warm-up, then the role with no calls (health checks, heartbeats,
# metrics) over DURATION, taken off the last, the calls. Under callgrind a
# call is slow, so each second's background work would otherwise weigh on
# every call.
callgrind_control -d "$OUT/callgrind.$ROLE" >/dev/null
idle_started=$(date +%s%N)
sleep "${DURATION%s}"
callgrind_control -d "$OUT/callgrind.$ROLE" >/dev/null
idle_ns=$(($(date +%s%N) - idle_started))
load "$DURATION" run
callgrind_control -d "$OUT/callgrind.$ROLE" >/dev/null
sleep 1
stop_cluster
idle_dump="$OUT/callgrind.$ROLE.2"
dump="$OUT/callgrind.$ROLE.3"
callgrind_annotate --inclusive=yes "$dump" >"$OUT/inclusive.txt" 2>/dev/null
callgrind_annotate --inclusive=yes "$idle_dump" >"$OUT/idle.txt" 2>/dev/null

python3 - "$OUT" "$dump" "$TOP" "$idle_ns" <<'PY'
import json, re, sys
out, dump, top, idle_seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) / 1e9
run = json.load(open(f"{out}/run.json"))
calls = run["ok"]

def read(path):
    total, rows = 0, []
    for line in open(path):
        m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(.*)", line)
        if not m:
            continue
        n, what = int(m[1].replace(",", "")), m[2]
        if what.startswith("PROGRAM TOTALS"):
            total = n
            continue
        what = re.sub(r"^\S*/(?:src|library)/", "", what)
        rows.append((n, what))
    return total, rows

total, rows = read(f"{out}/inclusive.txt")
idle, idle_rows = read(f"{out}/idle.txt")
background = idle / max(idle_seconds, 1e-9) * run["elapsed_s"]
per_call = (total - background) / max(calls, 1)
print(f"{calls:,} calls in {run['elapsed_s']:.1f} s ({run['failed']} failed): {total:,} instructions, "
      f"of which {background:,.0f} background (idle: {idle:,} in {idle_seconds:.1f} s)")
print(f"instructions per call: {per_call:,.0f}")
def memcpy(rows):
    return max((n for n, w in rows if "memcpy" in w or "memmove" in w), default=0)
copied = memcpy(rows) - memcpy(idle_rows) / max(idle_seconds, 1e-9) * run["elapsed_s"]
print(f"memcpy/memmove per call: {copied / max(calls, 1):,.0f} ({copied / max(calls, 1) / max(per_call, 1):.0%})")
seen = set()
print(f"heaviest functions (inclusive, per call), from {dump}:")
for n, what in rows:
    name = re.sub(r"\s*\[.*\]$", "", what)
    if n > total or name in seen or "future.rs:" in name or "into_future.rs:" in name:
        continue
    seen.add(name)
    print(f"{n / max(calls, 1):>10,.0f}  {name[:170]}")
    if len(seen) >= top:
        break
PY
