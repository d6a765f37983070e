#!/usr/bin/env bash
# Issue 15, finding 3: does a slow-client flood hurt a keyed client?
#
# Starts the simulator, one worker and one edge (API keys, the default
# connection bounds) on 127.0.0.1, then measures a keyed client with
# `d365mcp loadtest` twice: quiet, and while FLOOD connections (127.0.0.1
# only) are held open against the edge — half send a request head one
# byte every 500 ms (slowloris), half never send a byte, and each one the
# edge closes is opened again at once, so the flood stays at FLOOD for the
# whole run. Prints both latency lines and the flood's own counts; bounded
# by 3 × (WARMUP + DURATION) plus start-up.
#
#   loadtest/bench/slowloris.sh
#   FLOOD=1000 DURATION=20s CONCURRENCY=8 BIN=target/release/d365mcp loadtest/bench/slowloris.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${BIN:-target/debug/d365mcp}
FLOOD=${FLOOD:-1000}
CONCURRENCY=${CONCURRENCY:-8}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
EDGE_ARGS=${EDGE_ARGS:-}
OUT=loadtest/bench/out/slowloris
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "build $BIN first (cargo build --bin d365mcp)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required for the flood" >&2; exit 1; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Starts `$BIN $*` in the background (its pid kept for the clean-up) and
# sets ADDR to the address it reports. Not in a subshell: the pid must stay.
start() {
    local log="$OUT/$1.log"
    "$BIN" "$@" >"$log" 2>&1 &
    pids+=($!)
    ADDR=""
    for _ in $(seq 100); do
        ADDR=$(sed -n 's/.* listening on //p' "$log" | head -1)
        [ -n "$ADDR" ] && return
        sleep 0.1
    done
    echo "$1 did not start; see $log" >&2; exit 1
}

KEY=bench-alice-key
DIGEST=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
printf '[keys.alice]\nsha256 = "%s"\ntenant = "contoso"\n' "$DIGEST" >"$OUT/keys.toml"
printf '[principal]\nrate = 100000.0\nburst = 100000\n' >"$OUT/rate-limits.toml"

start sim --listen 127.0.0.1:0; SIM=$ADDR
start worker --listen 127.0.0.1:0 --d365fo-base-url "http://$SIM"; WORKER=$ADDR
# shellcheck disable=SC2086
start edge --listen 127.0.0.1:0 --workers "http://$WORKER" \
    --api-keys-file "$OUT/keys.toml" --rate-limits-file "$OUT/rate-limits.toml" $EDGE_ARGS
EDGE=$ADDR EDGE_PID=${pids[2]}
for _ in $(seq 50); do curl -sf "http://$EDGE/ready" >/dev/null && break; sleep 0.2; done

run() {
    "$BIN" loadtest --target "http://$EDGE/mcp" --api-key "$KEY" \
        --scenario loadtest/bench/scenarios/query.toml --mode closed \
        --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" \
        --quiet --out "$OUT/$1.json" --markdown "$OUT/$1.md" >/dev/null
    echo "$1: $(grep '^| latency' "$OUT/$1.md")"
    echo "$1: $(grep -E '^\| (requests|failed)' "$OUT/$1.md" | tr '\n' ' ')"
}

# The first run warms the worker's metadata cache and the simulator; the
# quiet figure is the second, just before the flood.
run warm-up
run quiet

HOST=${EDGE%:*}
PORT=${EDGE##*:}
SECONDS_TOTAL=$(( $(echo "$WARMUP $DURATION" | sed 's/s//g' | awk '{print $1 + $2}') + 5 ))
python3 - "$HOST" "$PORT" "$FLOOD" "$SECONDS_TOTAL" >"$OUT/flood.txt" 2>&1 <<'PY' &
import selectors, socket, sys, time
host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
assert host in ("127.0.0.1", "localhost"), "the flood stays on loopback"
sel = selectors.DefaultSelector()
HEAD = b"GET /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: " + b"a" * 4096
opened = closed = refused = 0
conns = {}
def open_one(slow):
    global opened
    try:
        s = socket.create_connection((host, port), timeout=2)
    except OSError:
        return
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, slow)
    conns[s] = 0
    opened += 1
for i in range(n):
    open_one(i % 2 == 0)
end = time.time() + seconds
last_drip = 0.0
while time.time() < end:
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if data.startswith(b"HTTP/1.1 503"):
            refused += 1
        if not data or data.startswith(b"HTTP/"):
            sel.unregister(s); conns.pop(s, None); s.close(); closed += 1
            open_one(key.data)
    if time.time() - last_drip >= 0.5:
        last_drip = time.time()
        for s in list(conns):
            if sel.get_key(s).data and conns[s] < len(HEAD):
                try:
                    s.send(HEAD[conns[s]:conns[s] + 1]); conns[s] += 1
                except OSError:
                    pass
print(f"flood: {n} held at once, {opened} opened, {closed} closed by the edge, {refused} refused with 503")
PY
FLOOD_PID=$!
pids+=("$FLOOD_PID")
sleep 2
echo "flood: the edge holds $(ls /proc/"$EDGE_PID"/fd | wc -l) file descriptors"
run flood
wait "$FLOOD_PID" || true
cat "$OUT/flood.txt"
