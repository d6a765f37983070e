#!/usr/bin/env bash
# What an idle 2025 session costs (issue 21): edge memory and Redis bytes.
#
# Starts Redis, the simulator, one worker and one edge on loopback, opens
# SESSIONS sessions against the edge with examples/idle_sessions.rs
# (initialize + notifications/initialized, CONCURRENCY at a time), leaves
# them idle SETTLE seconds, and reports the edge's VmRSS and Redis's
# used_memory per session, before and after the idle time, then the Redis
# bytes of each kind of key (MEMORY USAGE, summed per key family). Bounded:
# at most 100,000 sessions, 256 at once, 600 s of idle time.
#
#   loadtest/bench/sessions.sh                         # 10,000 sessions
#   SESSIONS=1000 SETTLE=10 loadtest/bench/sessions.sh
#   EDGE_ARGS="--session-evict-after 1h" loadtest/bench/sessions.sh
#   BIN=/tmp/d365mcp-before loadtest/bench/sessions.sh
#   EDGE_WRAP="heaptrack -o /tmp/edge" BIN=... loadtest/bench/sessions.sh
#
# EDGE_WRAP runs the edge under a profiler (heaptrack sees only a build
# whose global allocator is the system's: src/allocator.rs).
#
# Raw outputs go to loadtest/bench/out/sessions-*.
set -euo pipefail
cd "$(dirname "$0")/../.."

SESSIONS=${SESSIONS:-10000}
CONCURRENCY=${CONCURRENCY:-64}
SETTLE=${SETTLE:-90}
CHECK=${CHECK:-100}
EDGE_ARGS=${EDGE_ARGS:-}
EDGE_WRAP=${EDGE_WRAP:-}
OUT=loadtest/bench/out
mkdir -p "$OUT"

# Each client connection is a file descriptor on both ends.
if (($(ulimit -n) < CONCURRENCY * 4 + 256)); then
    echo "ulimit -n is $(ulimit -n): raise it above $((CONCURRENCY * 4 + 256))" >&2
    exit 1
fi

TARGET="${CARGO_TARGET_DIR:-target}"
# BIN=path runs another build of d365mcp (e.g. the one before a change).
if [ -z "${BIN:-}" ]; then
    cargo build --release --bin d365mcp
    BIN="$TARGET/release/d365mcp"
fi
cargo build --release -p loadtest --example idle_sessions

PIDS=()
cleanup() {
    local pid
    # A wrapped edge (EDGE_WRAP) first, while Redis is up, so that it drains
    # and exits and its profile is written: at most 30 s.
    if [ -n "${WRAPPED_PID:-}" ]; then
        kill "$WRAPPED_PID" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$WRAPPED_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$WRAPPED_PID" 2>/dev/null || true
    fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# start NAME CMD...: sets ADDR from its "listening on" line and PID.
start() {
    local name=$1 log="$OUT/sessions-$1.log"
    shift
    : >"$log"
    env RUST_LOG=warn "$@" >"$log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 300); do
        ADDR=$(sed -n 's/.* listening on \([0-9.:]*\).*/\1/p' "$log" | head -1)
        [ -n "$ADDR" ] && return 0
        kill -0 "$PID" 2>/dev/null || { echo "$name exited:" >&2; tail -20 "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "$name did not start within 30 s" >&2
    exit 1
}

REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$OUT/sessions-redis.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
REDIS="redis://127.0.0.1:$REDIS_PORT"

start sim "$BIN" sim --listen 127.0.0.1:0
SIM="http://$ADDR"
start worker "$BIN" worker --listen 127.0.0.1:0 --d365fo-base-url "$SIM" --redis-url "$REDIS"
WORKER="http://$ADDR"
LIMITS="$OUT/sessions-rate-limits.toml"
printf '[principal]\nrate = 1000000.0\nburst = 1000000\n' >"$LIMITS"
# shellcheck disable=SC2086 # EDGE_WRAP and EDGE_ARGS are lists of words
start edge $EDGE_WRAP "$BIN" edge --listen 127.0.0.1:0 --workers "$WORKER" --redis-url "$REDIS" \
    --rate-limits-file "$LIMITS" --max-sessions-per-key 1000000 --max-sessions-per-tenant 1000000 \
    $EDGE_ARGS
EDGE_PID=$PID
if [ -n "$EDGE_WRAP" ]; then
    # The edge is the wrapper's child: measure (and stop) it.
    EDGE_PID=$(pgrep -n -f "^$BIN edge")
    WRAPPED_PID=$EDGE_PID
fi
EDGE_ADDR=$ADDR
EDGE="http://$ADDR/mcp"
for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/ready")" = 200 ] && break
    sleep 0.1
done
# Let start-up work (health checks, connection pools) settle before "before".
sleep 2

{
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "sessions $SESSIONS, concurrency $CONCURRENCY, idle ${SETTLE}s, edge args: ${EDGE_ARGS:-none}"
} | tee "$OUT/sessions-machine.txt"

"$TARGET/release/examples/idle_sessions" --target "$EDGE" --pid "$EDGE_PID" \
    --sessions "$SESSIONS" --concurrency "$CONCURRENCY" --settle "$SETTLE" --check "$CHECK" \
    --redis "127.0.0.1:$REDIS_PORT" | tee "$OUT/sessions.json"
# How many sessions the edge still holds in memory (the rest were evicted).
echo "== edge: $(curl -s "http://$EDGE_ADDR/metrics" | grep -E '^d365mcp_sessions_active' | tr '\n' ' ')"

# Redis bytes per key family: ids and numbers replaced by placeholders.
echo "== Redis keys by family (count, MEMORY USAGE total, per key)"
redis-cli -p "$REDIS_PORT" --scan --pattern 'd365mcp:*' >"$OUT/sessions-keys.txt"
sed 's/^/MEMORY USAGE /' "$OUT/sessions-keys.txt" | redis-cli -p "$REDIS_PORT" >"$OUT/sessions-usage.txt"
paste "$OUT/sessions-keys.txt" "$OUT/sessions-usage.txt" |
    sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/{id}/g; s/:[0-9]+\t/:{n}\t/' |
    awk -F'\t' '{n[$1]++; b[$1]+=$2} END {for (k in n) printf "%8d %10d %6d  %s\n", n[k], b[k], b[k]/n[k], k}' |
    sort -k2 -n -r | tee "$OUT/sessions-redis-keys.txt"
