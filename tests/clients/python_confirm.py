#!/usr/bin/env python3
"""The official MCP Python SDK (mcp==2.3.0) confirming changes through its
elicitation callback.

Usage:
    python3 python_confirm.py URL MODE

    MODE  auto    mcp.Client(url): the SDK's default, 2026-07-28. The server
                  answers an update or delete with an `input_required` result;
                  the SDK asks its callback and retries with the answer.
          legacy  mcp.Client(url, mode="legacy"): a 2025 session. The server
                  sends `elicitation/create` on the call's stream; the SDK
                  answers it with a POST (which a balancer may send to
                  another edge).

Steps, on a customer of this run's own: create it (not asked about), update
it with the user saying yes (asked once, naming the entity and key; applied),
delete it with the user saying no (not applied: the record is still there),
then delete it with a yes.

Output: one JSON line on stdout, e.g.
    {"client":"python-confirm","mode":"auto","asked":3,"ok":true}
Exit code 0 on success, 1 otherwise. Bounded by 55 s.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

import mcp
import mcp_types as types

from python_client import check, reported

ENTITY_SET = "CustomersV3"
ACCOUNT = f"CNF-{uuid.uuid4().hex[:8].upper()}"
KEY = {"dataAreaId": "usmf", "CustomerAccount": ACCOUNT}


class User:
    """The person behind the client: says what `answer` holds, and remembers
    what it was asked."""

    def __init__(self) -> None:
        self.answer = "accept"
        self.asked: list[str] = []

    async def callback(self, context: Any, params: Any) -> types.ElicitResult:
        self.asked.append(params.message)
        if self.answer == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")


async def exists(client: mcp.Client) -> bool:
    read = await client.call_tool("d365fo_get_entity_record", {"entity_set": ENTITY_SET, "key": KEY})
    return not read.is_error


async def run(url: str, mode: str, summary: dict[str, Any]) -> None:
    user = User()
    options: dict[str, Any] = {"elicitation_callback": user.callback}
    if mode == "legacy":
        options["mode"] = "legacy"
    async with mcp.Client(url, **options) as client:
        summary["protocol"] = client.protocol_version

        summary["step"] = "create (not asked)"
        created = await client.call_tool(
            "d365fo_create_entity_record",
            {"entity_set": ENTITY_SET, "fields": {**KEY, "OrganizationName": "Confirm check", "CustomerGroupId": "10"}},
        )
        check(not created.is_error, f"create failed: {created.content}")
        check(not user.asked, f"a create was asked about: {user.asked}")

        summary["step"] = "update, confirmed"
        updated = await client.call_tool(
            "d365fo_update_entity_record",
            {"entity_set": ENTITY_SET, "key": KEY, "fields": {"OrganizationName": "Confirmed"}},
        )
        check(not updated.is_error, f"confirmed update failed: {updated.content}")
        check(len(user.asked) == 1, f"asked {len(user.asked)} times for one update")
        question = user.asked[0]
        for part in (ENTITY_SET, ACCOUNT, "OrganizationName = Confirmed"):
            check(part in question, f"the question does not show {part!r}: {question}")
        read = await client.call_tool("d365fo_get_entity_record", {"entity_set": ENTITY_SET, "key": KEY})
        record = read.structured_content or {}
        check(record.get("record", {}).get("OrganizationName") == "Confirmed", f"update not applied: {record}")

        summary["step"] = "delete, declined"
        user.answer = "decline"
        refused = await client.call_tool("d365fo_delete_entity_record", {"entity_set": ENTITY_SET, "key": KEY})
        check(refused.is_error, "a declined delete did not answer is_error")
        text = " ".join(getattr(c, "text", "") for c in refused.content)
        check("nothing was changed" in text, f"the declined answer does not say so: {text}")
        check(await exists(client), "a declined delete was applied")

        summary["step"] = "delete, confirmed"
        user.answer = "accept"
        deleted = await client.call_tool("d365fo_delete_entity_record", {"entity_set": ENTITY_SET, "key": KEY})
        check(not deleted.is_error, f"confirmed delete failed: {deleted.content}")
        check(not await exists(client), "a confirmed delete was not applied")
        summary["asked"] = len(user.asked)
        summary["step"] = "done"


def main() -> int:
    url, mode = sys.argv[1], sys.argv[2]
    summary: dict[str, Any] = {"client": "python-confirm", "mode": mode}
    return asyncio.run(reported(summary, lambda: run(url, mode, summary)))


if __name__ == "__main__":
    sys.exit(main())
