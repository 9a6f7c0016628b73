"""The emulator answers as Notion does for what real pages hold (issue 12, point 9)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from notion_batch.emulator import RunningEmulator
from notion_batch.emulator.realistic import create_realistic_page


async def _call(
    emulator: RunningEmulator,
    method: str,
    path: str,
    *,
    version: str = "2026-03-11",
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {emulator.token}", "Notion-Version": version}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, emulator.url + path, headers=headers, json=body) as answer,
    ):
        return answer.status, await answer.json()


async def test_archived_field_only_before_2026_03_11(emulator: RunningEmulator) -> None:
    created = emulator.state.create_page("P", [{"text": "x"}])

    _, old_page = await _call(emulator, "GET", f"/v1/pages/{created.page_id}", version="2025-09-03")
    _, new_page = await _call(emulator, "GET", f"/v1/pages/{created.page_id}")
    _, old_list = await _call(
        emulator, "GET", f"/v1/blocks/{created.page_id}/children", version="2025-09-03"
    )
    _, new_list = await _call(emulator, "GET", f"/v1/blocks/{created.page_id}/children")

    assert old_page["archived"] is False and old_page["in_trash"] is False
    assert "archived" not in new_page and new_page["in_trash"] is False
    assert "archived" in old_list["results"][0]
    assert "archived" not in new_list["results"][0] and "in_trash" in new_list["results"][0]


async def test_trashed_page_answers_in_trash(emulator: RunningEmulator) -> None:
    created = emulator.state.create_page("P", [{"text": "x"}], in_trash=True)

    _, page = await _call(emulator, "GET", f"/v1/pages/{created.page_id}")

    assert page["in_trash"] is True


async def test_unsupported_and_synced_children(emulator: RunningEmulator) -> None:
    page = create_realistic_page(emulator.state)
    unsupported, unshared_copy = page.unreadable_ids

    status_400, error_400 = await _call(emulator, "GET", f"/v1/blocks/{unsupported}/children")
    status_404, error_404 = await _call(emulator, "GET", f"/v1/blocks/{unshared_copy}/children")
    status_ok, listed = await _call(emulator, "GET", f"/v1/blocks/{page.synced_copy_id}/children")
    _, copy = await _call(emulator, "GET", f"/v1/blocks/{unshared_copy}")

    assert (status_400, error_400["code"]) == (400, "validation_error")
    assert error_400["message"] == (
        "Block type ai_block is not supported via the API for your bot type."
    )
    assert (status_404, error_404["code"]) == (404, "object_not_found")
    assert "Make sure the relevant pages and databases are shared" in error_404["message"]
    assert copy["has_children"] is True  # as Notion says, although listing them fails
    assert copy["synced_block"]["synced_from"]["type"] == "block_id"
    assert status_ok == 200
    assert [b["to_do"]["rich_text"][0]["plain_text"] for b in listed["results"]] == ["synced"]


@pytest.mark.parametrize(
    ("version", "placement"),
    [
        ("2026-03-11", {"position": {"type": "start"}}),
        ("2026-03-11", {"position": {"type": "after_block", "after_block": {"id": "FIRST"}}}),
        ("2025-09-03", {"after": "FIRST"}),
    ],
)
async def test_append_placement_per_version(
    emulator: RunningEmulator, version: str, placement: dict[str, Any]
) -> None:
    created = emulator.state.create_page("P", [{"text": "a"}, {"text": "b"}])
    first = created.block_ids[0]
    body: dict[str, Any] = {
        "children": [{"type": "paragraph", "paragraph": {"rich_text": []}}],
        **{
            k: (v.replace("FIRST", first) if isinstance(v, str) else v)
            for k, v in placement.items()
        },
    }
    if "position" in body and body["position"]["type"] == "after_block":
        body["position"]["after_block"]["id"] = first

    status, _ = await _call(
        emulator, "PATCH", f"/v1/blocks/{created.page_id}/children", version=version, body=body
    )

    assert status == 200
    types = [b["type"] for b in emulator.state.tree(created.page_id)["blocks"]]
    expected_at = 0 if placement.get("position", {}).get("type") == "start" else 1
    assert types.index("paragraph") == expected_at


@pytest.mark.parametrize(
    ("version", "field"), [("2026-03-11", "after"), ("2025-09-03", "position")]
)
async def test_append_placement_of_the_other_version_is_refused(
    emulator: RunningEmulator, version: str, field: str
) -> None:
    created = emulator.state.create_page("P", [{"text": "a"}])
    value: Any = created.block_ids[0] if field == "after" else {"type": "start"}
    body = {"children": [{"type": "paragraph", "paragraph": {"rich_text": []}}], field: value}

    status, error = await _call(
        emulator, "PATCH", f"/v1/blocks/{created.page_id}/children", version=version, body=body
    )

    assert (status, error["code"]) == (400, "validation_error")
    assert f"body.{field}" in error["message"]


async def test_control_api_builds_trash_and_trashed_ancestors(emulator: RunningEmulator) -> None:
    created = emulator.state.create_page(
        "P", [{"type": "toggle", "text": "t", "archived": True, "children": [{"text": "under"}]}]
    )
    toggle, under = created.block_ids

    trash = f"{emulator.url}/_emulator/pages/{created.page_id}/trash"
    async with aiohttp.ClientSession() as session, session.post(trash) as answer:
        assert answer.status == 200
    tree = emulator.state.tree(created.page_id)

    assert tree["archived"] is True
    ancestor = emulator.state.store.trashed_ancestor(under)
    assert ancestor is not None and ancestor.id == toggle
