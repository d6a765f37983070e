#!/usr/bin/env bash
# The small-scale check of docs/SCALING.md (issue 21): what one call costs
# each role, and whether that cost stays put as edges, workers and Redis
# nodes are added.
#
# 1. For each topology in RUNS, profile.sh (closed loop of the benchmark's
#    query, servers on SERVER_CPUS, load on LOAD_CPUS) with the production
#    shape of the limits (LIMITS=per-call in cluster.sh: one rate-limit
#    script per call); reports req/s, p99, µs of CPU per call of each role,
#    and Redis commands per call from every node's `INFO commandstats`
#    (from the edges' start to the cluster's stop, so warm-up calls count
#    too, and so do the few timer commands of that span).
# 2. One Redis's capacity for the edge's rate-limit script: redis-server
#    alone on SERVER_CPUS, redis-benchmark on LOAD_CPUS sending EVALSHA of
#    the script in common/src/store/redis/limits.rs (read from that file,
#    so it is the code's), two buckets per call as the edge sends, without
#    and with pipelining; then plain GET for comparison.
#
#   BIN=/tmp/d365mcp-scaling loadtest/bench/scaling.sh
#   RUNS="1:1:single 2:2:cluster" DURATION=10s loadtest/bench/scaling.sh
#   REDIS_BENCH=0 loadtest/bench/scaling.sh          # topologies only
#
# A run is EDGES:WORKERS:REDIS[:ERA], REDIS `single` or `cluster` (3 nodes),
# ERA 2026 (stateless, the default) or 2025 (each client in one session).
# Loopback only; bounded: per run WARMUP + DURATION of load plus start-ups
# (about 20 s with the defaults), and REQUESTS per redis-benchmark case.
# Raw outputs go to loadtest/bench/out/scaling/.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-"1:1:single 2:1:single 1:2:single 2:2:single 2:2:cluster 2:2:single:2025"}
DURATION=${DURATION:-12s}
WARMUP=${WARMUP:-3s}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
REDIS_BENCH=${REDIS_BENCH:-1}
REQUESTS=${REQUESTS:-300000}
OUT=loadtest/bench/out/scaling
mkdir -p "$OUT"
TARGET="${CARGO_TARGET_DIR:-target}"
if [ -z "${BIN:-}" ]; then
    cargo build --release --bin d365mcp
    BIN="$TARGET/release/d365mcp"
fi
export BIN DURATION WARMUP SERVER_CPUS LOAD_CPUS
commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- . || commit+="-dirty"
echo "commit $commit, servers on CPU $SERVER_CPUS, load on CPU $LOAD_CPUS, $(nproc) CPUs" >"$OUT/machine.txt"

# The same query as scenarios/query.toml, in one 2025-11-25 session per client.
sed 's/^era = .*/era = "2025-11-25"/; s/^name = .*/name = "bench-query-session"/' \
    loadtest/bench/scenarios/query.toml >"$OUT/query-session.toml"

profile_out=loadtest/bench/out/profile
for run in $RUNS; do
    IFS=: read -r edges workers redis era <<<"$run"
    scenario=loadtest/bench/scenarios/query.toml
    [ "${era:-2026}" = 2025 ] && scenario="$OUT/query-session.toml"
    name="${edges}e${workers}w-$redis${era:+-$era}"
    echo "== $name" >&2
    mkdir -p "$OUT/$name"
    EDGES=$edges WORKERS=$workers REDIS=$redis LIMITS=per-call SCENARIO=$scenario \
        loadtest/bench/profile.sh >"$OUT/$name/profile.txt"
    cp "$profile_out"/{run.json,warmup.json,ticks.txt,redis-commandstats-start.txt,redis-commandstats-end.txt} "$OUT/$name/"
done

python3 - "$OUT" $RUNS <<'PY' | tee "$OUT/topologies.md"
import json, re, sys, collections
out, runs = sys.argv[1], sys.argv[2:]

def stats(path):
    """{(port, command): calls} from redis_commandstats lines."""
    counts = {}
    for line in open(path):
        port, rest = line.split(" ", 1)
        m = re.match(r"cmdstat_([^:]+):calls=(\d+)", rest)
        if m:
            counts[(port, m.group(1))] = int(m.group(2))
    return counts

# "servers busy": CPU seconds of every server over the measured run's
# seconds, in cores; "all" is every server's µs of CPU per call.
print("| edges | workers | Redis | era | req/s | p99 ms | failed | servers busy | edge µs/call "
      "| worker µs/call | Redis µs/call | sim µs/call | all µs/call | EVALSHA/call | Redis commands/call "
      "| EVALSHA by node |")
print("|--:|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
for run in runs:
    edges, workers, redis, *era = run.split(":")
    era = era[0] if era else "2026"
    d = f"{out}/{edges}e{workers}w-{redis}" + (f"-{era}" if era != "2026" else "")
    r, w = json.load(open(f"{d}/run.json")), json.load(open(f"{d}/warmup.json"))
    calls = r["ok"] + r["failed"] + w["ok"] + w["failed"]
    cpu, cpu_s = {}, {}
    for line in open(f"{d}/profile.txt"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"[\d.]+", cells[2]):
            cpu[cells[0]], cpu_s[cells[0]] = float(cells[2]), float(cells[1])
    before, after = stats(f"{d}/redis-commandstats-start.txt"), stats(f"{d}/redis-commandstats-end.txt")
    delta = collections.Counter()
    for key, n in after.items():
        if key[1] not in ("info", "cluster", "command", "ping"):
            delta[key] += n - before.get(key, 0)
    by_cmd = collections.Counter()
    for (port, cmd), n in delta.items():
        by_cmd[cmd] += n
    evalsha_nodes = sorted((n for (port, cmd), n in delta.items() if cmd == "evalsha"), reverse=True)
    total = sum(by_cmd.values())
    with open(f"{d}/commands.txt", "w") as f:
        f.write(f"{calls} calls (warm-up and measured)\n")
        for cmd, n in by_cmd.most_common():
            f.write(f"{cmd} {n} {n / calls:.3f}/call\n")
    print(f"| {edges} | {workers} | {redis} | {era} | {r['ok'] / r['elapsed_s']:,.0f} | "
          f"{r['latency_ms']['p99']:.2f} | {r['failed']} | {cpu_s.get('all', 0) / r['elapsed_s']:.2f} | "
          f"{cpu.get('edge', 0):.1f} | {cpu.get('worker', 0):.1f} | {cpu.get('redis', 0):.1f} | "
          f"{cpu.get('sim', 0):.1f} | {cpu.get('all', 0):.1f} | "
          f"{by_cmd['evalsha'] / calls:.3f} | {total / calls:.3f} | "
          f"{' / '.join(f'{n:,}' for n in evalsha_nodes)} |")
PY

[ "$REDIS_BENCH" = 1 ] || exit 0

# One Redis, alone on SERVER_CPUS, against redis-benchmark on LOAD_CPUS.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c "$SERVER_CPUS" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    >"$OUT/redis-bench-server.log" 2>&1 &
REDIS_PID=$!
trap 'kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
# The rate-limit script as the code holds it: the raw string after ACQUIRE_ALL.
script=$(python3 -c '
import re, sys
src = open("common/src/store/redis/limits.rs").read()
print(re.search(r"ACQUIRE_ALL.*?r\"(.*?)\"", src, re.S).group(1))')
sha=$(redis-cli -p "$port" SCRIPT LOAD "$script")
# Two buckets per call, as under the default limits: a caller's (100/s,
# burst 200; one of 100,000 callers at random) and its tenant's (one key,
# a limit no run here reaches). ARGV: slack, then interval µs, burst, cost
# per key (limits.rs).
evalsha=(EVALSHA "$sha" 2 "d365mcp:rl:v1:{t:bench}:principal:__rand_int__" "d365mcp:rl:v1:{t:bench}:tenant"
    1 10000 200 1 1 1000000000 1)
ticks() { awk '{ print $14 + $15 }' "/proc/$REDIS_PID/stat"; }
hz=$(getconf CLK_TCK)
{
    echo "| command | clients | pipeline | requests | ops/s | Redis CPU busy | ops/s per busy core |"
    echo "|---|--:|--:|--:|--:|--:|--:|"
    for case in "evalsha 50 1" "evalsha 50 16" "get 50 1" "get 50 16"; do
        read -r cmd clients pipeline <<<"$case"
        start=$(ticks) t0=$(date +%s.%N)
        if [ "$cmd" = evalsha ]; then
            csv=$(taskset -c "$LOAD_CPUS" redis-benchmark -p "$port" -c "$clients" -P "$pipeline" -n "$REQUESTS" \
                -r 100000 --csv "${evalsha[@]}")
        else
            csv=$(taskset -c "$LOAD_CPUS" redis-benchmark -p "$port" -c "$clients" -P "$pipeline" -n "$REQUESTS" \
                -r 100000 --csv -t get)
        fi
        t1=$(date +%s.%N) busy=$(($(ticks) - start))
        rps=$(echo "$csv" | tail -1 | cut -d, -f2 | tr -d '"')
        python3 -c "import sys; rps, busy, secs, hz = map(float, sys.argv[1:5]); \
print(f'| {sys.argv[5].upper()} | {sys.argv[6]} | {sys.argv[7]} | {int(sys.argv[8]):,} | {rps:,.0f} | {busy / hz / secs:.0%} | {rps / (busy / hz / secs):,.0f} |')" \
            "$rps" "$busy" "$(echo "$t1 - $t0" | bc)" "$hz" "$cmd" "$clients" "$pipeline" "$REQUESTS"
    done
} | tee "$OUT/redis-capacity.md"
