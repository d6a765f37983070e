#!/usr/bin/env python3
"""The official MCP Python SDK (mcp==2.3.0) asking d365mcp for completions.

Usage:
    python3 python_completions.py URL API_KEY

Connects with `mcp.Client` in its default mode (2026-07-28) over an httpx
client that sends `x-api-key: API_KEY`, and calls `complete` for:

    entity       prompt d365fo_entity_analysis, argument `entity`, value "Cust"
    in_env       template d365fo://environments/{environment}/entities/{entity}/schema,
                 argument `entity`, value "Cust", context environment=fabrikam
    environments prompt d365fo_entity_analysis, argument `environment`, value ""
    named        template d365fo://environments/{name}, argument `name`, value ""
    unknown      prompt "no_such_prompt" (expected: an MCP error)

Output: one JSON line on stdout, e.g.
    {"capability":true,"entity":{"values":[...],"total":3,"has_more":false},...,"ok":true}
where `unknown` is {"code": -32602, "message": "..."}. Exit code 0 when the
run finished, 1 otherwise (the JSON line then has "ok":false and "error").
Bounded by 60 s.
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx2
import mcp
from mcp.client.streamable_http import streamable_http_client
from mcp_types import PromptReference, ResourceTemplateReference

SCHEMA = "d365fo://environments/{environment}/entities/{entity}/schema"


def shown(result) -> dict:
    c = result.completion
    return {"values": c.values, "total": c.total, "has_more": c.has_more}


async def run(url: str, key: str) -> dict:
    async with httpx2.AsyncClient(headers={"x-api-key": key}) as http:
        async with mcp.Client(streamable_http_client(url, http_client=http)) as client:
            prompt = PromptReference(name="d365fo_entity_analysis")
            summary = {
                "client": "python-completions",
                "capability": client.server_capabilities.completions is not None,
                "entity": shown(await client.complete(prompt, {"name": "entity", "value": "Cust"})),
                "in_env": shown(
                    await client.complete(
                        ResourceTemplateReference(uri=SCHEMA),
                        {"name": "entity", "value": "Cust"},
                        {"environment": "fabrikam"},
                    )
                ),
                "environments": shown(
                    await client.complete(prompt, {"name": "environment", "value": ""})
                ),
                "enumeration": shown(
                    await client.complete(
                        ResourceTemplateReference(uri="d365fo://enumerations/{enumeration}"),
                        {"name": "enumeration", "value": "Sales"},
                    )
                ),
                "named": shown(
                    await client.complete(
                        ResourceTemplateReference(uri="d365fo://environments/{name}"),
                        {"name": "name", "value": ""},
                    )
                ),
            }
            try:
                await client.complete(
                    PromptReference(name="no_such_prompt"), {"name": "entity", "value": "C"}
                )
                summary["unknown"] = None
            except mcp.MCPError as error:
                summary["unknown"] = {"code": error.code, "message": error.message}
            summary["ok"] = True
            return summary


def main() -> int:
    url, key = sys.argv[1], sys.argv[2]
    try:
        summary = asyncio.run(asyncio.wait_for(run(url, key), 60))
    except BaseException as error:  # noqa: BLE001 - reported, then exit 1
        print(json.dumps({"client": "python-completions", "ok": False, "error": repr(error)[:2000]}))
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
