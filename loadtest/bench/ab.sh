#!/usr/bin/env bash
# Before and after, in one run: two builds of d365mcp measured on the same
# machine, alternately, with the harness — for a change that touches the
# request path and must show what it costs.
#
#   loadtest/bench/ab.sh BEFORE_BIN AFTER_BIN
#   ROUNDS=3 DURATION=15s loadtest/bench/ab.sh /tmp/d365mcp-base target/release/d365mcp
#
# For each round and each binary (before, after, before, after, … so that a
# drifting machine favours neither): `d365mcp dev` on SERVER_CPUS (or, with
# TOPOLOGY=cluster, run.sh's cluster: Redis, the simulator, 2 workers and 2
# edges, all on SERVER_CPUS), then the harness on LOAD_CPUS, closed loop,
# CONCURRENCY clients, with each scenario of SCENARIOS (default: the
# published benchmark's query and tools/list).
# Prints a table of every run and the median of each side; raw JSON reports
# go to loadtest/bench/out/ab/. Loopback only; bounded: ROUNDS × 2 binaries ×
# scenarios × (WARMUP + DURATION) of load, plus start-ups.
set -euo pipefail
cd "$(dirname "$0")/../.."

BEFORE=${1:?usage: ab.sh BEFORE_BIN AFTER_BIN}
AFTER=${2:?usage: ab.sh BEFORE_BIN AFTER_BIN}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-32}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
SCENARIOS=${SCENARIOS:-"loadtest/bench/scenarios/query.toml loadtest/bench/scenarios/tools-list.toml"}
TOPOLOGY=${TOPOLOGY:-dev}
OUT=loadtest/bench/out/ab
mkdir -p "$OUT"
command -v taskset >/dev/null 2>&1 || { echo "taskset (util-linux) is required" >&2; exit 1; }
for bin in "$BEFORE" "$AFTER"; do
    "$bin" loadtest --help >/dev/null 2>&1 || { echo "$bin has no 'loadtest' command" >&2; exit 2; }
done

DEV_PID=
source loadtest/bench/cluster.sh
stop_dev() {
    [ -n "$DEV_PID" ] && { kill "$DEV_PID" 2>/dev/null || true; wait "$DEV_PID" 2>/dev/null || true; }
    DEV_PID=
    stop_cluster
}
trap stop_dev EXIT

# start_dev BIN: `BIN dev` on SERVER_CPUS; sets URL.
start_dev() {
    local log="$OUT/dev.log"
    : >"$log"
    taskset -c "$SERVER_CPUS" env RUST_LOG=warn "$1" dev --listen 127.0.0.1:0 >"$log" 2>&1 &
    DEV_PID=$!
    for _ in $(seq 300); do
        local addr
        addr=$(sed -n 's/.* listening on \([0-9.:]*\).*/\1/p' "$log" | head -1)
        if [ -n "$addr" ]; then URL="http://$addr/mcp"; return 0; fi
        kill -0 "$DEV_PID" 2>/dev/null || { echo "dev exited:" >&2; tail -20 "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "dev did not start within 30 s" >&2
    exit 1
}

for round in $(seq "$ROUNDS"); do
    for side in before after; do
        bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
        if [ "$TOPOLOGY" = cluster ]; then
            start_cluster "$bin"
        else
            start_dev "$bin"
            URLS=(--target "$URL")
        fi
        for scenario in $SCENARIOS; do
            name="$(basename "$scenario" .toml)-$side-$round"
            echo "== $name" >&2
            taskset -c "$LOAD_CPUS" "$bin" loadtest "${URLS[@]}" --scenario "$scenario" \
                --mode closed --concurrency "$CONCURRENCY" --duration "$DURATION" \
                --warmup "$WARMUP" --quiet --out "$OUT/$name.json" >/dev/null
        done
        stop_dev
    done
done

python3 - "$OUT" "$ROUNDS" $SCENARIOS <<'EOF'
import json, statistics, sys, os
out, rounds, scenarios = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print("| scenario | side | runs: requests/s | median requests/s | median p50 ms | median p99 ms | failed |")
print("|---|---|---|---|---|---|---|")
for path in scenarios:
    scenario = os.path.basename(path)[:-5]
    for side in ("before", "after"):
        runs = [json.load(open(f"{out}/{scenario}-{side}-{r}.json")) for r in range(1, rounds + 1)]
        rps = [r["throughput_rps"] for r in runs]
        p50 = statistics.median(r["latency_ms"]["p50"] for r in runs)
        p99 = statistics.median(r["latency_ms"]["p99"] for r in runs)
        failed = sum(r["failed"] for r in runs)
        print(f"| {scenario} | {side} | {', '.join(f'{x:,.0f}' for x in rps)} | "
              f"{statistics.median(rps):,.0f} | {p50:.2f} | {p99:.2f} | {failed} |")
EOF
