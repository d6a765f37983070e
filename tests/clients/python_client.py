#!/usr/bin/env python3
"""Interop check: the official MCP Python SDK (mcp==2.3.0) against d365mcp.

Usage:
    python3 python_client.py URL MODE

    URL   The server's Streamable HTTP endpoint, e.g. http://127.0.0.1:18080/mcp.
          For MODE=sse the same URL may be passed: the script then connects to
          <scheme>://<host:port>/sse (the path is replaced by /sse) unless the URL
          already ends in /sse, in which case it is used as it is.  So the caller
          can always pass the /mcp URL, the base URL, or the /sse URL.
    MODE  auto        mcp.Client(url) default: probes server/discover, falls back
                      to initialize.  Expected protocol: 2026-07-28.
          2026-07-28  mcp.Client(url, mode="2026-07-28"): pinned stateless
                      protocol, no probe.  Expected protocol: 2026-07-28.
          legacy      mcp.Client(url, mode="legacy"): initialize handshake,
                      2025 Streamable HTTP session.  Expected: a 2025-* version.
          sse         mcp.client.sse.sse_client(<origin>/sse) as the Transport of
                      mcp.Client(..., mode="legacy") (legacy HTTP+SSE transport,
                      GET /sse + POST /message).  Expected: a handshake-era
                      version (the SDK offers its latest handshake version,
                      2025-11-25, and accepts any version the server counters
                      with); the negotiated version is reported.

Steps: list tools, call d365fo_query_entities and d365fo_get_label, read
resource d365fo://environment, get prompt d365fo_entity_analysis.

Output: one JSON line on stdout, e.g.
    {"client":"python","mode":"auto","protocol":"2026-07-28","tools":23,"ok":true}
Exit code 0 on success, 1 on any failure (the JSON line then has "ok":false
and "error"; details also go to stderr).  The whole run is bounded by 60 s.

Install: pip install mcp==2.3.0
"""

from __future__ import annotations

import json
import sys
import traceback
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio

import mcp
from mcp.client.sse import sse_client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

MODES = ("auto", "2026-07-28", "legacy", "sse")
TOTAL_TIMEOUT_S = 55.0  # whole run; leaves headroom under the 60 s budget
REQUEST_TIMEOUT_S = 15.0  # each request

# A label id that exists in the simulator's metadata (sim/src/metadata/label_texts.rs:
# ("Name", "@SYS7399", "Name", "Name")).  Note: @SYS9362 does NOT resolve there.
LABEL_ID = "@SYS7399"
ENTITY_SET = "CustomersV3"


class CheckFailed(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)


def sse_url_for(url: str) -> str:
    parts = urlsplit(url)
    if parts.path.rstrip("/").endswith("/sse"):
        return url
    return urlunsplit((parts.scheme, parts.netloc, "/sse", "", ""))


def expected_protocol_ok(mode: str, version: str | None) -> bool:
    if mode in ("auto", "2026-07-28"):
        return version == "2026-07-28"
    if mode == "legacy":
        return version is not None and version.startswith("2025-")
    # sse: any handshake-era version the SDK accepts
    return version in HANDSHAKE_PROTOCOL_VERSIONS


async def run(url: str, mode: str, summary: dict[str, Any]) -> None:
    if mode == "sse":
        target = sse_url_for(url)
        summary["url"] = target
        client = mcp.Client(
            sse_client(target, timeout=REQUEST_TIMEOUT_S, sse_read_timeout=TOTAL_TIMEOUT_S),
            mode="legacy",
            read_timeout_seconds=REQUEST_TIMEOUT_S,
        )
    elif mode == "auto":
        client = mcp.Client(url, read_timeout_seconds=REQUEST_TIMEOUT_S)
    else:
        client = mcp.Client(url, mode=mode, read_timeout_seconds=REQUEST_TIMEOUT_S)

    summary["step"] = "connect"
    async with client:
        summary["protocol"] = client.protocol_version
        info = client.server_info
        if info is not None:
            summary["server"] = f"{info.name} {info.version}"
        check(
            expected_protocol_ok(mode, client.protocol_version),
            f"negotiated protocol {client.protocol_version!r} is not what mode {mode!r} expects",
        )

        # 1. tools/list (walk every page)
        summary["step"] = "tools/list"
        tools = []
        cursor: str | None = None
        for _ in range(50):
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        summary["tools"] = len(tools)
        check(len(tools) >= 12, f"expected >= 12 tools (the default toolsets), got {len(tools)}")
        bad = [t.name for t in tools if not t.name.startswith("d365fo_")]
        check(not bad, f"tool names without the d365fo_ prefix: {bad}")
        query_tool = next((t for t in tools if t.name == "d365fo_query_entities"), None)
        check(query_tool is not None, "d365fo_query_entities is not listed")
        assert query_tool is not None
        schema = query_tool.input_schema
        check(
            isinstance(schema, dict) and schema.get("type") == "object" and bool(schema.get("properties")),
            f"d365fo_query_entities has no usable input schema: {schema!r}",
        )

        # 2. tools/call d365fo_query_entities
        summary["step"] = "tools/call d365fo_query_entities"
        res = await client.call_tool("d365fo_query_entities", {"entity_set": ENTITY_SET, "top": 3})
        check(not res.is_error, f"d365fo_query_entities returned is_error: {_content_text(res.content)}")
        sc = res.structured_content
        check(isinstance(sc, dict), f"d365fo_query_entities has no structured content: {sc!r}")
        rows = sc.get("rows")
        check(isinstance(rows, list) and len(rows) > 0, f"structured content has no rows: {str(sc)[:300]}")
        check(sc.get("returned") == 3, f"structured content returned={sc.get('returned')!r}, expected 3")
        summary["rows"] = len(rows)

        # 3. tools/call d365fo_get_label
        summary["step"] = "tools/call d365fo_get_label"
        res = await client.call_tool("d365fo_get_label", {"label_id": LABEL_ID})
        check(not res.is_error, f"d365fo_get_label({LABEL_ID}) returned is_error: {_content_text(res.content)}")
        text = None
        if isinstance(res.structured_content, dict):
            text = res.structured_content.get("text")
        if not text:
            text = _content_text(res.content)
        check(bool(text and str(text).strip()), f"d365fo_get_label({LABEL_ID}) returned no text")
        summary["label"] = text

        # 4. resources/read d365fo://environment
        summary["step"] = "resources/read d365fo://environment"
        rr = await client.read_resource("d365fo://environment")
        check(len(rr.contents) > 0, "d365fo://environment returned no contents")
        first = rr.contents[0]
        body = getattr(first, "text", None) or getattr(first, "blob", None)
        check(bool(body), "d365fo://environment first content is empty")

        # 5. prompts/get d365fo_entity_analysis
        summary["step"] = "prompts/get d365fo_entity_analysis"
        pr = await client.get_prompt("d365fo_entity_analysis", {"entity": ENTITY_SET})
        check(len(pr.messages) > 0, "d365fo_entity_analysis returned no messages")
        summary["prompt_messages"] = len(pr.messages)

        # 6. (auto, the default a new user gets) every tool: the SDK must
        # accept each answer. A tool may answer is_error for these sample
        # arguments (a missing record, an unknown service); what must not
        # happen is a result the SDK refuses, or a JSON-RPC error.
        if mode == "auto":
            called, tool_errors = 0, []
            for tool in tools:
                summary["step"] = f"tools/call {tool.name} (every tool)"
                res = await client.call_tool(tool.name, sample_arguments(tool.name))
                check(isinstance(res.content, list), f"{tool.name}: no content list")
                called += 1
                if res.is_error:
                    tool_errors.append(tool.name)
            summary["every_tool_called"] = called
            summary["tool_errors"] = tool_errors

        summary["step"] = "done"


ACCOUNT = f"SDK-{uuid.uuid4().hex[:8].upper()}"
RECORD_KEY = {"dataAreaId": "usmf", "CustomerAccount": ACCOUNT}


def sample_arguments(tool: str) -> dict[str, Any]:
    """Plausible arguments for each tool, against the built-in simulator.
    The create, update and delete calls work on one record of this run's own."""
    return {
        "d365fo_get_entity_schema": {"entity": ENTITY_SET},
        "d365fo_get_enumeration": {"name": "NoYes"},
        "d365fo_get_label": {"label_id": LABEL_ID},
        "d365fo_get_labels": {"label_ids": [LABEL_ID]},
        "d365fo_search_entities": {"query": "customer"},
        "d365fo_query_entities": {"entity_set": ENTITY_SET, "top": 1},
        "d365fo_get_entity_record": {"entity_set": ENTITY_SET, "key": RECORD_KEY},
        "d365fo_create_entity_record": {
            "entity_set": ENTITY_SET,
            "fields": {**RECORD_KEY, "OrganizationName": "SDK check", "CustomerGroupId": "10"},
        },
        "d365fo_update_entity_record": {
            "entity_set": ENTITY_SET,
            "key": RECORD_KEY,
            "fields": {"OrganizationName": "SDK check, updated"},
        },
        "d365fo_delete_entity_record": {"entity_set": ENTITY_SET, "key": RECORD_KEY},
        "d365fo_execute_batch": {
            "operations": [{"op": "get", "entity_set": ENTITY_SET, "key": RECORD_KEY}]
        },
        "d365fo_call_action": {"action": "GetApplicationVersion"},
        "d365fo_call_json_service": {
            "service_group": "SysTestServiceGroup",
            "service": "SysTestService",
            "operation": "GetValue",
        },
        "d365fo_run_report": {
            "controller": "SalesInvoiceController",
            "legal_entity": "usmf",
            "data_table": "CustInvoiceJour",
            "data_field": "InvoiceId",
            "document_id": "CIV-000001",
        },
    }.get(tool, {})


def _content_text(content: list[Any]) -> str:
    return " ".join(getattr(c, "text", "") for c in content if getattr(c, "text", None))


async def main_async(url: str, mode: str) -> int:
    summary: dict[str, Any] = {"client": "python", "sdk": "mcp 2.3.0", "mode": mode, "protocol": None, "tools": 0}
    return await reported(summary, lambda: run(url, mode, summary))


async def reported(summary: dict[str, Any], work: Any) -> int:
    """Awaits `work()` within TOTAL_TIMEOUT_S, then prints `summary` as the one
    JSON line (with "ok", and "error" on failure); the exit code."""
    try:
        with anyio.fail_after(TOTAL_TIMEOUT_S):
            await work()
        summary["ok"] = True
        print(json.dumps(summary, separators=(",", ":")), flush=True)
        return 0
    except BaseException as exc:  # noqa: BLE001 - report everything, including timeouts and exception groups
        if isinstance(exc, KeyboardInterrupt):
            raise
        traceback.print_exc(file=sys.stderr)
        summary["ok"] = False
        summary["error"] = f"{summary.get('step')}: {_describe(exc)}"
        print(f"FAILED at {summary.get('step')}: {_describe(exc)}", file=sys.stderr)
        print(json.dumps(summary, separators=(",", ":")), flush=True)
        return 1


def _describe(exc: BaseException) -> str:
    # Unwrap exception groups from anyio task groups to the first real cause.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return f"timed out ({type(exc).__name__})"
    msg = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {msg}"


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[2] not in MODES:
        print(f"usage: {sys.argv[0]} URL {{{'|'.join(MODES)}}}", file=sys.stderr)
        return 2
    return anyio.run(main_async, sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
