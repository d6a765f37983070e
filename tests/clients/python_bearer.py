#!/usr/bin/env python3
"""The official MCP Python SDK (mcp==2.3.0) calling d365mcp with a bearer token.

Usage:
    python3 python_bearer.py URL TOKEN

Connects with `mcp.Client` in its default mode (it negotiates 2026-07-28 by
itself) over an httpx client that sends `Authorization: Bearer TOKEN`, lists
the tools, creates a customer group and reads one back. The token was
obtained beforehand (the OAuth flow is the caller's: see docs/AUTH.md, "What
was tried", for why the SDK's own client-credentials provider does not work
against Entra ID).

Output: one JSON line on stdout, e.g.
    {"client":"python-bearer","tools":23,"created":true,"read":true,"ok":true}
Exit code 0 when every step succeeded, 1 otherwise (the JSON line then has
"ok":false and "error"). Bounded by 60 s.
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx2
import mcp
from mcp.client.streamable_http import streamable_http_client


async def run(url: str, token: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with mcp.Client(streamable_http_client(url, http_client=http)) as client:
            tools = await client.list_tools()
            created = await client.call_tool(
                "d365fo_create_entity_record",
                {"entity_set": "CustomerGroups", "fields": {"CustomerGroupId": "PY1", "Description": "SDK"}},
            )
            read = await client.call_tool(
                "d365fo_query_entities", {"entity_set": "CustomerGroups", "top": 1}
            )
            return {
                "client": "python-bearer",
                "tools": len(tools.tools),
                "created": not created.is_error,
                "read": not read.is_error,
                "ok": not created.is_error and not read.is_error,
            }


def main() -> int:
    url, token = sys.argv[1], sys.argv[2]
    try:
        summary = asyncio.run(asyncio.wait_for(run(url, token), 60))
    except BaseException as error:  # noqa: BLE001 - reported, then exit 1
        print(json.dumps({"client": "python-bearer", "ok": False, "error": repr(error)[:2000]}))
        return 1
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
