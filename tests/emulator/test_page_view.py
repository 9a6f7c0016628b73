"""``GET /_emulator/pages/{id}/view``: a page as read-only HTML for people (demos, the README's
screenshot), every text escaped and no script served."""

from __future__ import annotations

import httpx

from notion_batch.emulator import RunningEmulator
from notion_batch.emulator.realistic import create_realistic_page


def _bulleted(*rich_text: dict[str, object]) -> dict[str, object]:
    return {"type": "bulleted_list_item", "bulleted_list_item": {"rich_text": list(rich_text)}}


async def test_todos_toggles_and_log_lines_are_drawn(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> None:
    page = emulator.state.create_page(
        "Chores",
        [
            {"type": "heading_2", "text": "Today"},
            {"text": "Dishes", "checked": True},
            {"text": "Laundry"},
            {"type": "toggle", "text": "Later", "children": [{"text": "Windows"}]},
            {"text": "Gone", "archived": True},
            {
                "type": "toggle",
                "toggle": {
                    "rich_text": [
                        {"text": {"content": "notion-batch log"}, "annotations": {"bold": True}}
                    ]
                },
                "children": [
                    _bulleted(
                        {"text": {"content": "✅ "}},
                        {"text": {"content": "Dishes", "link": {"url": "https://www.notion.so/a"}}},
                        {"text": {"content": " — done"}},
                    ),
                    _bulleted({"text": {"content": "second line"}}),
                ],
            },
        ],
    )

    answer = await http.get(f"/_emulator/pages/{page.page_id}/view")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src" not in answer.headers["content-security-policy"]
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    body = answer.text
    assert "<title>Chores</title>" in body and "<h3>Today</h3>" in body
    assert '<input type="checkbox" disabled checked><span class="text">Dishes</span>' in body
    assert '<input type="checkbox" disabled><span class="text">Laundry</span>' in body
    # Children sit inside their parent; a toggle is drawn open.
    assert (
        '<details class="block" open><summary>Later</summary><div class="children">'
        '<div class="block todo"><label><input type="checkbox" disabled>'
        '<span class="text">Windows</span>' in body
    )
    # The log toggle: its bold title, its lines one list, the to-do's link kept.
    assert "<summary><strong>notion-batch log</strong></summary>" in body
    assert '<ul><li>✅ <a href="https://www.notion.so/a">Dishes</a> — done</li>' in body
    assert "<li>second line</li></ul>" in body
    # Trashed blocks are not on the page, as in Notion's app.
    assert "Gone" not in body


async def test_every_text_is_escaped(emulator: RunningEmulator, http: httpx.AsyncClient) -> None:
    page = emulator.state.create_page(
        "<b>title</b>",
        [
            {"text": "<script>alert(1)</script>"},
            _bulleted({"text": {"content": "bad link", "link": {"url": "javascript:alert(1)"}}}),
            _bulleted(
                {"text": {"content": "quote", "link": {"url": 'https://x.example/"onmouseover='}}}
            ),
            {"type": "child_page", "title": "<img src=x>"},
        ],
    )

    body = (await http.get(f"/_emulator/pages/{page.page_id}/view")).text

    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<b>title</b>" not in body and "&lt;b&gt;title&lt;/b&gt;" in body
    assert "javascript:" not in body and "<li>bad link</li>" in body
    assert 'href="https://x.example/&quot;onmouseover="' in body
    assert "<img" not in body and "child page: &lt;img src=x&gt;" in body


async def test_a_real_page_and_a_trashed_one(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> None:
    real = create_realistic_page(emulator.state, "Real")

    body = (await http.get(f"/_emulator/pages/{real.page_id}/view")).text

    for text in real.live_todos:
        assert f'<span class="text">{text}</span>' in body
    for label in ("column list", "synced block", "unsupported", "child database"):
        assert f'<div class="note">{label}</div>' in body
    assert "under trashed toggle" not in body and "This page is in the trash" not in body

    emulator.state.set_in_trash(real.page_id, True)
    trashed = (await http.get(f"/_emulator/pages/{real.page_id}/view")).text
    assert "This page is in the trash." in trashed


async def test_an_unknown_page_is_a_notion_error(http: httpx.AsyncClient) -> None:
    answer = await http.get("/_emulator/pages/11111111-2222-4333-8444-555555555555/view")

    assert answer.status_code == 404
    assert answer.json()["code"] == "object_not_found"
