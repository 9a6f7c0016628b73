"""The control API over HTTP, as the end-to-end suite and demos use it."""

from __future__ import annotations

import httpx
from notion_client import AsyncClient

from notion_batch.emulator import DEMO_PAGE_ID, EmulatorConfig, RunningEmulator, run_emulator
from notion_batch.emulator.demo import REAL_DEMO_PAGE_ID, REAL_DEMO_TITLE


async def test_create_page_and_read_its_tree(http: httpx.AsyncClient) -> None:
    created = await http.post(
        "/_emulator/pages",
        json={
            "title": "Chores",
            "children": [
                {"text": "Dishes"},
                {"text": "Laundry", "checked": True},
                {"type": "toggle", "text": "Later", "children": [{"text": "Windows"}]},
            ],
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert [b["text"] for b in body["blocks"]] == ["Dishes", "Laundry", "Later"]
    assert body["blocks"][2]["children"][0]["text"] == "Windows"
    assert len(body["block_ids"]) == 4

    tree = (await http.get(f"/_emulator/pages/{body['page_id']}")).json()
    assert tree["title"] == "Chores"
    assert tree["shared"] is True
    assert [(b["type"], b["text"], b.get("checked")) for b in tree["blocks"]] == [
        ("to_do", "Dishes", False),
        ("to_do", "Laundry", True),
        ("toggle", "Later", None),
    ]
    assert tree["blocks"][2]["children"][0]["id"] == body["block_ids"][3]

    todos = (await http.get(f"/_emulator/pages/{body['page_id']}/todos")).json()["todos"]
    assert [t["text"] for t in todos] == ["Dishes", "Laundry", "Windows"]


async def test_create_page_with_a_fixed_id(http: httpx.AsyncClient) -> None:
    page_id = "11111111-2222-4333-8444-555555555555"
    created = await http.post(
        "/_emulator/pages", json={"title": "Fixed", "id": page_id.replace("-", "")}
    )
    assert created.json()["page_id"] == page_id
    again = await http.post("/_emulator/pages", json={"title": "Again", "id": page_id})
    assert again.status_code == 409


async def test_person_edits_are_not_recorded(
    emulator: RunningEmulator, http: httpx.AsyncClient, notion: AsyncClient
) -> None:
    page = emulator.state.create_page("P", [{"text": "a"}, {"text": "b"}])
    await notion.pages.retrieve(page.page_id)

    checked = await http.patch(f"/_emulator/blocks/{page.block_ids[0]}", json={"checked": True})
    archived = await http.patch(f"/_emulator/blocks/{page.block_ids[1]}", json={"archived": True})
    added = await http.post(
        f"/_emulator/blocks/{page.page_id}/children", json={"children": [{"text": "c"}]}
    )

    assert checked.json()["to_do"]["checked"] is True
    assert archived.json()["archived"] is True
    assert added.status_code == 201
    todos = emulator.state.todos(page.page_id)
    assert [(t["text"], t["checked"], t["archived"]) for t in todos] == [
        ("a", True, False),
        ("b", False, True),
        ("c", False, False),
    ]
    log = (await http.get("/_emulator/requests")).json()
    assert log["count"] == 1
    assert log["requests"][0]["operation"] == "retrieve_page"


async def test_requests_log_filters_and_clear(
    emulator: RunningEmulator, http: httpx.AsyncClient, notion: AsyncClient
) -> None:
    page = emulator.state.create_page("P", [{"text": "a"}])
    await notion.pages.retrieve(page.page_id)
    await notion.blocks.children.list(page.page_id)
    await notion.blocks.update(page.block_ids[0], to_do={"checked": True})

    everything = (await http.get("/_emulator/requests")).json()
    patches = (await http.get("/_emulator/requests", params={"method": "PATCH"})).json()
    lists = (await http.get("/_emulator/requests", params={"operation": "list_children"})).json()

    assert everything["count"] == 3
    first = everything["requests"][0]
    assert first["method"] == "GET"
    assert first["status"] == 200
    assert first["token"] == emulator.token
    assert first["path"] == f"/v1/pages/{page.page_id}"
    monotonic = [r["monotonic"] for r in everything["requests"]]
    assert monotonic == sorted(monotonic)
    assert patches["count"] == 1
    assert patches["requests"][0]["operation"] == "update_block"
    assert lists["count"] == 1
    assert "page_size=100" not in lists["requests"][0]["query"]

    await http.delete("/_emulator/requests")
    assert (await http.get("/_emulator/requests")).json()["count"] == 0


async def test_faults_over_http(
    emulator: RunningEmulator, http: httpx.AsyncClient, notion: AsyncClient
) -> None:
    added = await http.post("/_emulator/faults", json={"status": 503, "count": 1, "method": "GET"})
    assert added.status_code == 201
    fault = added.json()
    assert fault["code"] == "service_unavailable"
    assert fault["id"] >= 1
    listed = (await http.get("/_emulator/faults")).json()["faults"]
    assert [f["id"] for f in listed] == [fault["id"]]

    assert (await http.delete(f"/_emulator/faults/{fault['id']}")).status_code == 200
    assert (await http.get("/_emulator/faults")).json()["faults"] == []
    assert (await http.delete("/_emulator/faults/999")).status_code == 404

    bad = await http.post("/_emulator/faults", json={"status": 418})
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_error"
    unknown_field = await http.post("/_emulator/faults", json={"status": 500, "colour": "red"})
    assert unknown_field.status_code == 400

    await http.post("/_emulator/faults", json={"latency": 0.01})
    assert (await http.delete("/_emulator/faults")).status_code == 200
    assert (await http.get("/_emulator/faults")).json()["faults"] == []


async def test_rate_limit_over_http(http: httpx.AsyncClient) -> None:
    assert (await http.get("/_emulator/rate-limit")).json() == {"rate": None, "burst": 3}

    changed = await http.put("/_emulator/rate-limit", json={"rate": 5, "burst": 2})
    assert changed.json() == {"rate": 5.0, "burst": 2}
    off = await http.put("/_emulator/rate-limit", json={"rate": None})
    assert off.json() == {"rate": None, "burst": 2}
    assert (await http.put("/_emulator/rate-limit", json={"rate": -1})).status_code == 400


async def test_share_unshare_over_http(emulator: RunningEmulator, http: httpx.AsyncClient) -> None:
    page = emulator.state.create_page("P")

    assert (await http.post(f"/_emulator/pages/{page.page_id}/unshare")).json() == {"shared": False}
    assert (await http.get(f"/_emulator/pages/{page.page_id}")).json()["shared"] is False
    assert (await http.post(f"/_emulator/pages/{page.page_id}/share")).json() == {"shared": True}


async def test_control_errors_use_notion_shape(http: httpx.AsyncClient) -> None:
    missing = await http.get("/_emulator/pages/0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b0b")
    invalid = await http.post(
        "/_emulator/pages", content=b"{", headers={"Content-Type": "application/json"}
    )

    assert missing.status_code == 404
    assert missing.json()["code"] == "object_not_found"
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "invalid_json"
    assert (await http.get("/_emulator/health")).json() == {"status": "ok"}


async def test_demo_page_and_reset() -> None:
    async with run_emulator(EmulatorConfig(rate_limit=None, demo=True)) as emulator:
        todos = emulator.state.todos(DEMO_PAGE_ID)
        assert 10 <= len(todos) <= 14
        assert sum(t["checked"] for t in todos) == 1
        tree = emulator.state.tree(DEMO_PAGE_ID)
        assert tree["title"] == "notion-batch demo"
        toggles = [b for b in tree["blocks"] if b["type"] == "toggle"]
        assert toggles
        assert all(c["type"] == "to_do" for c in toggles[0]["children"])

        extra = emulator.state.create_page("Extra")
        emulator.state.person_update(todos[0]["id"], checked=True)
        async with httpx.AsyncClient(base_url=emulator.url) as http:
            assert (await http.post("/_emulator/reset")).json() == {"reset": True}

        assert extra.page_id not in emulator.state.store.pages
        assert sum(t["checked"] for t in emulator.state.todos(DEMO_PAGE_ID)) == 1


async def test_a_realistic_page_over_http(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> None:
    created = await http.post("/_emulator/pages/realistic", json={"title": "Real"})

    assert created.status_code == 201
    body = created.json()
    tree = emulator.state.tree(body["page_id"])
    assert tree["title"] == "Real"
    assert body["url"] == tree["url"]
    todos = {t["text"] for t in emulator.state.todos(body["page_id"])}
    assert set(body["live_todos"]) <= todos
    assert "synced" in body["live_todos"] and "template" in body["other_todos"]
    types = {b["id"]: b["type"] for b in tree["blocks"]}
    assert [types[i] for i in body["unreadable_ids"]] == ["unsupported", "synced_block"]
    assert types[body["synced_copy_id"]] == types[body["synced_original_id"]] == "synced_block"
    # Without a body: a default title, a fresh page each time.
    again = (await http.post("/_emulator/pages/realistic")).json()
    assert again["page_id"] != body["page_id"]
    assert emulator.state.tree(again["page_id"])["title"] == "A real page"


async def test_the_demo_holds_a_realistic_page_too() -> None:
    async with run_emulator(EmulatorConfig(rate_limit=None, demo=True)) as emulator:
        tree = emulator.state.tree(REAL_DEMO_PAGE_ID)
        assert tree["title"] == REAL_DEMO_TITLE
        types = {b["type"] for b in tree["blocks"]}
        assert {"unsupported", "synced_block", "column_list", "template", "child_page"} <= types
        async with httpx.AsyncClient(base_url=emulator.url) as http:
            await http.post("/_emulator/reset")
        assert emulator.state.tree(REAL_DEMO_PAGE_ID)["title"] == REAL_DEMO_TITLE


async def test_the_request_log_keeps_the_last_requests_and_counts_the_dropped(
    emulator: RunningEmulator, http: httpx.AsyncClient, notion: AsyncClient
) -> None:
    log = emulator.state.requests
    emulator.state.requests = type(log)(limit=3)
    try:
        page = emulator.state.create_page("P", [{"text": "a"}])
        for _ in range(5):
            await notion.pages.retrieve(page.page_id)
        await notion.blocks.children.list(page.page_id)
        answer = (await http.get("/_emulator/requests")).json()
        assert answer["count"] == 3
        assert answer["dropped"] == 3
        assert answer["requests"][-1]["operation"] == "list_children"
        await http.delete("/_emulator/requests")
        assert (await http.get("/_emulator/requests")).json()["dropped"] == 0
    finally:
        emulator.state.requests = log
