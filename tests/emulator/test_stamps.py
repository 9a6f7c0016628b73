"""Page and block stamps as Notion's (FACTS.md "Timestamps"): whole minutes; the integration's
own writes leave the page's ``last_edited_time``, a person's edits move it; a switch for the
other case; a clock tests can move, over the control API."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from notion_client import AsyncClient

from notion_batch.emulator import RunningEmulator, run_emulator
from notion_batch.emulator.main import load_settings

WHOLE_MINUTE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$")
#: How far back pages are made, so that an edit "now" falls in a later minute for sure.
EARLIER = -600


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def set_offset(http: httpx.AsyncClient, seconds: float) -> dict[str, Any]:
    answer = await http.post("/_emulator/clock", json={"offset_seconds": seconds})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def new_page(http: httpx.AsyncClient) -> dict[str, Any]:
    """A page made ten minutes ago (by the emulator's clock): a to-do at the top level, and one
    inside a toggle; the clock is back on real time afterwards."""
    await set_offset(http, EARLIER)
    created = await http.post(
        "/_emulator/pages",
        json={
            "title": "Stamped",
            "children": [
                {"text": "top"},
                {"type": "toggle", "text": "Later", "children": [{"text": "nested"}]},
            ],
        },
    )
    assert created.status_code == 201, created.text
    await set_offset(http, 0)
    body: dict[str, Any] = created.json()
    return body


async def page_stamp(notion: AsyncClient, page_id: str) -> str:
    page: dict[str, Any] = await notion.pages.retrieve(page_id)
    return str(page["last_edited_time"])


async def block(notion: AsyncClient, block_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = await notion.blocks.retrieve(block_id)
    return answer


async def test_stamps_are_whole_minutes(http: httpx.AsyncClient, notion: AsyncClient) -> None:
    created = await new_page(http)
    page: dict[str, Any] = await notion.pages.retrieve(created["page_id"])
    stamps = [page["created_time"], page["last_edited_time"]]
    for block_id in created["block_ids"]:
        answer = await block(notion, block_id)
        stamps += [answer["created_time"], answer["last_edited_time"]]
    top = created["block_ids"][0]
    updated = await notion.blocks.update(block_id=top, to_do={"checked": True})
    stamps.append(updated["last_edited_time"])

    assert all(WHOLE_MINUTE.match(s) for s in stamps), stamps


async def test_the_integrations_writes_leave_the_pages_stamp(
    http: httpx.AsyncClient, notion: AsyncClient
) -> None:
    created = await new_page(http)
    page_id, (top, toggle, nested) = created["page_id"], created["block_ids"]
    before = await page_stamp(notion, page_id)
    made = (await block(notion, top))["last_edited_time"]

    await notion.blocks.update(block_id=top, to_do={"checked": True})
    await notion.blocks.update(block_id=nested, to_do={"checked": True})
    await notion.blocks.children.append(
        block_id=toggle, children=[{"to_do": {"rich_text": [{"text": {"content": "new"}}]}}]
    )
    await notion.blocks.delete(block_id=nested)

    assert await page_stamp(notion, page_id) == before
    # The edited block's own stamp moved, to this minute.
    edited = (await block(notion, top))["last_edited_time"]
    assert parse(edited) > parse(made)
    assert abs(parse(edited) - datetime.now(UTC)) < timedelta(minutes=2)


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("POST", "nested/children", {"children": [{"text": "added by a person"}]}),
        ("PATCH", "nested", {"checked": True}),
        ("PATCH", "top", {"text": "retyped"}),
        ("POST", "page/children", {"children": [{"text": "at the end"}]}),
    ],
)
async def test_a_persons_edits_move_the_pages_stamp_at_any_depth(
    http: httpx.AsyncClient, notion: AsyncClient, method: str, target: str, body: dict[str, Any]
) -> None:
    created = await new_page(http)
    page_id, (top, _, nested) = created["page_id"], created["block_ids"]
    before = await page_stamp(notion, page_id)
    ids = {"page": page_id, "top": top, "nested": nested}
    node, _, rest = target.partition("/")
    path = f"/_emulator/blocks/{ids[node]}" + (f"/{rest}" if rest else "")

    answer = await http.request(method, path, json=body)
    assert answer.is_success, answer.text

    after = await page_stamp(notion, page_id)
    assert WHOLE_MINUTE.match(after)
    assert parse(after) > parse(before)


async def test_the_switch_makes_the_integrations_writes_move_the_pages_stamp(
    http: httpx.AsyncClient, notion: AsyncClient
) -> None:
    assert (await http.get("/_emulator/stamps")).json() == {"api_edits_move_page": False}
    switched = await http.post("/_emulator/stamps", json={"api_edits_move_page": True})
    assert switched.status_code == 200
    assert switched.json() == {"api_edits_move_page": True}
    assert (await http.get("/_emulator/stamps")).json() == {"api_edits_move_page": True}
    created = await new_page(http)
    page_id, nested = created["page_id"], created["block_ids"][2]
    before = await page_stamp(notion, page_id)

    await notion.blocks.update(block_id=nested, to_do={"checked": True})

    assert parse(await page_stamp(notion, page_id)) > parse(before)

    off = await http.post("/_emulator/stamps", json={"api_edits_move_page": False})
    assert off.json() == {"api_edits_move_page": False}
    again = await new_page(http)
    before = await page_stamp(notion, again["page_id"])
    await notion.blocks.update(block_id=again["block_ids"][0], to_do={"checked": True})
    assert await page_stamp(notion, again["page_id"]) == before


async def test_the_clock_offset_shifts_every_stamp(
    http: httpx.AsyncClient, notion: AsyncClient
) -> None:
    clock = (await http.get("/_emulator/clock")).json()
    assert clock["offset_seconds"] == 0
    assert abs(parse(clock["now"]) - datetime.now(UTC)) < timedelta(seconds=5)

    shifted = await set_offset(http, -7200)
    assert shifted["offset_seconds"] == -7200
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    assert abs(parse(shifted["now"]) - two_hours_ago) < timedelta(seconds=5)
    assert (await http.get("/_emulator/clock")).json()["offset_seconds"] == -7200
    created = await http.post("/_emulator/pages", json={"children": [{"text": "then"}]})
    page_id, (todo,) = created.json()["page_id"], created.json()["block_ids"]
    page: dict[str, Any] = await notion.pages.retrieve(page_id)
    for stamp in (page["created_time"], (await block(notion, todo))["created_time"]):
        # Rounded down to the minute: up to a minute earlier than the clock.
        assert timedelta(0) <= two_hours_ago - parse(stamp) < timedelta(minutes=1, seconds=5)

    # Forward: the integration's edit stamps the block in the future.
    await set_offset(http, 3600)
    updated = await notion.blocks.update(block_id=todo, to_do={"checked": True})
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    edited = parse(updated["last_edited_time"])
    assert timedelta(0) <= in_an_hour - edited < timedelta(minutes=1, seconds=5)


async def test_reset_puts_the_clock_and_the_switch_back(http: httpx.AsyncClient) -> None:
    await set_offset(http, -120)
    await http.post("/_emulator/stamps", json={"api_edits_move_page": True})

    assert (await http.post("/_emulator/reset")).status_code == 200

    assert (await http.get("/_emulator/clock")).json()["offset_seconds"] == 0
    assert (await http.get("/_emulator/stamps")).json() == {"api_edits_move_page": False}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_emulator/clock", {"offset_seconds": "-120"}),
        ("/_emulator/clock", {"offset_seconds": True}),
        ("/_emulator/clock", {}),
        ("/_emulator/clock", {"offset_seconds": 1e12}),
        ("/_emulator/stamps", {"api_edits_move_page": "yes"}),
        ("/_emulator/stamps", {}),
    ],
)
async def test_bad_control_bodies_are_refused(
    http: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    answer = await http.post(path, json=body)

    assert answer.status_code == 400
    assert answer.json()["code"] == "validation_error"


@pytest.fixture
async def api_stamps_http() -> AsyncIterator[httpx.AsyncClient]:
    """An emulator configured from ``NOTION_EMULATOR_API_STAMPS=true``."""
    config = load_settings({"NOTION_EMULATOR_API_STAMPS": "true"}).config
    assert config.api_edits_move_page is True
    async with (
        run_emulator(dataclasses.replace(config, rate_limit=None)) as running,
        httpx.AsyncClient(base_url=running.url, timeout=5.0) as client,
    ):
        yield client


async def test_the_variable_turns_the_switch_on_and_reset_keeps_it(
    api_stamps_http: httpx.AsyncClient,
) -> None:
    assert (await api_stamps_http.get("/_emulator/stamps")).json() == {"api_edits_move_page": True}
    await api_stamps_http.post("/_emulator/stamps", json={"api_edits_move_page": False})
    await api_stamps_http.post("/_emulator/reset")
    assert (await api_stamps_http.get("/_emulator/stamps")).json() == {"api_edits_move_page": True}


def test_the_variable_defaults_off() -> None:
    assert load_settings({}).config.api_edits_move_page is False
    assert load_settings({"NOTION_EMULATOR_API_STAMPS": "1"}).config.api_edits_move_page is True


async def test_the_python_api_moves_the_clock(emulator: RunningEmulator) -> None:
    emulator.state.set_clock_offset(-86_400)
    created = emulator.state.create_page("Yesterday")
    stamp = parse(emulator.state.store.pages[created.page_id].created_time)
    assert timedelta(hours=23) < datetime.now(UTC) - stamp < timedelta(hours=25)
