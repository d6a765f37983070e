#!/usr/bin/env python3
"""Skills (SEP-2640) as the official MCP Python SDK (mcp==2.3.0) sees them.

Usage:
    python3 python_skills.py URL

    URL   The server's Streamable HTTP endpoint, e.g. http://127.0.0.1:18080/mcp.

The SDK's default client (`mcp.Client(url)`, the 2026-07-28 protocol) has no
skills API, so the script does what a host without one does: it finds the
skills in `resources/list` and reads them with `resources/read`, and it sends
`skills/list` and `skills/get` as raw requests through the SDK's own session
(`client.session.send_request`), so they carry the SDK's 2026-07-28 `_meta`
and headers. Each file read is checked against its manifest entry (SHA-256
digest and size) and its front matter against the entry's `frontmatter`.

Output: one JSON line on stdout, e.g.
    {"ok": true, "protocol": "2026-07-28", "skills": 5, "verified": 5, ...}
Exit code 0 on success, 1 on any failure (the JSON line then has "ok": false
and "error"; details also go to stderr). The whole run is bounded by 55 s.
"""

from __future__ import annotations

import hashlib
import json
import sys
import traceback
from typing import Any

import anyio
import mcp
import mcp_types
from mcp.shared.exceptions import MCPError
from pydantic import TypeAdapter

EXTENSION = "io.modelcontextprotocol/skills"
TOTAL_TIMEOUT_S = 55.0
REQUEST_TIMEOUT_S = 15.0
ANY_RESULT = TypeAdapter(dict[str, Any])


class CheckFailed(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)


def front_matter(text: str) -> dict[str, str]:
    """The `key: value` lines between the opening `---` lines."""
    check(text.startswith("---\n"), "SKILL.md does not open with front matter")
    block = text[4:].split("\n---\n", 1)[0]
    return dict(line.split(": ", 1) for line in block.splitlines())


async def raw(client: mcp.Client, method: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """One request the SDK has no method for, sent through its session."""
    if params is None:
        request = mcp_types.PaginatedRequest[str](method=method)
    else:
        request = mcp_types.Request[dict[str, Any], str](method=method, params=params)
    return await client.session.send_request(request, ANY_RESULT)


async def run(url: str, summary: dict[str, Any]) -> None:
    summary["step"] = "connect"
    async with mcp.Client(url, read_timeout_seconds=REQUEST_TIMEOUT_S) as client:
        summary["protocol"] = client.protocol_version
        check(client.protocol_version == "2026-07-28", "the default client did not speak 2026-07-28")
        extensions = client.server_capabilities.extensions or {}
        check(EXTENSION in extensions, f"the server does not declare {EXTENSION}: {extensions}")

        summary["step"] = "resources/list"
        listed = await client.list_resources()
        as_resources = {r.uri: r for r in listed.resources if str(r.uri).startswith("skill://")}
        summary["skill_resources"] = len(as_resources)

        summary["step"] = "skills/list"
        skills = (await raw(client, "skills/list", None))["skills"]
        summary["skills"] = len(skills)
        check(len(skills) > 0, "skills/list is empty")
        check(
            sorted(s["uri"] for s in skills) == sorted(str(u) for u in as_resources),
            "skills/list and the skill:// entries of resources/list differ",
        )

        verified = 0
        for skill in skills:
            uri = skill["uri"]
            summary["step"] = f"resources/read {uri}"
            resource = as_resources[uri]
            check(resource.mime_type == "text/markdown", f"{uri}: mimeType {resource.mime_type}")
            check(resource.description == skill["frontmatter"]["description"], f"{uri}: description")
            read = await client.read_resource(uri)
            check(len(read.contents) == 1, f"{uri}: {len(read.contents)} contents")
            data = read.contents[0].text.encode("utf-8")
            (entry,) = [f for f in skill["resources"] if f["uri"] == uri]
            check(entry["size"] == len(data), f"{uri}: size {len(data)}, manifest {entry['size']}")
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            check(entry["digest"] == digest, f"{uri}: digest {digest}, manifest {entry['digest']}")
            check(front_matter(read.contents[0].text) == skill["frontmatter"], f"{uri}: front matter")
            check(uri.endswith(f"/{skill['frontmatter']['name']}/SKILL.md"), f"{uri}: name")
            verified += 1
        summary["verified"] = verified

        summary["step"] = "skills/get"
        first = skills[0]
        got = await raw(client, "skills/get", {"uri": first["uri"]})
        check(got["skill"] == first, "skills/get differs from the skills/list entry")

        summary["step"] = "skills/get (unknown)"
        try:
            await raw(client, "skills/get", {"uri": "skill://d365fo/no-such-skill/SKILL.md"})
            raise CheckFailed("an unknown skill was answered")
        except MCPError as e:
            summary["unknown_skill_code"] = e.code
        summary.pop("step")


async def main(url: str) -> int:
    summary: dict[str, Any] = {"client": "python", "ok": False}
    try:
        with anyio.fail_after(TOTAL_TIMEOUT_S):
            await run(url, summary)
        summary["ok"] = True
    except Exception as e:  # the summary names any failure
        summary["error"] = f"{type(e).__name__}: {e}"
        traceback.print_exc(file=sys.stderr)
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(anyio.run(main, sys.argv[1]))
