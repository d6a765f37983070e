# The benchmark's cluster, sourced by ab.sh and profile.sh: Redis, the
# simulator, workers and edges on 127.0.0.1, every process on SERVER_CPUS,
# logs in $OUT. The edges' rate limits are far above what this machine can
# send (the production default, 100/s per key, would be measured instead).
#
#   start_cluster BIN [EDGES [WORKERS]]   # sets URLS (--target URL ...)
#   stop_cluster
# CLUSTER_NAMES and CLUSTER_PIDS list the processes (redis, sim, worker-N,
# edge-N), in the same order.

CLUSTER_PIDS=()
CLUSTER_NAMES=()

stop_cluster() {
    local pid
    for pid in "${CLUSTER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${CLUSTER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    CLUSTER_PIDS=()
    CLUSTER_NAMES=()
}
trap stop_cluster EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# spawn NAME BIN ARGS...: one process on SERVER_CPUS; sets ADDR from its
# `listening on` line.
spawn() {
    local name=$1 bin=$2 log="$OUT/$1.log"
    shift 2
    : >"$log"
    taskset -c "$SERVER_CPUS" env RUST_LOG=warn "$bin" "$@" >"$log" 2>&1 &
    CLUSTER_PIDS+=("$!")
    CLUSTER_NAMES+=("$name")
    for _ in $(seq 300); do
        ADDR=$(sed -n 's/.* listening on \([0-9.:]*\).*/\1/p' "$log" | head -1)
        [ -n "$ADDR" ] && return 0
        sleep 0.1
    done
    echo "$name did not start within 30 s:" >&2
    tail -20 "$log" >&2
    exit 1
}

start_cluster() {
    local bin=$1 edges=${2:-2} workers=${3:-2} port i
    port=$(free_port)
    taskset -c "$SERVER_CPUS" redis-server --port "$port" --bind 127.0.0.1 --save "" \
        --appendonly no >"$OUT/redis.log" 2>&1 &
    CLUSTER_PIDS+=("$!")
    CLUSTER_NAMES+=(redis)
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    local redis="redis://127.0.0.1:$port" sim worker_urls=""
    spawn sim "$bin" sim --listen 127.0.0.1:0
    sim="http://$ADDR"
    for ((i = 0; i < workers; i++)); do
        spawn "worker-$i" "$bin" worker --listen 127.0.0.1:0 --d365fo-base-url "$sim" --redis-url "$redis"
        worker_urls+="${worker_urls:+,}http://$ADDR"
    done
    printf '[principal]\nrate = 1000000.0\nburst = 1000000\n' >"$OUT/rate-limits.toml"
    URLS=()
    for ((i = 0; i < edges; i++)); do
        spawn "edge-$i" "$bin" edge --listen 127.0.0.1:0 --workers "$worker_urls" --redis-url "$redis" \
            --rate-limits-file "$OUT/rate-limits.toml" --health-interval 250ms
        for _ in $(seq 100); do
            [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/ready")" = 200 ] && break
            sleep 0.1
        done
        URLS+=(--target "http://$ADDR/mcp")
    done
}
