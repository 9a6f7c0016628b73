"""Validation of the blocks clients send, into drafts the store can hold.

Notion's limits are enforced with Notion's kind of messages: ≤ 100 children per append, ≤ 1,000
blocks per request, two levels of nesting, rich text ``content`` ≤ 2,000 characters counted as
JavaScript does (UTF-16 code units), ≤ 100 rich text items per array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from notion_batch.emulator.errors import validation_error
from notion_batch.emulator.ids import canonical_id
from notion_batch.emulator.shapes import rich_text_item

MAX_CHILDREN = 100
MAX_BLOCKS_PER_REQUEST = 1000
MAX_TEXT_LENGTH = 2000
MAX_RICH_TEXT_ITEMS = 100
#: Notion accepts children of children in one request, no deeper.
MAX_NESTING = 2

TEXT_TYPES = frozenset(
    {
        "paragraph",
        "bulleted_list_item",
        "numbered_list_item",
        "toggle",
        "quote",
        "to_do",
        "callout",
        "heading_1",
        "heading_2",
        "heading_3",
    }
)
SUPPORTED_TYPES = TEXT_TYPES | {"divider"}
#: Types that only the control API creates, to build pages as real workspaces hold them
#: (developers.notion.com/reference/block): child pages and databases (a title only, their
#: content is another page's); ``column_list`` → ``column`` → children; ``synced_block``
#: originals (``synced_from: null``) and copies (``synced_from: {type: "block_id",
#: block_id}``); ``template`` (cannot be created since 2023-03-27, old pages still hold them);
#: ``unsupported`` (``{"block_type": "button"}``: a type the API does not serve, as
#: notion-sdk-js's blocks.ts types it).
CONTROL_ONLY_TYPES = frozenset(
    {
        "child_page",
        "child_database",
        "column_list",
        "column",
        "synced_block",
        "template",
        "unsupported",
    }
)
_PARENT_TYPES = frozenset(
    {
        "paragraph",
        "bulleted_list_item",
        "numbered_list_item",
        "toggle",
        "quote",
        "to_do",
        "callout",
        "column_list",
        "column",
        "synced_block",
        "template",
        "unsupported",
    }
)


@dataclass
class BlockDraft:
    type: str
    content: dict[str, Any]
    children: list[BlockDraft] = field(default_factory=list)
    archived: bool = False

    def count(self) -> int:
        return 1 + sum(child.count() for child in self.children)


def can_have_children(block_type: str, content: dict[str, Any]) -> bool:
    if block_type in _PARENT_TYPES or block_type == "child_page":
        return True
    return block_type.startswith("heading_") and bool(content.get("is_toggleable"))


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_rich_text(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise validation_error(f"{where} should be an array, instead was `{_kind(value)}`.")
    if len(value) > MAX_RICH_TEXT_ITEMS:
        raise validation_error(
            f"{where}.length should be ≤ `{MAX_RICH_TEXT_ITEMS}`, instead was `{len(value)}`."
        )
    return [_parse_rich_text_item(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _parse_rich_text_item(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise validation_error(f"{where} should be an object, instead was `{_kind(item)}`.")
    if item.get("type", "text") != "text" or not isinstance(item.get("text"), dict):
        raise validation_error(f"{where}.text should be defined, instead was `undefined`.")
    content = item["text"].get("content")
    if not isinstance(content, str):
        raise validation_error(
            f"{where}.text.content should be a string, instead was `{_kind(content)}`."
        )
    length = utf16_length(content)
    if length > MAX_TEXT_LENGTH:
        raise validation_error(
            f"{where}.text.content.length should be ≤ `{MAX_TEXT_LENGTH}`, instead was `{length}`."
        )
    link = item["text"].get("link")
    url: str | None = None
    if link is not None:
        if not isinstance(link, dict) or not isinstance(link.get("url"), str):
            raise validation_error(f"{where}.text.link.url should be a string.")
        url = link["url"]
    annotations = item.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise validation_error(f"{where}.annotations should be an object.")
    return rich_text_item(content, link=url, annotations=annotations)


def _content(block_type: str, payload: dict[str, Any], where: str) -> dict[str, Any]:
    if block_type in ("divider", "column_list", "column"):
        return {}
    if block_type in ("child_page", "child_database"):
        return {"title": str(payload.get("title", ""))}
    if block_type == "unsupported":
        return {"block_type": str(payload.get("block_type", "button"))}
    if block_type == "synced_block":
        origin = payload.get("synced_from")
        if origin is None:
            return {"synced_from": None}
        raw = origin.get("block_id") if isinstance(origin, dict) else origin
        if not isinstance(raw, str):
            raise validation_error(f"{where}.synced_from.block_id should be a string.")
        return {"synced_from": {"type": "block_id", "block_id": canonical_id(raw, where=where)}}
    content: dict[str, Any] = {
        "rich_text": parse_rich_text(payload.get("rich_text", []), f"{where}.rich_text"),
    }
    if block_type == "to_do":
        checked = payload.get("checked", False)
        if not isinstance(checked, bool):
            raise validation_error(f"{where}.checked should be a boolean.")
        content["checked"] = checked
    if block_type.startswith("heading_"):
        content["is_toggleable"] = bool(payload.get("is_toggleable", False))
    if block_type == "callout":
        content["icon"] = payload.get("icon") or {"type": "emoji", "emoji": "💡"}
    content["color"] = str(payload.get("color", "default"))
    return content


def _block_type(obj: dict[str, Any], where: str, allowed: frozenset[str]) -> str:
    declared = obj.get("type")
    if declared is None:
        present = [key for key in obj if key in allowed]
        if len(present) != 1:
            raise validation_error(f"{where} should have exactly one block type property.")
        declared = present[0]
    if not isinstance(declared, str) or declared not in allowed:
        raise validation_error(f"{where}.type `{declared}` is not a supported block type.")
    if not isinstance(obj.get(declared), dict):
        raise validation_error(f"{where}.{declared} should be defined, instead was `undefined`.")
    return declared


def parse_block(
    obj: Any, where: str, *, depth: int = 0, allowed: frozenset[str] = SUPPORTED_TYPES
) -> BlockDraft:
    """Parse one block object as Notion's append endpoint receives it."""
    if not isinstance(obj, dict):
        raise validation_error(f"{where} should be an object, instead was `{_kind(obj)}`.")
    block_type = _block_type(obj, where, allowed)
    payload: dict[str, Any] = obj[block_type]
    content = _content(block_type, payload, f"{where}.{block_type}")
    # Notion documents children inside the type object; the top-level spelling is tolerated.
    nested = payload.get("children", obj.get("children"))
    draft = BlockDraft(type=block_type, content=content)
    if nested is not None:
        if depth >= MAX_NESTING:
            raise validation_error(f"{where}.{block_type}.children: too many levels of nesting.")
        if not can_have_children(block_type, content):
            raise validation_error(f"{where}: block type `{block_type}` cannot have children.")
        draft.children = parse_children(
            nested, f"{where}.{block_type}.children", depth=depth + 1, allowed=allowed
        )
    return draft


def parse_children(
    value: Any, where: str, *, depth: int = 0, allowed: frozenset[str] = SUPPORTED_TYPES
) -> list[BlockDraft]:
    if not isinstance(value, list):
        raise validation_error(f"{where} should be an array, instead was `{_kind(value)}`.")
    if len(value) > MAX_CHILDREN:
        raise validation_error(
            f"{where}.length should be ≤ `{MAX_CHILDREN}`, instead was `{len(value)}`."
        )
    return [
        parse_block(item, f"{where}[{i}]", depth=depth, allowed=allowed)
        for i, item in enumerate(value)
    ]


def parse_append_body(body: dict[str, Any]) -> list[BlockDraft]:
    """The ``children`` of a ``PATCH /v1/blocks/{id}/children`` body, validated."""
    if "children" not in body:
        raise validation_error("body.children should be defined, instead was `undefined`.")
    drafts = parse_children(body["children"], "body.children")
    total = sum(d.count() for d in drafts)
    if total > MAX_BLOCKS_PER_REQUEST:
        raise validation_error(
            f"body.children: a request may create at most {MAX_BLOCKS_PER_REQUEST} blocks, "
            f"this one creates {total}."
        )
    return drafts


def parse_update(body: dict[str, Any], block_type: str) -> tuple[dict[str, Any], bool | None]:
    """The content fields and the archived flag a ``PATCH /v1/blocks/{id}`` body asks to change."""
    archived: bool | None = None
    for key in ("archived", "in_trash"):
        if key in body:
            if not isinstance(body[key], bool):
                raise validation_error(f"body.{key} should be a boolean.")
            archived = body[key]
    patch: dict[str, Any] = {}
    for other in SUPPORTED_TYPES - {block_type}:
        if other in body:
            raise validation_error(
                f"body.{other}: `{other}` does not match the block's type `{block_type}`."
            )
    payload = body.get(block_type)
    if payload is None:
        return patch, archived
    if not isinstance(payload, dict):
        raise validation_error(f"body.{block_type} should be an object.")
    where = f"body.{block_type}"
    if "rich_text" in payload:
        patch["rich_text"] = parse_rich_text(payload["rich_text"], f"{where}.rich_text")
    if "checked" in payload:
        if block_type != "to_do" or not isinstance(payload["checked"], bool):
            raise validation_error(f"{where}.checked should be a boolean on a to_do block.")
        patch["checked"] = payload["checked"]
    if "color" in payload:
        patch["color"] = str(payload["color"])
    return patch, archived


def _shorthand_payload(block_type: str, node: dict[str, Any], text: str) -> dict[str, Any]:
    """The type object a shorthand control node stands for."""
    if block_type in ("child_page", "child_database"):
        return {"title": node.get("title", text)}
    if block_type == "unsupported":
        return {"block_type": node.get("block_type", "button")}
    if block_type == "synced_block":
        return {"synced_from": node.get("synced_from")}
    payload: dict[str, Any] = {"rich_text": [{"text": {"content": text}}] if text else []}
    if block_type == "to_do":
        payload["checked"] = bool(node.get("checked", False))
    return payload


def parse_control_node(node: Any, where: str) -> BlockDraft:
    """A node of the control API's page tree: a shorthand or a full Notion block object.

    Shorthand: ``{"type": "to_do", "text": "…", "checked": false, "archived": false,
    "title": "…" (child_page, child_database), "synced_from": "<block id>" (a synced_block
    copy; without it an original), "block_type": "ai_block" (unsupported), "children": […]}``;
    ``type`` defaults to ``to_do``. Nesting is unlimited here: the control API builds pages as
    a person would.
    """
    if not isinstance(node, dict):
        raise validation_error(f"{where} should be an object.")
    allowed = SUPPORTED_TYPES | CONTROL_ONLY_TYPES
    block_type = str(node.get("type", "to_do"))
    if isinstance(node.get(block_type), dict):
        stripped = {k: v for k, v in node.items() if k not in ("children", "archived")}
        stripped[block_type] = {k: v for k, v in node[block_type].items() if k != "children"}
        draft = parse_block(stripped, where, allowed=allowed)
    else:
        if block_type not in allowed:
            raise validation_error(f"{where}.type `{block_type}` is not a supported block type.")
        text = node.get("text", "")
        if not isinstance(text, str):
            raise validation_error(f"{where}.text should be a string.")
        payload = _shorthand_payload(block_type, node, text)
        draft = BlockDraft(type=block_type, content=_content(block_type, payload, where))
    children = node.get("children")
    if children is None and isinstance(node.get(block_type), dict):
        children = node[block_type].get("children")
    if children:
        if not isinstance(children, list):
            raise validation_error(f"{where}.children should be an array.")
        if block_type.startswith("heading_"):
            draft.content["is_toggleable"] = True
        if not can_have_children(draft.type, draft.content):
            raise validation_error(f"{where}: block type `{draft.type}` cannot have children.")
        draft.children = [
            parse_control_node(child, f"{where}.children[{i}]") for i, child in enumerate(children)
        ]
    draft.archived = bool(node.get("archived", False))
    return draft


def _kind(value: Any) -> str:
    if value is None:
        return "undefined"
    return type(value).__name__


__all__ = [
    "BlockDraft",
    "can_have_children",
    "parse_append_body",
    "parse_block",
    "parse_children",
    "parse_control_node",
    "parse_rich_text",
    "parse_update",
    "utf16_length",
]
