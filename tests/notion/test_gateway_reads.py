"""Reading pages and to-dos: document order, nesting, pagination, what is skipped."""

from __future__ import annotations

from datetime import datetime

import pytest

from notion_batch.common.notion import NotionGateway, PageInfo, TodoBlock
from notion_batch.emulator import EmulatorConfig, RunningEmulator


async def test_retrieve_page(emulator: RunningEmulator, gateway: NotionGateway) -> None:
    created = emulator.state.create_page("Weekly chores")

    page = await gateway.retrieve_page(created.page_id.replace("-", "").upper())

    stamp = emulator.state.store.pages[created.page_id].last_edited_time
    assert page == PageInfo(
        id=created.page_id,
        title="Weekly chores",
        url=created.url,
        archived=False,
        last_edited_time=datetime.fromisoformat(stamp),
    )
    assert page.last_edited_time is not None and page.last_edited_time.tzinfo is not None


async def test_nested_todos_in_document_order(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    two_parts = {
        "type": "to_do",
        "to_do": {
            "rich_text": [{"text": {"content": "Call "}}, {"text": {"content": "Alice"}}],
            "checked": True,
        },
    }
    created = emulator.state.create_page(
        "Tree",
        [
            {"text": "A"},
            {"type": "toggle", "text": "T", "children": [
                {"text": "B"},
                {"type": "bulleted_list_item", "text": "L", "children": [{"text": "C"}]},
            ]},
            {"text": "D", "children": [{"text": "E"}]},
            {"type": "child_page", "title": "Sub", "children": [{"text": "not ours"}]},
            {"type": "paragraph", "text": "just text"},
            two_parts,
        ],
    )  # fmt: skip
    ids = dict(
        zip(["A", "T", "B", "L", "C", "D", "E", "S", "F", "P", "G"], created.block_ids, strict=True)
    )

    todos = await gateway.list_todos(created.page_id)

    assert todos == [
        TodoBlock(ids["A"], created.page_id, "A", False, 0),
        TodoBlock(ids["B"], ids["T"], "B", False, 1),
        TodoBlock(ids["C"], ids["L"], "C", False, 2),
        TodoBlock(ids["D"], created.page_id, "D", False, 3),
        TodoBlock(ids["E"], ids["D"], "E", False, 4),
        TodoBlock(ids["G"], created.page_id, "Call Alice", True, 5),
    ]
    listed = {
        r.path.rsplit("/", 2)[1] for r in emulator.state.requests.query(operation="list_children")
    }
    assert ids["S"] not in listed  # a child page is another page's content


async def test_follows_pagination_everywhere(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    nested = {"type": "toggle", "text": "More", "children": [{"text": f"n{i}"} for i in range(120)]}
    created = emulator.state.create_page("Big", [*({"text": f"t{i}"} for i in range(250)), nested])

    todos = await gateway.list_todos(created.page_id)

    assert len(todos) == 370
    assert [t.text for t in todos[248:252]] == ["t248", "t249", "n0", "n1"]
    assert [t.position for t in todos] == list(range(370))
    calls = emulator.state.requests.query(operation="list_children")
    assert len(calls) == 3 + 2  # 251 top-level blocks, 120 in the toggle
    assert all("page_size=100" in c.query for c in calls)


async def test_skip_block_ids_are_not_descended(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page(
        "Skip",
        [
            {"text": "mine"},
            {"type": "toggle", "text": "notion-batch log", "children": [{"text": "inside log"}]},
            {"text": "skipped to-do", "children": [{"text": "under skipped"}]},
        ],
    )
    mine, log_toggle, _, skipped_todo, _ = created.block_ids

    todos = await gateway.list_todos(
        created.page_id, skip_block_ids=[log_toggle.replace("-", ""), skipped_todo]
    )

    assert [t.block_id for t in todos] == [mine]
    assert len(emulator.state.requests.query(operation="list_children")) == 1


@pytest.mark.parametrize(
    "emulator_config",
    # Notion leaves archived blocks out of lists; the gateway must not rely on it.
    [EmulatorConfig(rate_limit=None), EmulatorConfig(rate_limit=None, list_archived=True)],
)
async def test_archived_blocks_are_ignored(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page(
        "Arch",
        [
            {"text": "kept"},
            {"text": "gone", "archived": True},
            {"type": "toggle", "text": "gone too", "archived": True, "children": [{"text": "x"}]},
        ],
    )

    todos = await gateway.list_todos(created.page_id)

    assert [t.text for t in todos] == ["kept"]


async def test_list_child_blocks_pages_through(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page(
        "Children", [{"type": "paragraph", "text": f"p{i}"} for i in range(150)]
    )

    blocks = await gateway.list_child_blocks(created.page_id)

    assert [b["id"] for b in blocks] == list(created.block_ids)
    assert len(emulator.state.requests.query(operation="list_children")) == 2
