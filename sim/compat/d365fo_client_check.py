"""Drive the Python d365fo-client package against a running simulator.

Checks that an OData client written for the real D365FO works unchanged:
connection and versions, entity search, schemas, enumerations, labels,
paging through a large query, and create/update/delete of a record.

Usage: python d365fo_client_check.py http://127.0.0.1:PORT
Exits non-zero when any check fails; prints one line per check.
"""

import asyncio
import sys
import tempfile
import traceback

from d365fo_client import FOClient, FOClientConfig
from d365fo_client.models import QueryOptions

RESULTS = []


async def check(name, coro):
    try:
        detail = await coro
        RESULTS.append((name, True, detail))
        print(f"PASS {name}: {detail}")
    except Exception as exc:  # noqa: BLE001 - report every failure, keep going
        RESULTS.append((name, False, str(exc)))
        print(f"FAIL {name}: {exc}")
        traceback.print_exc(limit=3)


async def main(base_url):
    cache = tempfile.mkdtemp(prefix="d365fo-cache-")
    config = FOClientConfig(
        base_url=base_url,
        metadata_cache_dir=cache,
        enable_request_tracing=False,
    )
    async with FOClient(config) as client:

        async def connection():
            assert await client.test_connection(), "test_connection returned False"
            return "ok"

        async def versions():
            app = await client.get_application_version()
            platform = await client.get_platform_build_version()
            assert app and platform
            return f"application {app}, platform {platform}"

        async def search():
            found = await client.search_entities("Customer")
            names = [getattr(e, "name", str(e)) for e in found]
            assert any("Customer" in n for n in names), names
            return f"{len(names)} entities match 'Customer'"

        async def schema():
            info = await client.get_public_entity_info("CustomerV3")
            assert info is not None, "no schema for CustomerV3"
            keys = [p.name for p in info.properties if p.is_key]
            assert "CustomerAccount" in keys, keys
            labelled = [p for p in info.properties if getattr(p, "label_text", None)]
            return f"{len(info.properties)} properties, keys {keys}, {len(labelled)} labelled"

        async def enumeration():
            info = await client.get_public_enumeration_info("NoYes")
            assert info is not None, "no enumeration NoYes"
            members = [m.name for m in info.members]
            assert "Yes" in members, members
            return f"members {members}"

        async def label():
            info = await client.get_public_entity_info("CustomerV3", resolve_labels=False)
            label_id = info.label_id
            text = await client.get_label_text(label_id)
            assert text, f"no text for {label_id}"
            return f"{label_id} = {text!r}"

        async def paging():
            seen = 0
            pages = 0
            response = await client.get_entities(
                "CustomersV3",
                QueryOptions(select=["dataAreaId", "CustomerAccount"]),
                skip_validation=True,
            )
            session = await client.session_manager.get_session()
            while True:
                pages += 1
                seen += len(response["value"])
                link = response.get("@odata.nextLink")
                if not link:
                    break
                async with session.get(link) as r:
                    assert r.status == 200, await r.text()
                    response = await r.json()
            assert pages > 1, "expected the simulator to page this query"
            return f"{seen} rows in {pages} pages"

        async def crud():
            key = {"dataAreaId": "usmf", "CustomerAccount": "US-COMPAT-1"}
            created = await client.create_entity(
                "CustomersV3",
                {
                    "dataAreaId": "usmf",
                    "CustomerAccount": "US-COMPAT-1",
                    "OrganizationName": "Compat Check Ltd",
                    "CustomerGroupId": "10",
                    "SalesCurrencyCode": "USD",
                },
            )
            assert created.get("CustomerAccount") == "US-COMPAT-1", created
            await client.update_entity("CustomersV3", key, {"OrganizationName": "Compat Check Renamed"})
            read = await client.get_entity_by_key("CustomersV3", key)
            assert read and read["OrganizationName"] == "Compat Check Renamed", read
            assert await client.delete_entity("CustomersV3", key)
            gone = await client.get_entity_by_key("CustomersV3", key)
            assert gone is None, gone
            return "created, updated, read back, deleted"

        await check("test_connection", connection())
        await check("versions", versions())
        await check("search_entities", search())
        await check("entity schema", schema())
        await check("enumeration", enumeration())
        await check("label", label())
        await check("paging", paging())
        await check("create/update/delete", crud())

    failed = [name for name, ok, _ in RESULTS if not ok]
    print(f"{len(RESULTS) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
