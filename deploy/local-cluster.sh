#!/usr/bin/env bash
# The topology of deploy/compose.yaml without containers, on loopback: Redis,
# the simulator, two workers and two edges that find the workers through
# Redis membership, and haproxy balancing round robin over the edges. Prints
# the balanced MCP URL once every edge is ready, then runs until Ctrl-C (or
# SIGTERM), which stops everything it started.
#
#     deploy/local-cluster.sh              # MCP at http://127.0.0.1:8080/mcp
#
# Settings (environment):
#   D365MCP_BIN  the d365mcp binary (default: `d365mcp` on PATH, else
#                target/release/d365mcp, else target/debug/d365mcp)
#   LB_PORT      the balancer's port (default 8080)
#   REDIS_PORT   Redis's port (default: a free one)
# Needs redis-server and haproxy (apt-get install redis-server haproxy).
# Every node listens on 127.0.0.1 only, so the edges serve without API keys;
# they still sign their calls to the workers with a fresh internal secret.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${D365MCP_BIN:-}
if [ -z "$BIN" ]; then
    for candidate in "$(command -v d365mcp || true)" target/release/d365mcp target/debug/d365mcp; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then BIN=$candidate; break; fi
    done
fi
[ -n "$BIN" ] || { echo "local-cluster: no d365mcp binary: cargo build --release, or set D365MCP_BIN" >&2; exit 2; }
for tool in redis-server haproxy; do
    command -v "$tool" >/dev/null || { echo "local-cluster: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done
LB_PORT=${LB_PORT:-8080}

RUN=$(mktemp -d "${TMPDIR:-/tmp}/d365mcp-local-cluster.XXXXXX")
PIDS=()       # started processes, in start order
stop() {
    trap - INT TERM EXIT
    # Edges first (the reverse of the start order), so no call is sent to a
    # worker that is gone; then give each a moment to drain.
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
    for _ in $(seq 100); do
        local alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$RUN"
    echo "local-cluster: stopped"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "local-cluster: $1; the end of $2:" >&2
    tail -n 20 "$RUN/$2" >&2 || true
    exit 1
}

# Starts `d365mcp ROLE ARGS…` with its log in $RUN/NAME.log and sets ADDR to
# the address it prints once bound (`d365mcp <role> listening on <addr>`).
start_node() {
    local name=$1 role=$2; shift 2
    "$BIN" "$role" --listen 127.0.0.1:0 "$@" >"$RUN/$name.out" 2>"$RUN/$name.log" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 300); do
        ADDR=$(sed -n "s/^d365mcp $role listening on //p" "$RUN/$name.out" | head -n 1)
        if [ -n "$ADDR" ]; then
            echo "local-cluster: $name listening on $ADDR (pid $pid)"
            return
        fi
        kill -0 "$pid" 2>/dev/null || fail "$name exited" "$name.log"
        sleep 0.1
    done
    fail "$name did not listen within 30 s" "$name.log"
}

# Redis on the given port, or on a free one (a taken port makes it exit).
start_redis() {
    local port
    for _ in 1 2 3 4 5; do
        port=${REDIS_PORT:-$((20000 + RANDOM % 40000))}
        redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
            >"$RUN/redis.log" 2>&1 &
        local pid=$!
        for _ in $(seq 50); do
            if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
                PIDS+=("$pid")
                REDIS_URL=redis://127.0.0.1:$port
                echo "local-cluster: redis listening on 127.0.0.1:$port (pid $pid)"
                return
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        [ -z "${REDIS_PORT:-}" ] || break
    done
    fail "redis did not start" redis.log
}

# The status code of GET http://127.0.0.1:PORT/PATH, or 000.
http_status() {
    local code
    code=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$2" >&3 &&
        head -n 1 <&3) 2>/dev/null | cut -d' ' -f2)
    echo "${code:-000}"
}

export D365MCP_INTERNAL_SECRET
D365MCP_INTERNAL_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export RUST_LOG=${RUST_LOG:-warn}

start_redis
start_node sim sim
SIM_URL=http://$ADDR
for i in 1 2; do
    start_node "worker-$i" worker --d365fo-base-url "$SIM_URL" --redis-url "$REDIS_URL"
done
EDGES=()
for i in 1 2; do
    start_node "edge-$i" edge --redis-url "$REDIS_URL"
    EDGES+=("$ADDR")
done

# haproxy as deploy/compose/haproxy.cfg configures it, on loopback.
{
    printf 'global\n    maxconn 4096\n'
    printf 'defaults\n    mode http\n    option http-server-close\n    timeout connect 2s\n'
    printf '    timeout client 130s\n    timeout server 130s\n    timeout tunnel 1h\n'
    printf 'frontend mcp\n    bind 127.0.0.1:%s\n    default_backend edges\n' "$LB_PORT"
    printf 'backend edges\n    balance roundrobin\n    option httpchk GET /ready\n'
    printf '    http-check expect status 200\n    default-server check inter 1s fall 2 rise 1\n'
    for i in "${!EDGES[@]}"; do printf '    server edge-%s %s\n' "$((i + 1))" "${EDGES[i]}"; done
} >"$RUN/haproxy.cfg"
haproxy -db -f "$RUN/haproxy.cfg" >"$RUN/haproxy.log" 2>&1 &
PIDS+=("$!")

# Ready when both edges are (each sees a healthy worker) and the balancer
# answers /ready through them.
for _ in $(seq 300); do
    ready=1
    for addr in "${EDGES[@]}"; do
        [ "$(http_status "${addr##*:}" /ready)" = 200 ] || ready=0
    done
    [ "$ready" = 1 ] && [ "$(http_status "$LB_PORT" /ready)" = 200 ] && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || fail "haproxy exited" haproxy.log
    sleep 0.1
done
[ "$(http_status "$LB_PORT" /ready)" = 200 ] || fail "the balancer did not answer /ready with 200 within 30 s" haproxy.log

echo "d365mcp local cluster: http://127.0.0.1:$LB_PORT/mcp (Ctrl-C stops it)"
# Runs until a signal; a node that dies is reported and ends the cluster.
wait -n "${PIDS[@]}" || true
echo "local-cluster: a node exited; stopping" >&2
exit 1
