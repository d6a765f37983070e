# The benchmark's cluster, sourced by ab.sh and profile.sh: Redis, the
# simulator, workers and edges on 127.0.0.1, every process on SERVER_CPUS,
# logs in $OUT. The edges' rate limits are far above what this machine can
# send (the production default, 100/s per key, would be measured instead).
#
#   start_cluster BIN [EDGES [WORKERS]]   # sets URLS (--target URL ...)
#   stop_cluster
# CLUSTER_NAMES and CLUSTER_PIDS list the processes (redis, sim, worker-N,
# edge-N), in the same order.
#
# Optional, for scaling.sh (the defaults above are unchanged without them):
#   REDIS=cluster     three redis-server nodes (redis-0..2) joined into one
#                     Redis Cluster, given to every node as seed URLs with
#                     --redis-cluster
#   LIMITS=per-call   the production shape of the limits: a caller's and a
#                     tenant's bucket, both below the 2,000/s where leases
#                     start, so each call runs the edge's rate-limit script
#                     (edge/src/limits/lease.rs); the burst keeps every call
#                     admitted
# REDIS_PORTS lists the Redis ports; each node's `INFO commandstats` is
# written to $OUT/redis-commandstats-start.txt once every edge is ready and
# to ...-end.txt as the cluster stops ("PORT cmdstat_...:calls=..." lines).

CLUSTER_PIDS=()
CLUSTER_NAMES=()
REDIS_PORTS=()

# redis_commandstats: every Redis node's command counters, one line each,
# prefixed by the node's port.
redis_commandstats() {
    local port
    for port in "${REDIS_PORTS[@]}"; do
        redis-cli -p "$port" INFO commandstats 2>/dev/null | tr -d '\r' | grep '^cmdstat_' | sed "s/^/$port /" || true
    done
}

stop_cluster() {
    local pid
    [ "${#REDIS_PORTS[@]}" -gt 0 ] && redis_commandstats >"$OUT/redis-commandstats-end.txt"
    REDIS_PORTS=()
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
    local bin=$1 edges=${2:-2} workers=${3:-2} port i redis redis_args=()
    if [ "${REDIS:-}" = cluster ]; then
        start_redis_cluster
        redis=$(printf 'redis://127.0.0.1:%s,' "${REDIS_PORTS[@]}")
        redis_args=(--redis-url "${redis%,}" --redis-cluster)
    else
        port=$(free_port)
        taskset -c "$SERVER_CPUS" redis-server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no >"$OUT/redis.log" 2>&1 &
        CLUSTER_PIDS+=("$!")
        CLUSTER_NAMES+=(redis)
        REDIS_PORTS=("$port")
        wait_for_port "$port"
        redis_args=(--redis-url "redis://127.0.0.1:$port")
    fi
    local sim worker_urls=""
    spawn sim "$bin" sim --listen 127.0.0.1:0
    sim="http://$ADDR"
    for ((i = 0; i < workers; i++)); do
        spawn "worker-$i" "$bin" worker --listen 127.0.0.1:0 --d365fo-base-url "$sim" "${redis_args[@]}"
        worker_urls+="${worker_urls:+,}http://$ADDR"
    done
    if [ "${LIMITS:-}" = per-call ]; then
        printf '[principal]\nrate = 1999.0\nburst = 1000000\n[tenant]\nrate = 1999.0\nburst = 1000000\n'
    else
        printf '[principal]\nrate = 1000000.0\nburst = 1000000\n'
    fi >"$OUT/rate-limits.toml"
    URLS=()
    for ((i = 0; i < edges; i++)); do
        spawn "edge-$i" "$bin" edge --listen 127.0.0.1:0 --workers "$worker_urls" "${redis_args[@]}" \
            --rate-limits-file "$OUT/rate-limits.toml" --health-interval 250ms
        for _ in $(seq 100); do
            [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/ready")" = 200 ] && break
            sleep 0.1
        done
        URLS+=(--target "http://$ADDR/mcp")
    done
    redis_commandstats >"$OUT/redis-commandstats-start.txt"
}

wait_for_port() {
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
}

# start_redis_cluster: three nodes (no replicas) on free loopback ports,
# their files in $OUT/redis-cluster (emptied first), joined with `redis-cli
# --cluster create`; returns once every node says cluster_state:ok. As
# tests/support/redis_cluster.rs does, the bus port is given (the default,
# port + 10000, may not exist for a high ephemeral port).
start_redis_cluster() {
    local dir="$OUT/redis-cluster" port bus i addresses=()
    rm -rf "$dir" && mkdir -p "$dir"
    for i in 0 1 2; do
        port=$(free_port) bus=$(free_port)
        taskset -c "$SERVER_CPUS" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --cluster-enabled yes --cluster-port "$bus" --cluster-config-file "nodes-$port.conf" \
            --dir "$dir" >"$OUT/redis-$i.log" 2>&1 &
        CLUSTER_PIDS+=("$!")
        CLUSTER_NAMES+=("redis-$i")
        REDIS_PORTS+=("$port")
        addresses+=("127.0.0.1:$port")
        wait_for_port "$port"
    done
    redis-cli --cluster create "${addresses[@]}" --cluster-replicas 0 --cluster-yes >"$OUT/redis-cluster.log" 2>&1 ||
        { echo "redis-cli --cluster create failed:" >&2; tail -20 "$OUT/redis-cluster.log" >&2; exit 1; }
    for port in "${REDIS_PORTS[@]}"; do
        for _ in $(seq 100); do
            redis-cli -p "$port" CLUSTER INFO | grep -q '^cluster_state:ok' && break
            sleep 0.1
        done
    done
}
