#!/usr/bin/env bash
# Keyed-GET throughput of the simulator on one core.
#
# Builds the release binary, starts `d365mcp sim` pinned to core 0 (one tokio
# worker), drives it from core 1 with wrk for a bounded time over loopback,
# prints requests/s and stops the simulator. The issue's bar: 20,000/s or more.
#
#   sim/bench/keyed_get.sh            # 10 s, 64 connections, port 18090
#   DURATION=30 CONNECTIONS=128 PORT=18091 sim/bench/keyed_get.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

PORT=${PORT:-18090}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
SIM_CORE=${SIM_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
# The key as a D365FO client sends it: quotes percent-encoded.
PATH_AND_QUERY="/data/CustomersV3(dataAreaId=%27usmf%27,CustomerAccount=%27US-001%27)"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk
fi
command -v taskset >/dev/null 2>&1 || { echo "taskset (util-linux) is required" >&2; exit 1; }

cargo build --release --bin d365mcp
BIN="${CARGO_TARGET_DIR:-target}/release/d365mcp"

TOKIO_WORKER_THREADS=1 RUST_LOG=warn taskset -c "$SIM_CORE" "$BIN" sim --listen "127.0.0.1:$PORT" &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true' EXIT

# Wait (at most 60 s: seeding a large --scale takes a while) for the port.
for _ in $(seq 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    kill -0 "$SIM_PID" 2>/dev/null || { echo "the simulator exited" >&2; exit 1; }
    sleep 0.1
done

URL="http://127.0.0.1:$PORT$PATH_AND_QUERY"
# One request first: a benchmark of 404s would measure nothing useful.
STATUS=$(printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$PATH_AND_QUERY" "$PORT" |
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; cat >&3; head -c 12 <&3" | cut -d' ' -f2)
if [ "$STATUS" != "200" ]; then
    echo "GET $URL answered '$STATUS', not 200" >&2
    exit 1
fi

OUT=$(taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$URL")
echo "$OUT"
if grep -q "Non-2xx" <<<"$OUT"; then
    echo "some responses were not 2xx" >&2
    exit 1
fi
RPS=$(awk '/Requests\/sec/ {print $2}' <<<"$OUT")
echo "keyed GET on one core: ${RPS} requests/s (${CONNECTIONS} connections, ${DURATION} s)"
