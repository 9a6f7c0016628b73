"""What the emulator refuses on edits and appends, as real Notion does (FACTS.md "Editing
trashed blocks", "Request limits", "Links in rich text")."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from notion_client import AsyncClient
from notion_client.errors import APIErrorCode, APIResponseError, HTTPResponseError

from notion_batch.emulator import RunningEmulator


def todo(text: str) -> dict[str, Any]:
    return {"type": "to_do", "to_do": {"rich_text": [{"text": {"content": text}}]}}


async def test_editing_a_trashed_block_is_refused(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Trash", [{"type": "to_do", "text": "a"}])
    (block,) = created.block_ids
    emulator.state.person_update(block, archived=True)

    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.update(block, to_do={"checked": True})
    assert caught.value.status == 400
    assert caught.value.code == APIErrorCode.ValidationError
    assert str(caught.value) == (
        "Can't edit block that is archived. You must unarchive the block before editing."
    )
    assert emulator.state.todos(created.page_id)[0]["checked"] is False


async def test_editing_a_block_under_a_trashed_ancestor_is_refused(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page(
        "Ancestor",
        [{"type": "toggle", "text": "box", "children": [{"type": "to_do", "text": "inner"}]}],
    )
    toggle = created.blocks[0]
    inner = toggle.children[0].id
    emulator.state.person_update(toggle.id, archived=True)

    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.update(inner, to_do={"checked": True})
    assert caught.value.status == 400
    assert caught.value.code == APIErrorCode.ValidationError
    assert str(caught.value) == (
        "Can't edit page on block with an archived ancestor. "
        "You must unarchive the ancestor before editing page."
    )
    # Restored, the same edit goes through.
    emulator.state.person_update(toggle.id, archived=False)
    answer = await notion.blocks.update(inner, to_do={"checked": True})
    assert answer["to_do"]["checked"] is True


async def test_too_many_children_and_too_long_text_name_the_limit(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Limits")
    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.children.append(
            created.page_id, children=[todo(f"t{i}") for i in range(124)]
        )
    assert caught.value.status == 400
    assert "body.children.length should be ≤ `100`, instead was `124`." in str(caught.value)

    with pytest.raises(APIResponseError) as caught:
        await notion.blocks.children.append(created.page_id, children=[todo("x" * 2001)])
    assert caught.value.status == 400
    assert "rich_text[0].text.content.length should be ≤ `2000`, instead was `2001`." in str(
        caught.value
    )


async def test_a_body_over_500_kb_is_refused_with_413(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Big")
    # 100 children of 1,800 Korean characters: within every count, over 500 KB in UTF-8.
    children = [todo("가" * 1800) for _ in range(100)]
    encoded = json.dumps({"children": children}, ensure_ascii=False).encode()
    assert len(encoded) > 500_000
    # notion-client has no class for 413: it raises its UnknownHTTPResponseError.
    with pytest.raises(HTTPResponseError) as caught:
        await notion.blocks.children.append(created.page_id, children=children)
    assert caught.value.status == 413
    assert emulator.state.todos(created.page_id) == []

    # Just under the limit is taken.
    fits = children[: 500_000 // (1800 * 3 + 100)]
    answer = await notion.blocks.children.append(created.page_id, children=fits)
    assert len(answer["results"]) == len(fits)


async def test_links_to_notion_pages_come_back_relative(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    created = emulator.state.create_page("Links")
    page, block = uuid.uuid4().hex, uuid.uuid4().hex
    absolute = f"https://www.notion.so/{page}#{block}"
    line = {
        "type": "bulleted_list_item",
        "bulleted_list_item": {
            "rich_text": [
                {"text": {"content": "a", "link": {"url": absolute}}},
                {"text": {"content": "b", "link": {"url": "https://example.com/x"}}},
            ]
        },
    }
    answer = await notion.blocks.children.append(created.page_id, children=[line])
    first, second = answer["results"][0]["bulleted_list_item"]["rich_text"]
    assert first["href"] == f"/{page}#{block}"
    assert first["text"]["link"] == {"url": f"/{page}#{block}"}
    assert second["href"] == "https://example.com/x"
