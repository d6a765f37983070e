#!/usr/bin/env bash
# The benchmark's peer: the Python d365fo-client MCP server (PyPI
# `d365fo-client`, its `d365fo-fastmcp-server` command), installed into a venv
# and started against a D365FO URL (the simulator) on a loopback port.
#
#   loadtest/bench/peer.sh install                 # install only; non-zero when it cannot
#   loadtest/bench/peer.sh run SIM_URL PORT        # install if needed, then serve (foreground)
#
# Serves MCP Streamable HTTP, stateless, JSON replies, at
# http://127.0.0.1:PORT/mcp, and requires `Authorization: Bearer $PEER_API_KEY`
# (default `bench-peer-key`). A loopback D365FO URL needs no Entra token, so no
# D365FO credentials are passed.
#
# Needs Python >= 3.13 (the package requires it): $PYTHON, else python3.13,
# python3.14, python3, pyenv's 3.13+, else `uv python install 3.13` when uv is
# present. The venv is $PEER_VENV (default target/d365fo-client-venv, shared
# with sim/compat/run.sh, which installs the same two packages).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${PEER_VENV:-target/d365fo-client-venv}"
API_KEY="${PEER_API_KEY:-bench-peer-key}"
# Where the package keeps its log file, profiles and caches; emptied at each
# start. By default it uses ~/.d365fo-mcp and ~/.cache/d365fo-client, where it
# saves a profile with the first D365FO_BASE_URL it saw and keeps using that
# URL on later starts, whatever D365FO_BASE_URL then says.
STATE="${PEER_STATE_DIR:-loadtest/bench/out/peer-state}"

die() { echo "peer.sh: $*" >&2; exit 2; }

find_python() {
    if [ -n "${PYTHON:-}" ]; then
        "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null ||
            die "PYTHON=$PYTHON is not Python >= 3.13"
        echo "$PYTHON"
        return
    fi
    local candidate
    for candidate in python3.13 python3.14 python3 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python; do
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    if command -v uv >/dev/null 2>&1; then
        uv python install 3.13 >&2 || die "uv could not install Python 3.13"
        uv python find 3.13 || die "uv installed Python 3.13 but cannot find it"
        return
    fi
    die "need Python >= 3.13 for d365fo-client: set PYTHON=/path/to/python3.13, or install uv (then this script runs 'uv python install 3.13')"
}

install() {
    if [ -x "$VENV/bin/d365fo-fastmcp-server" ]; then
        return
    fi
    local python
    python="$(find_python)"
    echo "peer.sh: installing d365fo-client into $VENV with $("$python" --version 2>&1)" >&2
    "$python" -m venv "$VENV" || die "cannot create a venv at $VENV with $python"
    # d365fo-client imports the MCP SDK's v1 API.
    "$VENV/bin/pip" install -q d365fo-client "mcp<2" ||
        die "pip could not install d365fo-client and mcp<2 (network? see pip's output above)"
    [ -x "$VENV/bin/d365fo-fastmcp-server" ] ||
        die "d365fo-client installed, but without its d365fo-fastmcp-server command"
}

case "${1:-}" in
install)
    install
    "$VENV/bin/pip" show d365fo-client mcp 2>/dev/null | grep -E '^(Name|Version):' >&2
    ;;
run)
    [ $# -eq 3 ] || die "usage: $0 run SIM_URL PORT"
    SIM_URL="$2"
    PORT="$3"
    case "$SIM_URL" in
    http://127.0.0.1:* | http://localhost:*) ;;
    *) die "SIM_URL must be a loopback http URL (no Entra token is set up), not $SIM_URL" ;;
    esac
    install
    # Only a directory this script made (it holds the marker) is emptied.
    if [ -e "$STATE" ]; then
        [ -f "$STATE/.peer-state" ] || die "$STATE exists and is not a peer state directory; set PEER_STATE_DIR"
        rm -rf "$STATE"
    fi
    mkdir -p "$STATE/cache" "$STATE/meta" "$STATE/xdg"
    touch "$STATE/.peer-state"
    # Only this run's settings: none of the caller's D365FO credentials.
    exec env -u D365FO_CLIENT_ID -u D365FO_CLIENT_SECRET -u D365FO_TENANT_ID \
        D365FO_BASE_URL="$SIM_URL" \
        D365FO_MCP_API_KEY_VALUE="$API_KEY" \
        D365FO_LOG_LEVEL="${PEER_LOG_LEVEL:-WARNING}" \
        D365FO_LOG_FILE="$STATE/fastmcp-server.log" \
        D365FO_CACHE_DIR="$STATE/cache" \
        D365FO_META_CACHE_DIR="$STATE/meta" \
        XDG_CACHE_HOME="$STATE/xdg" \
        "$VENV/bin/d365fo-fastmcp-server" --transport http --host 127.0.0.1 --port "$PORT" \
        --stateless --json-response --log-level "${PEER_LOG_LEVEL:-WARNING}"
    ;;
*)
    die "usage: $0 install | run SIM_URL PORT"
    ;;
esac
