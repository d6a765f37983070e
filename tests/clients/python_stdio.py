#!/usr/bin/env python3
"""Interop check: the official MCP Python SDK (mcp==2.3.0) starting `d365mcp stdio --sim`
as its child process, as Claude Desktop and VS Code do.

Usage:
    python3 python_stdio.py BINARY MODE

    BINARY  The d365mcp binary.
    MODE    auto    mcp.Client(stdio_client(...)): probes server/discover, falls back
                    to initialize.  Expected protocol: 2026-07-28.
            legacy  mcp.Client(stdio_client(...), mode="legacy"): the initialize
                    handshake.  Expected: a 2025-* version.

Steps: list tools, call d365fo_query_entities on CustomersV3 and check its structured
content, then leave the client, which closes the server's stdin: the server must exit
on its own within the SDK's grace period (it is sent SIGTERM after that).

Output: one JSON line on stdout, e.g.
    {"client":"python-stdio","mode":"auto","protocol":"2026-07-28","tools":23,"ok":true}
Exit code 0 on success, 1 on any failure (the JSON line then has "ok":false and
"error"; details also go to stderr).  The whole run is bounded by 55 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Any

import anyio

import mcp
from mcp.client import stdio as sdk_stdio
from mcp.client.stdio import StdioServerParameters, stdio_client

# Beside this script: the HTTP interop check's assertion and error summary.
from python_client import ENTITY_SET, check, reported

REQUEST_TIMEOUT_S = 20.0


async def run(binary: str, mode: str, summary: dict[str, Any]) -> None:
    params = StdioServerParameters(
        command=binary,
        args=["stdio", "--sim"],
        # Logs at info, so that there is something on stderr to keep off stdout.
        env={"D365MCP_LOG_LEVEL": "info"},
    )
    with tempfile.TemporaryFile(mode="w+") as errlog:
        # "auto" is the SDK's default mode, what a new user gets.
        client = mcp.Client(
            stdio_client(params, errlog=errlog), mode=mode, read_timeout_seconds=REQUEST_TIMEOUT_S
        )
        summary["step"] = "connect"
        async with client:
            summary["protocol"] = client.protocol_version
            expected = "2026-07-28" if mode == "auto" else "2025-"
            check(
                (client.protocol_version or "").startswith(expected),
                f"negotiated {client.protocol_version!r}, expected {expected}",
            )
            info = client.server_info
            if info is not None:
                summary["server"] = f"{info.name} {info.version}"

            summary["step"] = "tools/list"
            # One page: the server lists its tools whole.
            listed = await client.list_tools()
            check(not listed.next_cursor, "tools/list gave a cursor; expected one page")
            summary["tools"] = len(listed.tools)
            names = [t.name for t in listed.tools]
            check("d365fo_query_entities" in names, f"d365fo_query_entities is not listed: {names}")

            summary["step"] = "tools/call d365fo_query_entities"
            res = await client.call_tool(
                "d365fo_query_entities",
                {"entity_set": ENTITY_SET, "top": 3, "select": ["CustomerAccount", "OrganizationName"]},
            )
            check(not res.is_error, f"d365fo_query_entities returned is_error: {res.content!r}")
            sc = res.structured_content
            check(isinstance(sc, dict), f"no structured content: {sc!r}")
            rows = sc.get("rows")
            check(isinstance(rows, list) and len(rows) == 3, f"expected 3 rows: {str(sc)[:300]}")
            check(sc.get("returned") == 3, f"returned={sc.get('returned')!r}, expected 3")
            check(all(r.get("CustomerAccount") for r in rows), f"rows without CustomerAccount: {rows}")
            summary["rows"] = len(rows)
            summary["step"] = "close"
            closing = time.monotonic()
        # Leaving the client closed the server's stdin and waited for it to exit,
        # sending SIGTERM only after the grace period: a quick close means it
        # exited on its own.
        summary["close_s"] = round(time.monotonic() - closing, 2)
        check(
            summary["close_s"] < sdk_stdio.PROCESS_TERMINATION_TIMEOUT,
            f"the server took {summary['close_s']} s to exit after stdin closed",
        )
        errlog.seek(0)
        stderr = errlog.read()
        summary["stderr_lines"] = len(stderr.splitlines())
        check("serving MCP on stdin and stdout" in stderr, f"no start-up log on stderr: {stderr[:500]!r}")
    summary["step"] = "done"


async def main_async(binary: str, mode: str) -> int:
    summary: dict[str, Any] = {"client": "python-stdio", "sdk": "mcp 2.3.0", "mode": mode, "protocol": None}
    return await reported(summary, lambda: run(binary, mode, summary))


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[2] not in ("auto", "legacy"):
        print(__doc__, file=sys.stderr)
        return 2
    return anyio.run(main_async, sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
