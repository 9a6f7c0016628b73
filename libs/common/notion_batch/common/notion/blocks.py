"""Pure builders of the blocks we write to Notion, and the parser that reads our log back.

Every ``text.content`` is cut to Notion's 2,000 characters (counted in UTF-16 code units, as
Notion's JavaScript does) ending "… (cut: N more characters)", so a long handler result or
to-do text never gets a write rejected and the reader knows it was cut.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from notion_batch.common.notion.models import LogLine

MAX_TEXT_LENGTH = 2000
MAX_LINES_PER_CONTAINER = 100
#: Starts the title of every log container we write; how we recognise our own toggles.
LOG_MARKER = "notion-batch log"
RESULT_MARKER = "notion-batch:"
ELLIPSIS = "…"
_ICONS = {"done": "✅", "skipped": "⏭️"}
_ID = r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: A link to a page, optionally scrolled to a block, in every form Notion answers one (FACTS
#: "Links in rich text"; seen: gh/sillsdev/docu-notion#94): absolute
#: ``https://www.notion.so/<id>``, relative ``/<id>``, the newer ``/p/<id>`` and
#: ``https://app.notion.com/p/<id>``; ids with or without dashes, maybe after a
#: ``<workspace>/`` or a ``<Title>-``, maybe with a query, maybe with ``#<block id>``.
_TODO_LINK = re.compile(
    r"^(?:https?://(?:www\.)?notion\.so|https?://app\.notion\.com)?"
    r"/(?:p/)?(?:[^/?#]+/)?(?:[^/?#]*-)?"
    rf"(?P<page>{_ID})/?(?:\?[^#]*)?(?:#(?P<block>{_ID}))?$",
    re.IGNORECASE,
)


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cut_note(more: int) -> str:
    """What ends a cut text: how many characters did not fit."""
    return f"{ELLIPSIS} (cut: {more} more character{'s' if more != 1 else ''})"


def truncate(text: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """``text`` if it fits in ``limit`` UTF-16 units, else its head plus :func:`cut_note` (how
    many characters were left out), within the limit."""
    if len(text) * 2 <= limit or _utf16_length(text) <= limit:
        return text
    # The note for every character left out is the longest the note can be: room for it.
    budget = limit - _utf16_length(cut_note(len(text)))
    used = 0
    for index, char in enumerate(text):
        used += _utf16_units(char)
        if used > budget:
            return text[:index] + cut_note(len(text) - index)
    return text  # pragma: no cover - unreachable: the text was longer than the limit


def text_item(
    content: str, *, link: str | None = None, annotations: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A rich text object as the API receives it, its content truncated."""
    item: dict[str, Any] = {
        "type": "text",
        "text": {"content": truncate(content), "link": {"url": link} if link else None},
    }
    if annotations:
        item["annotations"] = dict(annotations)
    return item


def todo_url(page_id: str, block_id: str) -> str:
    """The link that opens ``page_id`` scrolled to block ``block_id``."""
    return f"https://www.notion.so/{uuid.UUID(page_id).hex}#{uuid.UUID(block_id).hex}"


def log_line_block(line: LogLine, page_id: str) -> dict[str, Any]:
    """``✅ <to-do text, linked to the to-do> — <result>`` as a bulleted list item."""
    rich_text = [
        text_item(f"{_ICONS[line.outcome]} "),
        text_item(line.todo_text or "(untitled to-do)", link=todo_url(page_id, line.todo_block_id)),
        text_item(f" — {line.result}"),
    ]
    return {
        "object": "block",
        "type": "bulleted_list_item",
        "bulleted_list_item": {"rich_text": rich_text},
    }


def log_container(title: str, lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A toggle titled ``notion-batch log · <title>`` holding up to 100 line blocks."""
    if len(lines) > MAX_LINES_PER_CONTAINER:
        raise ValueError(f"a log container holds at most {MAX_LINES_PER_CONTAINER} lines")
    rich_text = [
        text_item(LOG_MARKER, annotations={"bold": True}),
        text_item(f" · {title}"),
    ]
    toggle: dict[str, Any] = {"rich_text": rich_text}
    if lines:
        toggle["children"] = [dict(line) for line in lines]
    return {"object": "block", "type": "toggle", "toggle": toggle}


def todo_result_block(line: LogLine) -> dict[str, Any]:
    """A paragraph to append under the to-do itself: ``✅ notion-batch: <result>``."""
    return {
        "object": "block",
        "type": "paragraph",
        "paragraph": {
            "rich_text": [
                text_item(
                    f"{_ICONS[line.outcome]} {RESULT_MARKER} ",
                    annotations={"italic": True, "color": "gray"},
                ),
                text_item(line.result),
            ]
        },
    }


def _rich_text(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    payload = block.get(str(block.get("type")))
    if not isinstance(payload, Mapping):
        return []
    items = payload.get("rich_text")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def plain_text(block: Mapping[str, Any]) -> str:
    """The text of a block, from API answers (``plain_text``) or our own request shapes."""
    parts: list[str] = []
    for item in _rich_text(block):
        text = item.get("plain_text")
        if text is None and isinstance(item.get("text"), Mapping):
            text = item["text"].get("content")
        parts.append(str(text or ""))
    return "".join(parts)


def is_log_container(block: Mapping[str, Any]) -> bool:
    return block.get("type") == "toggle" and plain_text(block).startswith(LOG_MARKER)


def run_log_title(run_id: int, started: str) -> str:
    """The title of a run's log toggle (after the marker): ``run <id> · <started>``."""
    return f"run {run_id} · {started}"


_RUN_TITLE = re.compile(re.escape(LOG_MARKER) + r" · run (\d+) · ")


def log_container_run(block: Mapping[str, Any]) -> int | None:
    """The run whose log toggle ``block`` is (:func:`run_log_title`), or None."""
    if not is_log_container(block):
        return None
    found = _RUN_TITLE.match(plain_text(block))
    return int(found.group(1)) if found else None


def is_result_block(block: Mapping[str, Any]) -> bool:
    if block.get("type") != "paragraph":
        return False
    head = plain_text(block).split(" ", 2)
    return len(head) >= 2 and head[0] in _ICONS.values() and head[1] == RESULT_MARKER


def _links(item: Mapping[str, Any]) -> Iterable[str]:
    href = item.get("href")
    if isinstance(href, str):
        yield href
    text = item.get("text")
    if isinstance(text, Mapping) and isinstance(text.get("link"), Mapping):
        url = text["link"].get("url")
        if isinstance(url, str):
            yield url


def linked_block_id(url: str) -> str | None:
    """The block a Notion link points to (``#<block>``, else the linked id), or ``None`` when
    ``url`` is not a Notion link."""
    match = _TODO_LINK.match(url.strip())
    if not match:
        return None
    return str(uuid.UUID(match.group("block") or match.group("page")))


def logged_todo_ids(blocks: Iterable[Mapping[str, Any]]) -> set[str]:
    """The to-do ids our log lines link to, in these blocks and their inline children."""
    found: set[str] = set()
    for block in blocks:
        if block.get("type") == "bulleted_list_item":
            for item in _rich_text(block):
                for url in _links(item):
                    todo_id = linked_block_id(url)
                    if todo_id:
                        found.add(todo_id)
        payload = block.get(str(block.get("type")))
        nested = payload.get("children") if isinstance(payload, Mapping) else None
        if isinstance(nested, list):
            found |= logged_todo_ids(b for b in nested if isinstance(b, Mapping))
    return found
