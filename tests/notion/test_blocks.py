"""The block builders and the log parser, pure."""

from __future__ import annotations

import uuid

import pytest

from notion_batch.common.notion import (
    LOG_MARKER,
    LogLine,
    is_log_container,
    is_result_block,
    log_container,
    log_line_block,
    logged_todo_ids,
    todo_result_block,
    truncate,
)
from notion_batch.common.notion.blocks import MAX_TEXT_LENGTH, todo_url

PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
TODO = "12345678-9abc-4def-8123-456789abcdef"


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def contents(block: dict[str, object]) -> list[str]:
    payload = block[str(block["type"])]
    assert isinstance(payload, dict)
    return [item["text"]["content"] for item in payload["rich_text"]]


def test_truncate_keeps_what_fits() -> None:
    assert truncate("x" * MAX_TEXT_LENGTH) == "x" * MAX_TEXT_LENGTH
    assert truncate("short") == "short"


def test_truncate_cuts_and_says_how_much_was_cut() -> None:
    cut = truncate("x" * 5000)
    assert len(cut) == MAX_TEXT_LENGTH
    assert cut == "x" * 1971 + "… (cut: 3029 more characters)"


def test_truncate_counts_like_notion_and_never_splits_an_emoji() -> None:
    cut = truncate("😀" * 1500)  # 3000 UTF-16 units
    assert utf16(cut) <= MAX_TEXT_LENGTH
    assert cut == "😀" * 985 + "… (cut: 515 more characters)"


def test_truncate_one_character_over() -> None:
    cut = truncate("가" * (MAX_TEXT_LENGTH + 1))
    assert utf16(cut) <= MAX_TEXT_LENGTH
    head, note = cut.split("…")
    assert head == "가" * len(head)
    assert note == f" (cut: {MAX_TEXT_LENGTH + 1 - len(head)} more characters)"


P_HEX = uuid.UUID(PAGE).hex
T_HEX = uuid.UUID(TODO).hex


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://www.notion.so/{P_HEX}#{T_HEX}", TODO),  # what we write
        (f"https://notion.so/{P_HEX}#{T_HEX}", TODO),
        (f"https://www.notion.so/{TODO}", TODO),  # absolute, a mention's href
        (f"https://www.notion.so/{T_HEX}", TODO),
        (f"/{P_HEX}#{T_HEX}", TODO),  # relative, an inline link's href
        (f"/{PAGE}#{TODO}", TODO),
        (f"/{T_HEX}", TODO),
        (f"/{TODO}", TODO),
        (f"/p/{T_HEX}", TODO),  # newer forms
        (f"/p/{P_HEX}#{T_HEX}", TODO),
        (f"https://app.notion.com/p/{T_HEX}", TODO),
        (f"https://app.notion.com/p/{P_HEX}#{T_HEX}", TODO),
        (f"https://app.notion.com/p/Title-{P_HEX}?source=copy_link#{T_HEX}", TODO),
        (f"https://www.notion.so/acme/Title-{P_HEX}?pvs=4#{T_HEX}", TODO),
        (f"/{P_HEX.upper()}#{T_HEX.upper()}", TODO),
        (f"/{P_HEX}", PAGE),  # no block: the page itself is what is linked
    ],
)
def test_logged_todo_ids_reads_every_link_form(url: str, expected: str) -> None:
    line = {
        "type": "bulleted_list_item",
        "bulleted_list_item": {"rich_text": [{"plain_text": "t", "href": url}]},
    }
    assert logged_todo_ids([line]) == {expected}


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/#abc",
        f"https://example.com/{P_HEX}#{T_HEX}",
        f"/{P_HEX[:-1]}#{T_HEX}",
        "mailto:someone@example.com",
        f"/{P_HEX}#{T_HEX[:-2]}",
    ],
)
def test_logged_todo_ids_ignores_other_links(url: str) -> None:
    line = {
        "type": "bulleted_list_item",
        "bulleted_list_item": {"rich_text": [{"plain_text": "t", "href": url}]},
    }
    assert logged_todo_ids([line]) == set()


def test_log_line_block() -> None:
    line = LogLine(todo_block_id=TODO, todo_text="Water plants", outcome="done", result="watered")

    block = log_line_block(line, PAGE)

    assert block["type"] == "bulleted_list_item"
    assert contents(block) == ["✅ ", "Water plants", " — watered"]
    link = block["bulleted_list_item"]["rich_text"][1]["text"]["link"]
    assert link == {"url": f"https://www.notion.so/{uuid.UUID(PAGE).hex}#{uuid.UUID(TODO).hex}"}
    assert link["url"] == todo_url(PAGE, TODO)
    skipped = log_line_block(LogLine(TODO, "", "skipped", "not due"), PAGE)
    assert contents(skipped) == ["⏭️ ", "(untitled to-do)", " — not due"]


def test_every_text_is_truncated() -> None:
    line = LogLine(TODO, "t" * 2500, "done", "r" * 9000)

    for block in (log_line_block(line, PAGE), todo_result_block(line)):
        assert all(utf16(text) <= MAX_TEXT_LENGTH for text in contents(block))
    assert contents(log_container("z" * 3000, []))[1].endswith("more characters)")


def test_log_container() -> None:
    lines = [log_line_block(LogLine(TODO, "a", "done", "ok"), PAGE)] * 3

    container = log_container("2024-05-01 10:00", lines)

    assert container["type"] == "toggle"
    assert contents(container) == [LOG_MARKER, " · 2024-05-01 10:00"]
    assert container["toggle"]["children"] == lines
    assert is_log_container(container)
    assert "children" not in log_container("empty", [])["toggle"]
    with pytest.raises(ValueError, match="100"):
        log_container("too many", lines * 34)


def test_log_container_recognised_in_api_answers() -> None:
    answer = {
        "type": "toggle",
        "toggle": {"rich_text": [{"plain_text": f"{LOG_MARKER} · x", "text": {"content": "?"}}]},
    }
    assert is_log_container(answer)
    assert not is_log_container({"type": "toggle", "toggle": {"rich_text": []}})
    assert not is_log_container({"type": "paragraph", "paragraph": {"rich_text": []}})


def test_todo_result_block() -> None:
    block = todo_result_block(LogLine(TODO, "a", "skipped", "no handler"))

    assert block["type"] == "paragraph"
    assert contents(block) == ["⏭️ notion-batch: ", "no handler"]
    assert is_result_block(block)
    assert not is_result_block({"type": "paragraph", "paragraph": {"rich_text": []}})


def test_logged_todo_ids_round_trip() -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    lines = [log_line_block(LogLine(i, f"t{i}", "done", "ok"), PAGE) for i in ids]
    foreign = {
        "type": "bulleted_list_item",
        "bulleted_list_item": {"rich_text": [{"href": "https://example.com/#abc"}]},
    }

    assert logged_todo_ids(lines) == set(ids)
    assert logged_todo_ids([log_container("x", lines), foreign]) == set(ids)
    answered = [  # the shape Notion answers with: href beside text.link
        {"type": "bulleted_list_item", "bulleted_list_item": {"rich_text": [
            {"plain_text": "t", "href": todo_url(PAGE, ids[0]), "text": {"content": "t"}}
        ]}}
    ]  # fmt: skip
    assert logged_todo_ids(answered) == {ids[0]}
