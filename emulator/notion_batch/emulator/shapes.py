"""Notion's JSON shapes (page, block, list, rich text) built from the store's records."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from notion_batch.emulator.ids import undashed
from notion_batch.emulator.store import BOT_USER_ID, Block, Page, Store
from notion_batch.emulator.versions import has_archived_field

DEFAULT_ANNOTATIONS: dict[str, Any] = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}


def rich_text_item(
    content: str, *, link: str | None = None, annotations: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One full rich text object of type ``text``.

    A link to a Notion page comes back relative, ``/<id>[#<block>]``, as Notion answers an
    inline text link to a page (seen: gh/sillsdev/docu-notion#94; FACTS.md "Links in rich
    text"), whatever form it was written in; other links come back as written.
    """
    link = relative_notion_link(link) if link else link
    return {
        "type": "text",
        "text": {"content": content, "link": {"url": link} if link else None},
        "annotations": {**DEFAULT_ANNOTATIONS, **(annotations or {})},
        "plain_text": content,
        "href": link,
    }


_NOTION_PAGE_LINK = re.compile(
    r"^https?://(?:www\.)?notion\.so/(?P<rest>(?:[0-9a-f]{32}|[0-9a-f-]{36})(?:[?#].*)?)$",
    re.IGNORECASE,
)


def relative_notion_link(url: str) -> str:
    """``https://www.notion.so/<id>…`` as ``/<id>…``; any other link unchanged."""
    match = _NOTION_PAGE_LINK.match(url)
    return f"/{match.group('rest')}" if match else url


def plain_text(rich_text: Sequence[dict[str, Any]]) -> str:
    return "".join(str(item.get("plain_text", "")) for item in rich_text)


def _trash(in_trash: bool) -> dict[str, Any]:
    """``in_trash``, with its deprecated alias ``archived`` only before 2026-03-11
    (developers.notion.com/reference/versioning)."""
    if has_archived_field():
        return {"archived": in_trash, "in_trash": in_trash}
    return {"in_trash": in_trash}


def user(user_id: str) -> dict[str, Any]:
    return {"object": "user", "id": user_id}


def page_url(page: Page) -> str:
    slug = re.sub(r"[^0-9A-Za-z]+", "-", page.title).strip("-")
    return f"https://www.notion.so/{slug + '-' if slug else ''}{undashed(page.id)}"


def page_json(page: Page) -> dict[str, Any]:
    return {
        "object": "page",
        "id": page.id,
        "created_time": page.created_time,
        "last_edited_time": page.last_edited_time,
        "created_by": user(BOT_USER_ID),
        "last_edited_by": user(BOT_USER_ID),
        "cover": None,
        "icon": None,
        "parent": {"type": "workspace", "workspace": True},
        **_trash(page.archived),
        "is_locked": False,
        "properties": {
            "title": {
                "id": "title",
                "type": "title",
                "title": [rich_text_item(page.title)] if page.title else [],
            }
        },
        "url": page_url(page),
        "public_url": None,
    }


def _parent(store: Store, parent_id: str) -> dict[str, Any]:
    if parent_id in store.pages:
        return {"type": "page_id", "page_id": parent_id}
    return {"type": "block_id", "block_id": parent_id}


def block_json(store: Store, block: Block, *, include_archived: bool = False) -> dict[str, Any]:
    return {
        "object": "block",
        "id": block.id,
        "parent": _parent(store, block.parent_id),
        "created_time": block.created_time,
        "last_edited_time": block.last_edited_time,
        "created_by": user(block.created_by),
        "last_edited_by": user(block.last_edited_by),
        "has_children": store.has_children(block, include_archived=include_archived),
        **_trash(block.archived),
        "type": block.type,
        block.type: block.content,
    }


def page_as_block_json(store: Store, page: Page) -> dict[str, Any]:
    """What ``GET /v1/blocks/{page_id}`` answers: the page seen as a ``child_page`` block."""
    return {
        "object": "block",
        "id": page.id,
        "parent": {"type": "workspace", "workspace": True},
        "created_time": page.created_time,
        "last_edited_time": page.last_edited_time,
        "created_by": user(BOT_USER_ID),
        "last_edited_by": user(BOT_USER_ID),
        "has_children": bool(store.children(page.id)),
        **_trash(page.archived),
        "type": "child_page",
        "child_page": {"title": page.title},
    }


def list_json(
    results: list[dict[str, Any]], *, next_cursor: str | None, request_id: str
) -> dict[str, Any]:
    """A list object; ``has_more`` and ``next_cursor`` are always present (null at the end)."""
    return {
        "object": "list",
        "results": results,
        "next_cursor": next_cursor,
        "has_more": next_cursor is not None,
        "type": "block",
        "block": {},
        "request_id": request_id,
    }
