"""Notion's JSON shapes, read through the official SDK."""

from __future__ import annotations

import re
import uuid

from notion_client import AsyncClient

from notion_batch.emulator import RunningEmulator

DASHED = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_rich_text(item: dict[str, object], content: str, href: str | None = None) -> None:
    assert item == {
        "type": "text",
        "text": {"content": content, "link": {"url": href} if href else None},
        "annotations": {
            "bold": False,
            "italic": False,
            "strikethrough": False,
            "underline": False,
            "code": False,
            "color": "default",
        },
        "plain_text": content,
        "href": href,
    }


async def test_page_object(emulator: RunningEmulator, notion: AsyncClient) -> None:
    created = emulator.state.create_page("Groceries list")

    page = await notion.pages.retrieve(created.page_id)

    assert page["object"] == "page"
    assert DASHED.match(page["id"])
    assert page["id"] == created.page_id
    assert ISO.match(page["created_time"])
    assert ISO.match(page["last_edited_time"])
    assert page["archived"] is False
    assert page["in_trash"] is False
    assert page["parent"] == {"type": "workspace", "workspace": True}
    assert page["url"] == f"https://www.notion.so/Groceries-list-{uuid.UUID(page['id']).hex}"
    title = page["properties"]["title"]
    assert title["type"] == "title"
    assert title["id"] == "title"
    assert_rich_text(title["title"][0], "Groceries list")


async def test_ids_are_accepted_undashed_and_answered_dashed_lowercase(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Ids", [{"text": "one"}])
    undashed_upper = uuid.UUID(created.block_ids[0]).hex.upper()

    block = await notion.blocks.retrieve(undashed_upper)

    assert block["id"] == created.block_ids[0]
    page = await notion.pages.retrieve(uuid.UUID(created.page_id).hex)
    assert page["id"] == created.page_id


async def test_block_objects(emulator: RunningEmulator, notion: AsyncClient) -> None:
    created = emulator.state.create_page(
        "Blocks",
        [
            {"type": "to_do", "text": "Buy milk", "checked": True},
            {"type": "toggle", "text": "More", "children": [{"text": "Nested"}]},
        ],
    )
    todo_id, toggle_id, nested_id = created.block_ids

    todo = await notion.blocks.retrieve(todo_id)
    nested = await notion.blocks.retrieve(nested_id)
    toggle = await notion.blocks.retrieve(toggle_id)

    assert todo["object"] == "block"
    assert todo["type"] == "to_do"
    assert todo["parent"] == {"type": "page_id", "page_id": created.page_id}
    assert todo["has_children"] is False
    assert todo["archived"] is False
    assert todo["in_trash"] is False
    assert todo["to_do"]["checked"] is True
    assert todo["to_do"]["color"] == "default"
    assert_rich_text(todo["to_do"]["rich_text"][0], "Buy milk")
    assert {"created_time", "last_edited_time", "created_by", "last_edited_by"} <= todo.keys()
    assert nested["parent"] == {"type": "block_id", "block_id": toggle_id}
    assert toggle["has_children"] is True


async def test_a_page_id_is_a_block_too(emulator: RunningEmulator, notion: AsyncClient) -> None:
    created = emulator.state.create_page("As block", [{"text": "x"}])

    block = await notion.blocks.retrieve(created.page_id)

    assert block["type"] == "child_page"
    assert block["child_page"] == {"title": "As block"}
    assert block["has_children"] is True


async def test_list_object_always_has_cursor_fields(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("List", [{"text": "only"}])

    answer = await notion.blocks.children.list(created.page_id)

    assert answer["object"] == "list"
    assert answer["type"] == "block"
    assert answer["block"] == {}
    assert answer["has_more"] is False
    assert answer["next_cursor"] is None
    assert "request_id" in answer
    assert [b["id"] for b in answer["results"]] == list(created.block_ids)


async def test_empty_container_lists_nothing(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Empty")

    answer = await notion.blocks.children.list(created.page_id)

    assert answer["results"] == []
    assert answer["has_more"] is False


async def test_all_supported_block_types_round_trip(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    page = emulator.state.create_page("Types")
    text = [{"type": "text", "text": {"content": "t", "link": {"url": "https://example.com"}}}]
    children = [
        {"type": kind, kind: {"rich_text": text}}
        for kind in ("paragraph", "bulleted_list_item", "toggle", "heading_1", "heading_2")
    ] + [
        {"heading_3": {"rich_text": text}},
        {"callout": {"rich_text": text}},
        {"to_do": {"rich_text": text, "checked": False}},
        {"divider": {}},
    ]

    answer = await notion.blocks.children.append(page.page_id, children=children)

    kinds = [b["type"] for b in answer["results"]]
    assert kinds == [
        "paragraph", "bulleted_list_item", "toggle", "heading_1", "heading_2", "heading_3",
        "callout", "to_do", "divider",
    ]  # fmt: skip
    assert_rich_text(answer["results"][0]["paragraph"]["rich_text"][0], "t", "https://example.com")
    assert answer["results"][-1]["divider"] == {}
    assert answer["results"][6]["callout"]["icon"] == {"type": "emoji", "emoji": "💡"}
