#!/usr/bin/env bash
# Points the Python d365fo-client package at a fresh simulator and runs
# d365fo_client_check.py. Needs Python >= 3.13 (d365fo-client requires it):
# set PYTHON, or have python3.13 on PATH (pyenv's works). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${PYTHON:-}" ]; then
    for candidate in python3.13 python3.14 python3 ${PYENV_ROOT:-$HOME/.pyenv}/versions/3.1[3-9]*/bin/python; do
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
            PYTHON="$candidate"
            break
        fi
    done
fi
if [ -z "${PYTHON:-}" ]; then
    echo "need Python >= 3.13 (set PYTHON=/path/to/python3.13)" >&2
    exit 2
fi
VENV="${VENV:-target/d365fo-client-venv}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    # d365fo-client imports the MCP SDK v1 API.
    "$VENV/bin/pip" install -q d365fo-client "mcp<2"
fi

cargo build --release -q
out="$(mktemp)"
# A small page size makes the paging check cross several pages.
target/release/d365mcp sim --listen 127.0.0.1:0 --max-page-size 20 >"$out" 2>/dev/null &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do
    grep -q 'listening on' "$out" && break
    sleep 0.05
done
addr="$(sed -n 's/.*listening on //p' "$out" | head -1)"
"$VENV/bin/python" sim/compat/d365fo_client_check.py "http://$addr"
