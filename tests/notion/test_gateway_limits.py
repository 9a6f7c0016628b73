"""Appends keep to Notion's request limits whatever the text (D/reference/request-limits), and
a check Notion refuses for one block says so — against the emulator, which enforces both."""

from __future__ import annotations

import pytest

from notion_batch.common.notion import LogLine, NotionBlockRefused, NotionGateway, log_line_block
from notion_batch.common.notion.blocks import MAX_TEXT_LENGTH, plain_text
from notion_batch.common.notion.request_limits import MAX_REQUEST_BYTES, chunk_blocks, encoded_size
from notion_batch.emulator import RunningEmulator

KOREAN = "다람쥐헌쳇바퀴에타고파"  # 11 syllables, 3 bytes each in UTF-8


def korean(n: int) -> str:
    return (KOREAN * (n // len(KOREAN) + 1))[:n]


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_chunks_count_encoded_bytes_not_characters() -> None:
    page = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    lines = [
        log_line_block(LogLine(page, korean(1800), "done", korean(300)), page) for _ in range(100)
    ]
    # Within Notion's block counts, yet well over 500 KB once encoded: one append would fail.
    assert encoded_size({"children": lines}) > MAX_REQUEST_BYTES
    chunks = chunk_blocks(lines)
    assert len(chunks) >= 2 and sum(len(c) for c in chunks) == 100
    assert all(encoded_size({"children": c}) <= MAX_REQUEST_BYTES for c in chunks)
    # The SDK's encoding (httpx: ensure_ascii=False) is what is measured, 3 bytes a syllable,
    # not json.dumps' default \\uXXXX escapes (6 bytes), which would halve every append.
    assert encoded_size(korean(1000)) == 3000 + 2


async def test_120_long_korean_lines_are_appended_without_a_refusal(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page("한국어 페이지")
    # About 1,800 characters each; every seventh is over Notion's 2,000 and must be cut.
    texts = [korean(2300 if i % 7 == 0 else 1700 + i) for i in range(120)]
    lines = [
        log_line_block(LogLine(created.page_id, text, "done", korean(150)), created.page_id)
        for text in texts
    ]

    ids = await gateway.append_blocks(created.page_id, lines)

    assert len(ids) == 120
    appends = emulator.state.requests.query(operation="append_children")
    assert [a.status for a in appends] == [200] * len(appends)  # no 400, no 413
    chunks = chunk_blocks(lines)
    assert len(appends) == len(chunks) >= 2
    # ~5.6 KB a line: the bytes, not the 100-children limit, ended the first request.
    assert len(chunks[0]) < 100
    for chunk in chunks:
        assert len(chunk) <= 100
        assert encoded_size({"children": chunk}) <= MAX_REQUEST_BYTES
    answered = await gateway.list_child_blocks(created.page_id)
    assert len(answered) == 120
    for text, block in zip(texts, answered, strict=True):
        todo_text = block["bulleted_list_item"]["rich_text"][1]["plain_text"]
        assert utf16(todo_text) <= MAX_TEXT_LENGTH
        if len(text) > MAX_TEXT_LENGTH:
            assert todo_text.endswith(
                f"… (cut: {len(text) - todo_text.index('…')} more characters)"
            )
            assert text.startswith(todo_text[: todo_text.index("…")])
        else:
            assert todo_text == text
        assert plain_text(block).endswith(korean(150))


async def test_a_check_of_a_trashed_todo_is_refused_for_that_block(
    emulator: RunningEmulator, gateway: NotionGateway
) -> None:
    created = emulator.state.create_page(
        "Trash",
        [
            {"type": "to_do", "text": "trashed"},
            {"type": "toggle", "text": "box", "children": [{"type": "to_do", "text": "under"}]},
            {"type": "to_do", "text": "fine"},
        ],
    )
    trashed, box, under, fine = created.block_ids
    emulator.state.person_update(trashed, archived=True)
    emulator.state.person_update(box, archived=True)

    with pytest.raises(NotionBlockRefused) as first:
        await gateway.check_todo(trashed)
    assert (first.value.status, first.value.code, first.value.trashed) == (
        400,
        "validation_error",
        True,
    )
    assert first.value.block_id == trashed
    assert first.value.answer == (
        "400 validation_error: Can't edit block that is archived. "
        "You must unarchive the block before editing."
    )
    with pytest.raises(NotionBlockRefused) as second:
        await gateway.check_todo(under)
    assert second.value.trashed and "archived ancestor" in second.value.answer
    await gateway.check_todo(fine)
    emulator.state.store.pages[created.page_id].shared = False
    with pytest.raises(NotionBlockRefused) as third:
        await gateway.check_todo(fine)
    assert (third.value.status, third.value.trashed) == (404, False)
    # Refused, not retried: one request per check.
    assert len(emulator.state.requests.query(operation="update_block")) == 4
