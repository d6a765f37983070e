#!/usr/bin/env bash
# Where a call's CPU goes (issue 21): the cluster of run.sh (Redis, the
# simulator, 2 workers, 2 edges, all on SERVER_CPUS) under a closed loop of
# the benchmark's query, with
#   - each process's CPU time (utime + stime from /proc/PID/stat) over the
#     measured run, divided by the calls answered: microseconds of CPU per
#     call for the edges, the workers, Redis and the simulator;
#   - with PERF=1, a flat `perf record -e cpu-clock` of SERVER_CPUS over the
#     same run, reported per process and per symbol (the top TOP of each).
#
#   loadtest/bench/profile.sh
#   PERF=1 DURATION=15s loadtest/bench/profile.sh
#   EDGES=1 WORKERS=1 BIN=/tmp/d365mcp-before loadtest/bench/profile.sh
#   SCENARIO=loadtest/bench/scenarios/tools-list.toml loadtest/bench/profile.sh
#
# Loopback only; bounded: WARMUP + DURATION of load, plus start-ups. Raw
# outputs go to loadtest/bench/out/profile/.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
CONCURRENCY=${CONCURRENCY:-32}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
EDGES=${EDGES:-2}
WORKERS=${WORKERS:-2}
SCENARIO=${SCENARIO:-loadtest/bench/scenarios/query.toml}
TOP=${TOP:-25}
OUT=loadtest/bench/out/profile
mkdir -p "$OUT"
((EDGES >= 1 && EDGES <= 8 && WORKERS >= 1 && WORKERS <= 8)) ||
    { echo "EDGES and WORKERS are 1 to 8" >&2; exit 1; }
TARGET="${CARGO_TARGET_DIR:-target}"
if [ -z "${BIN:-}" ]; then
    cargo build --release --bin d365mcp
    BIN="$TARGET/release/d365mcp"
fi
source loadtest/bench/cluster.sh

start_cluster "$BIN" "$EDGES" "$WORKERS"
echo "== warm-up: $WARMUP" >&2
taskset -c "$LOAD_CPUS" "$BIN" loadtest "${URLS[@]}" --scenario "$SCENARIO" --mode closed \
    --concurrency "$CONCURRENCY" --duration "$WARMUP" --warmup 0s --quiet --out "$OUT/warmup.json" >/dev/null

# user_ticks / system_ticks PID: utime / stime, in clock ticks.
user_ticks() { awk '{ print $14 }' "/proc/$1/stat"; }
system_ticks() { awk '{ print $15 }' "/proc/$1/stat"; }
declare -A BEFORE_USER BEFORE_SYSTEM
for i in "${!CLUSTER_NAMES[@]}"; do
    BEFORE_USER[$i]=$(user_ticks "${CLUSTER_PIDS[$i]}")
    BEFORE_SYSTEM[$i]=$(system_ticks "${CLUSTER_PIDS[$i]}")
done
PERF_PID=
if [ -n "${PERF:-}" ]; then
    # PERF=dwarf: with call graphs (DWARF unwinding; larger, slower to report).
    graph=(); [ "$PERF" = dwarf ] && graph=(--call-graph dwarf,16384 -F 299)
    perf record -e cpu-clock -F 999 "${graph[@]}" -C "$SERVER_CPUS" -o "$OUT/perf.data" \
        >/dev/null 2>"$OUT/perf.log" &
    PERF_PID=$!
fi
echo "== measured: $DURATION, $CONCURRENCY clients, $(basename "$SCENARIO")" >&2
taskset -c "$LOAD_CPUS" "$BIN" loadtest "${URLS[@]}" --scenario "$SCENARIO" --mode closed \
    --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup 0s --quiet --out "$OUT/run.json" >/dev/null
[ -n "$PERF_PID" ] && { kill -INT "$PERF_PID"; wait "$PERF_PID" || true; }
# perf names threads: map each thread id to its process's role.
for i in "${!CLUSTER_NAMES[@]}"; do
    for task in /proc/"${CLUSTER_PIDS[$i]}"/task/*; do echo "${task##*/} ${CLUSTER_NAMES[$i]}"; done
done >"$OUT/threads.txt"
TICKS=$(getconf CLK_TCK)
{
    for i in "${!CLUSTER_NAMES[@]}"; do
        echo "${CLUSTER_NAMES[$i]} $(($(user_ticks "${CLUSTER_PIDS[$i]}") - BEFORE_USER[$i])) \
            $(($(system_ticks "${CLUSTER_PIDS[$i]}") - BEFORE_SYSTEM[$i]))"
    done
} >"$OUT/ticks.txt"
stop_cluster

python3 - "$OUT" "$TICKS" <<'PY'
import json, sys, collections
out, hz = sys.argv[1], int(sys.argv[2])
run = json.load(open(f"{out}/run.json"))
calls, secs = run["ok"], run["elapsed_s"]
groups = collections.OrderedDict()
for line in open(f"{out}/ticks.txt"):
    name, user, system = line.split()
    group = name.rsplit("-", 1)[0] if name[-1].isdigit() else name
    before = groups.get(group, (0, 0))
    groups[group] = (before[0] + int(user), before[1] + int(system))
print(f"{calls:,} calls in {secs:.1f} s = {calls / secs:,.0f}/s, {run['failed']} failed, "
      f"p50 {run['latency_ms']['p50']:.2f} ms, p99 {run['latency_ms']['p99']:.2f} ms")
print("| process | CPU s | µs of CPU per call | of which in the kernel | share |")
print("|---|--:|--:|--:|--:|")
def per_call(ticks):
    return ticks / hz / max(calls, 1) * 1e6
total = sum(u + s for u, s in groups.values())
total_system = sum(s for _, s in groups.values())
for group, (user, system) in groups.items():
    print(f"| {group} | {(user + system) / hz:.2f} | {per_call(user + system):.1f} | "
          f"{per_call(system):.1f} | {(user + system) / max(total, 1):.0%} |")
print(f"| all | {total / hz:.2f} | {per_call(total):.1f} | {per_call(total_system):.1f} | 100% |")
PY
if [ -n "${PERF:-}" ]; then
    # Each process by its role: perf names threads, not roles.
    roles=$(awk '{ printf "s/ %s:[^ ]*/ %s/;", $1, $2 }' "$OUT/threads.txt")
    perf report -i "$OUT/perf.data" --stdio --sort pid --no-children -g none 2>/dev/null |
        grep -v '^#' | grep . | sed "$roles" | awk '{ s[$2] += $1 } END { for (r in s) printf "%6.2f%%  %s\n", s[r], r }' |
        sort -rn
    perf report -i "$OUT/perf.data" --stdio --sort pid,sym --no-children -g none 2>/dev/null |
        grep -v '^#' | grep . | sed "$roles" | head -"$TOP" | cut -c1-170
    echo "(full report: perf report -i $OUT/perf.data)"
fi
