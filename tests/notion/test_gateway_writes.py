"""Checking to-dos and appending blocks, counted in the emulator's request log."""

from __future__ import annotations

from notion_batch.common.notion import (
    LogLine,
    NotionGateway,
    is_log_container,
    log_container,
    log_line_block,
    logged_todo_ids,
    todo_result_block,
)
from notion_batch.common.notion.blocks import is_result_block
from notion_batch.emulator import RunningEmulator


async def test_check_todo_is_one_call_and_idempotent(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("Check", [{"text": "a"}, {"text": "b"}])

    await gateway.check_todo(created.block_ids[0])
    await gateway.check_todo(created.block_ids[0].replace("-", ""))

    assert [t["checked"] for t in emulator.state.todos(created.page_id)] == [True, False]
    calls = emulator.state.requests.query(operation="update_block")
    assert [c.status for c in calls] == [200, 200]


async def test_append_250_blocks_in_three_calls(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("Append")
    blocks = [
        {"type": "paragraph", "paragraph": {"rich_text": [{"text": {"content": f"p{i}"}}]}}
        for i in range(250)
    ]

    ids = await gateway.append_blocks(created.page_id, blocks)

    tree = emulator.state.tree(created.page_id)["blocks"]
    assert ids == [b["id"] for b in tree]
    assert [b["text"] for b in tree] == [f"p{i}" for i in range(250)]
    assert len(emulator.state.requests.query(operation="append_children")) == 3


async def test_append_splits_on_the_1000_block_request_limit(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("Logs")
    line = log_line_block(LogLine(created.page_id, "x", "done", "ok"), created.page_id)
    containers = [log_container(f"tick {i}", [line] * 100) for i in range(20)]  # 101 blocks each

    ids = await gateway.append_blocks(created.page_id, containers)

    assert len(ids) == 20
    assert len(emulator.state.requests.query(operation="append_children")) == 3  # 9 + 9 + 2


async def test_append_nothing_makes_no_call(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("Nothing")

    assert await gateway.append_blocks(created.page_id, []) == []
    assert emulator.state.requests.query() == []


async def test_page_log_round_trip(emulator: RunningEmulator, gateway: NotionGateway) -> None:
    created = emulator.state.create_page("Log", [{"text": "first"}, {"text": "second"}])
    lines = [
        LogLine(created.block_ids[0], "first", "done", "did it " + "x" * 3000),
        LogLine(created.block_ids[1], "second", "skipped", "not today"),
    ]

    [container_id] = await gateway.append_blocks(
        created.page_id,
        [log_container("tick 1", [log_line_block(line, created.page_id) for line in lines])],
    )

    top = await gateway.list_child_blocks(created.page_id)
    containers = [b for b in top if is_log_container(b)]
    assert [b["id"] for b in containers] == [container_id]
    children = await gateway.list_child_blocks(container_id)
    assert logged_todo_ids(children) == set(created.block_ids)
    texts = [
        "".join(t["plain_text"] for t in c["bulleted_list_item"]["rich_text"]) for c in children
    ]
    assert texts[1] == "⏭️ second — not today"
    assert texts[0].startswith("✅ first — did it xxx")
    assert texts[0].endswith("… (cut: 1039 more characters)")  # a cut line says so
    # The to-dos on the page are still found, the log is not read as content.
    todos = await gateway.list_todos(created.page_id, skip_block_ids=[container_id])
    assert [t.text for t in todos] == ["first", "second"]


async def test_result_under_the_todo(emulator: RunningEmulator, gateway: NotionGateway) -> None:
    created = emulator.state.create_page("Result", [{"text": "task"}])
    todo_id = created.block_ids[0]

    await gateway.append_blocks(
        todo_id, [todo_result_block(LogLine(todo_id, "task", "done", "42"))]
    )

    children = await gateway.list_child_blocks(todo_id)
    assert len(children) == 1
    assert is_result_block(children[0])
    todos = await gateway.list_todos(created.page_id)
    assert [t.text for t in todos] == ["task"]
