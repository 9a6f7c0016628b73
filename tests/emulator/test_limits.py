"""Pagination, Notion's size limits, nesting and updates."""

from __future__ import annotations

from typing import Any

import pytest
from notion_client import AsyncClient
from notion_client.errors import APIErrorCode, APIResponseError
from notion_client.helpers import async_collect_paginated_api

from notion_batch.emulator import RunningEmulator


def todo(text: str, **extra: Any) -> dict[str, Any]:
    return {"to_do": {"rich_text": [{"text": {"content": text}}], **extra}}


async def test_pagination_over_250_blocks(emulator: RunningEmulator, notion: AsyncClient) -> None:
    created = emulator.state.create_page("Long", [{"text": f"t{i}"} for i in range(250)])

    first = await notion.blocks.children.list(created.page_id)
    second = await notion.blocks.children.list(created.page_id, start_cursor=first["next_cursor"])
    third = await notion.blocks.children.list(created.page_id, start_cursor=second["next_cursor"])

    assert [len(p["results"]) for p in (first, second, third)] == [100, 100, 50]
    assert first["has_more"] is True
    assert second["has_more"] is True
    assert first["next_cursor"] == created.block_ids[100]
    assert third["has_more"] is False
    assert third["next_cursor"] is None
    everything = await async_collect_paginated_api(
        notion.blocks.children.list, block_id=created.page_id, page_size=30
    )
    assert [b["id"] for b in everything] == list(created.block_ids)


@pytest.mark.parametrize("page_size", [0, 101])
async def test_page_size_out_of_range_is_rejected(
    emulator: RunningEmulator, notion: AsyncClient, page_size: int
) -> None:
    created = emulator.state.create_page("P")

    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.children.list(created.page_id, page_size=page_size)

    assert caught.value.status == 400
    assert caught.value.code == APIErrorCode.ValidationError


async def test_invalid_cursor_is_rejected(emulator: RunningEmulator, notion: AsyncClient) -> None:
    created = emulator.state.create_page("P", [{"text": "a"}])
    stranger = emulator.state.create_page("Q", [{"text": "b"}]).block_ids[0]

    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.children.list(created.page_id, start_cursor=stranger)

    assert caught.value.code == APIErrorCode.ValidationError


async def test_append_at_most_100_children(emulator: RunningEmulator, notion: AsyncClient) -> None:
    created = emulator.state.create_page("Append")

    answer = await notion.blocks.children.append(
        created.page_id, children=[todo(f"t{i}") for i in range(100)]
    )
    assert len(answer["results"]) == 100
    assert answer["has_more"] is False
    assert answer["next_cursor"] is None

    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.children.append(
            created.page_id, children=[todo(f"t{i}") for i in range(101)]
        )
    assert caught.value.status == 400
    assert caught.value.code == APIErrorCode.ValidationError
    assert "100" in str(caught.value)
    assert len(emulator.state.todos(created.page_id)) == 100


async def test_append_with_nested_children(emulator: RunningEmulator, notion: AsyncClient) -> None:
    created = emulator.state.create_page("Nested")
    toggle = {
        "type": "toggle",
        "toggle": {
            "rich_text": [{"text": {"content": "Log"}}],
            "children": [
                {"bulleted_list_item": {"rich_text": [{"text": {"content": f"line {i}"}}]}}
                for i in range(3)
            ],
        },
    }

    answer = await notion.blocks.children.append(created.page_id, children=[toggle, todo("after")])

    assert [b["type"] for b in answer["results"]] == ["toggle", "to_do"]
    assert answer["results"][0]["has_children"] is True
    assert "children" not in answer["results"][0]["toggle"]
    lines = await notion.blocks.children.list(answer["results"][0]["id"])
    assert [b["bulleted_list_item"]["rich_text"][0]["plain_text"] for b in lines["results"]] == [
        "line 0",
        "line 1",
        "line 2",
    ]


async def test_nesting_deeper_than_two_levels_is_rejected(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Deep")
    deep = {"toggle": {"rich_text": [], "children": [{"toggle": {"rich_text": [], "children": [
        {"toggle": {"rich_text": [], "children": [todo("too deep")]}}]}}]}}  # fmt: skip

    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.children.append(created.page_id, children=[deep])

    assert caught.value.code == APIErrorCode.ValidationError


async def test_rich_text_over_2000_characters_is_rejected(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Text")

    ok = await notion.blocks.children.append(created.page_id, children=[todo("x" * 2000)])
    assert ok["results"][0]["to_do"]["rich_text"][0]["plain_text"] == "x" * 2000

    for too_long in ("x" * 2001, "😀" * 1001):  # an emoji counts 2, as in JavaScript
        with pytest.raises(APIResponseError) as caught:
            await notion.blocks.children.append(created.page_id, children=[todo(too_long)])
        assert caught.value.status == 400
        assert caught.value.code == APIErrorCode.ValidationError
        assert "2000" in str(caught.value)


async def test_divider_cannot_take_children(emulator: RunningEmulator, notion: AsyncClient) -> None:
    created = emulator.state.create_page("Div", [{"type": "divider"}])

    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.children.append(created.block_ids[0], children=[todo("x")])

    assert caught.value.code == APIErrorCode.ValidationError


async def test_check_uncheck_and_retext_a_todo(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Upd", [{"text": "Call Bob"}])
    block_id = created.block_ids[0]

    checked = await notion.blocks.update(block_id, to_do={"checked": True})
    assert checked["to_do"]["checked"] is True
    assert checked["last_edited_by"]["id"] != checked["created_by"]["id"]  # the bot, not a person
    renamed = await notion.blocks.update(
        block_id, to_do={"rich_text": [{"text": {"content": "Call Carol"}}]}
    )
    assert renamed["to_do"]["rich_text"][0]["plain_text"] == "Call Carol"
    assert renamed["to_do"]["checked"] is True
    assert emulator.state.todos(created.page_id)[0]["checked"] is True


async def test_update_with_another_type_is_rejected(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Upd", [{"type": "paragraph", "text": "p"}])

    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.update(created.block_ids[0], to_do={"checked": True})

    assert caught.value.code == APIErrorCode.ValidationError


async def test_archived_blocks_leave_lists_but_stay_retrievable(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Arch", [{"text": "a"}, {"text": "b"}])
    first, second = created.block_ids

    archived = await notion.blocks.update(first, archived=True)
    assert archived["archived"] is True
    assert archived["in_trash"] is True

    listed = await notion.blocks.children.list(created.page_id)
    assert [b["id"] for b in listed["results"]] == [second]
    assert (await notion.blocks.retrieve(first))["archived"] is True
    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.update(first, to_do={"checked": True})
    assert caught.value.code == APIErrorCode.ValidationError

    deleted = await notion.blocks.delete(second)
    assert deleted["archived"] is True
    assert (await notion.blocks.children.list(created.page_id))["results"] == []
