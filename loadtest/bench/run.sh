#!/usr/bin/env bash
# The first side-by-side benchmark (issue 6). NEEDS THE HARNESS: the
# `d365mcp loadtest` command (loadtest/ and src/cli.rs); without it the script
# stops before starting anything.
#
# One call, one run, loopback only, bounded: five harness runs of WARMUP +
# DURATION and FLOOR_SECONDS of wrk (with the defaults 5 × (3 + 20) + 10 =
# 125 s of load), plus the release build and the start-ups, against:
#   floor    the simulator alone: wrk on the OData read the tool call makes
#   dev      `d365mcp dev` (edge, worker, store and simulator in one process)
#   cluster  2 edges + 2 workers + Redis + the simulator, as separate processes
#   peer     the Python d365fo-client MCP server (loadtest/bench/peer.sh) on the
#            same simulator, when it can be installed
#   echo     examples/echo_server.rs, a bare rmcp server, with tools/list, beside
#            tools/list on the cluster's edges
#
# Servers run on SERVER_CPUS and the load generator (harness or wrk) on
# LOAD_CPUS, so that they do not take each other's cores. Raw outputs (JSON,
# Markdown, SVG of each run, wrk's text, the servers' logs) go to
# loadtest/bench/out/. Every target is checked with one curl first: a
# benchmark of errors would measure nothing.
#
#   loadtest/bench/run.sh
#   MODE=open RATE=2000 DURATION=30s loadtest/bench/run.sh
#   SKIP_PEER=1 CONCURRENCY=64 loadtest/bench/run.sh
#   CHECK_ONLY=1 loadtest/bench/run.sh    # start every target and check it with
#                                         # one call; wrk for 2 s; no harness runs
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=${MODE:-closed}                   # closed: CONCURRENCY clients; open: RATE a second
CONCURRENCY=${CONCURRENCY:-32}
RATE=${RATE:-1000}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
FLOOR_SECONDS=${FLOOR_SECONDS:-10}
SERVER_CPUS=${SERVER_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-1}
PEER_KEY=bench-peer-key
OUT=loadtest/bench/out
SCENARIOS=loadtest/bench/scenarios
# The OData read d365fo_query_entities makes for scenarios/query.toml.
FLOOR_PATH="/data/CustomersV3?\$filter=CustomerAccount%20eq%20%27US-001%27&\$select=CustomerAccount,OrganizationName&\$top=1"

mkdir -p "$OUT"
command -v taskset >/dev/null 2>&1 || { echo "taskset (util-linux) is required" >&2; exit 1; }
need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if ((${#need_apt[@]})); then
    echo "installing: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

cargo build --release --bin d365mcp
cargo build --release -p loadtest --example echo_server
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET/release/d365mcp"
ECHO_BIN="$TARGET/release/examples/echo_server"
CHECK_ONLY=${CHECK_ONLY:-}
[ -n "$CHECK_ONLY" ] && FLOOR_SECONDS=2
if [ -z "$CHECK_ONLY" ] && ! "$BIN" loadtest --help >/dev/null 2>&1; then
    echo "this d365mcp has no 'loadtest' command: the benchmark needs the harness (issue 6)" >&2
    exit 2
fi

# --- processes -------------------------------------------------------------
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
trap cleanup EXIT

# start NAME CMD...: runs CMD on SERVER_CPUS, stdout and stderr to
# $OUT/NAME.log, and sets ADDR to the address of its "listening on" line.
start() {
    local name=$1 log="$OUT/$1.log"
    shift
    # Created here, not by the child's redirection: the poll below may run first.
    : >"$log"
    taskset -c "$SERVER_CPUS" env RUST_LOG=warn "$@" >"$log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 300); do
        ADDR=$(sed -n 's/.* listening on \([0-9.:]*\).*/\1/p' "$log" | head -1)
        [ -n "$ADDR" ] && return 0
        kill -0 "$pid" 2>/dev/null || { echo "$name exited:" >&2; tail -20 "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "$name did not start within 30 s" >&2
    exit 1
}

# wait_http URL STATUS: polls for at most 30 s.
wait_http() {
    for _ in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    echo "$1 did not answer $2 within 30 s" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- one curl per target ---------------------------------------------------
MCP_HEADERS=(-H 'content-type: application/json' -H 'accept: application/json, text/event-stream')
META='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
QUERY_ARGS='"entity_set":"CustomersV3","filter":"CustomerAccount eq '"'"'US-001'"'"'","select":["CustomerAccount","OrganizationName"],"top":1'

# check_reply NAME EXPECTED CURL-ARGS...: the reply must contain EXPECTED
# and no JSON-RPC error nor isError:true.
check_reply() {
    local name=$1 expected=$2
    shift 2
    local reply
    reply=$(curl -s -m 30 "$@")
    if ! grep -q -- "$expected" <<<"$reply" || grep -q -E '"error":\{|"isError": ?true' <<<"$reply"; then
        echo "$name: the check call did not succeed: ${reply:0:600}" >&2
        exit 1
    fi
}

check_query_2026() {
    check_reply "$1" "US-001" -X POST "$2" "${MCP_HEADERS[@]}" \
        -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H 'mcp-name: d365fo_query_entities' \
        -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"d365fo_query_entities","arguments":{'"$QUERY_ARGS"'},'"$META"'}}'
}

check_tools_list() {
    check_reply "$1" '"tools"' -X POST "$2" "${MCP_HEADERS[@]}" \
        -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/list' \
        -d '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{'"$META"'}}'
}

# loadtest NAME SCENARIO TARGET... [-- EXTRA FLAGS]: one harness run.
loadtest() {
    local name=$1 scenario=$2
    shift 2
    local targets=() extra=()
    while (($#)) && [ "$1" != "--" ]; do targets+=(--target "$1"); shift; done
    (($#)) && { shift; extra=("$@"); }
    local load=(--mode "$MODE" --concurrency "$CONCURRENCY")
    [ "$MODE" = open ] && load=(--mode open --rate "$RATE")
    echo "== $name: $scenario, $MODE loop, $DURATION after $WARMUP of warm-up"
    if [ -n "$CHECK_ONLY" ]; then
        echo "   (CHECK_ONLY: not run) d365mcp loadtest ${targets[*]} --scenario $scenario ${load[*]} ${extra[*]}"
        return
    fi
    taskset -c "$LOAD_CPUS" "$BIN" loadtest "${targets[@]}" --scenario "$scenario" "${load[@]}" \
        --duration "$DURATION" --warmup "$WARMUP" "${extra[@]}" \
        --out "$OUT/$name.json" --markdown "$OUT/$name.md" --svg "$OUT/$name.svg"
}

{
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') × $(nproc)"
    echo "kernel: $(uname -sr)"
    echo "servers on CPUs $SERVER_CPUS, load generator on CPUs $LOAD_CPUS"
    echo "mode: $MODE, concurrency $CONCURRENCY, rate $RATE, duration $DURATION, warm-up $WARMUP"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

# --- (a) the floor: the simulator alone ------------------------------------
start sim "$BIN" sim --listen 127.0.0.1:0
SIM="http://$ADDR"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$SIM$FLOOR_PATH")" = 200 ] ||
    { echo "GET $SIM$FLOOR_PATH is not 200" >&2; exit 1; }
echo "== floor: wrk on $FLOOR_PATH, ${FLOOR_SECONDS}s, $CONCURRENCY connections"
taskset -c "$LOAD_CPUS" wrk -t1 -c"$CONCURRENCY" -d"${FLOOR_SECONDS}s" --latency "$SIM$FLOOR_PATH" | tee "$OUT/floor-wrk.txt"
if grep -q "Non-2xx" "$OUT/floor-wrk.txt"; then echo "floor: some replies were not 2xx" >&2; exit 1; fi

# --- (b) d365mcp dev -------------------------------------------------------
start dev "$BIN" dev --listen 127.0.0.1:0
DEV="http://$ADDR/mcp"
check_query_2026 dev "$DEV"
loadtest dev "$SCENARIOS/query.toml" "$DEV"
cleanup
# cleanup stopped the simulator too: start it again for the others.
start sim "$BIN" sim --listen 127.0.0.1:0
SIM="http://$ADDR"

# --- (c) 2 edges + 2 workers + Redis ---------------------------------------
REDIS_PORT=$(free_port)
taskset -c "$SERVER_CPUS" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    >"$OUT/redis.log" 2>&1 &
PIDS+=("$!")
REDIS="redis://127.0.0.1:$REDIS_PORT"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break; sleep 0.1; done
start worker-0 "$BIN" worker --listen 127.0.0.1:0 --d365fo-base-url "$SIM" --redis-url "$REDIS"
W0="http://$ADDR"
start worker-1 "$BIN" worker --listen 127.0.0.1:0 --d365fo-base-url "$SIM" --redis-url "$REDIS"
W1="http://$ADDR"
# The production default (100 requests/s per API key) would be measured
# instead of the cluster: lift it far above what this machine can send.
LIMITS="$OUT/rate-limits.toml"
printf '[principal]\nrate = 1000000.0\nburst = 1000000\n' >"$LIMITS"
EDGES=()
for i in 0 1; do
    start "edge-$i" "$BIN" edge --listen 127.0.0.1:0 --workers "$W0,$W1" --redis-url "$REDIS" \
        --rate-limits-file "$LIMITS" --health-interval 250ms
    wait_http "http://$ADDR/ready" 200
    EDGES+=("http://$ADDR/mcp")
done
for url in "${EDGES[@]}"; do check_query_2026 cluster "$url"; done
loadtest cluster "$SCENARIOS/query.toml" "${EDGES[@]}"
loadtest cluster-tools-list "$SCENARIOS/tools-list.toml" "${EDGES[@]}"

# --- (e) the bare rmcp echo server -----------------------------------------
start echo "$ECHO_BIN" --listen 127.0.0.1:0
ECHO="http://$ADDR/mcp"
check_tools_list echo "$ECHO"
loadtest echo-tools-list "$SCENARIOS/tools-list.toml" "$ECHO"

# --- (d) the Python peer, when it can be installed --------------------------
if [ -n "${SKIP_PEER:-}" ]; then
    echo "== peer: skipped (SKIP_PEER)" | tee "$OUT/peer.skipped"
elif ! loadtest/bench/peer.sh install 2>"$OUT/peer-install.log"; then
    echo "== peer: not installable here, skipped:" | tee "$OUT/peer.skipped"
    tail -5 "$OUT/peer-install.log" | tee -a "$OUT/peer.skipped"
else
    PEER_PORT=$(free_port)
    PEER_API_KEY=$PEER_KEY taskset -c "$SERVER_CPUS" loadtest/bench/peer.sh run "$SIM" "$PEER_PORT" \
        >"$OUT/peer.log" 2>&1 &
    PIDS+=("$!")
    # Its Streamable HTTP endpoint is the root path; without the key, 401.
    PEER="http://127.0.0.1:$PEER_PORT/"
    wait_http "$PEER" 401
    check_reply peer "US-001" -X POST "$PEER" "${MCP_HEADERS[@]}" -H "authorization: Bearer $PEER_KEY" \
        -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"d365fo_query_entities","arguments":{"entity_name":"CustomersV3","filter":"CustomerAccount eq '"'"'US-001'"'"'","select":["CustomerAccount","OrganizationName"],"top":1}}}'
    loadtest peer "$SCENARIOS/query-peer.toml" "$PEER" -- --api-key "$PEER_KEY"
fi

cleanup
echo "== done: raw outputs in $OUT/"
ls "$OUT"
