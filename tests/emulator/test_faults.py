"""Injected faults: statuses for K requests or for a while, filters, latency."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from notion_client import AsyncClient
from notion_client.errors import (
    APIErrorCode,
    APIResponseError,
    RequestTimeoutError,
    UnknownHTTPResponseError,
)

from notion_batch.emulator import Fault, RunningEmulator
from notion_batch.emulator.errors import ApiError
from tests.emulator.conftest import sdk


async def test_status_for_the_next_k_requests(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    page = emulator.state.create_page("F")
    emulator.state.add_fault(Fault(status=503, count=2))

    for _ in range(2):
        with pytest.raises(APIResponseError) as caught:
            await notion.pages.retrieve(page.page_id)
        assert caught.value.status == 503
        assert caught.value.code == APIErrorCode.ServiceUnavailable
    assert (await notion.pages.retrieve(page.page_id))["id"] == page.page_id
    assert [r.status for r in emulator.state.requests.query()] == [503, 503, 200]


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "internal_server_error"), (504, "gateway_timeout"), (409, "conflict_error")],
)
async def test_known_codes(
    emulator: RunningEmulator, notion: AsyncClient, status: int, code: str
) -> None:
    page = emulator.state.create_page("F")
    emulator.state.add_fault(Fault(status=status, count=1))

    with pytest.raises(APIResponseError) as caught:
        await notion.pages.retrieve(page.page_id)

    assert caught.value.status == status
    assert caught.value.code == code


async def test_529_is_unknown_to_the_sdk(emulator: RunningEmulator, notion: AsyncClient) -> None:
    page = emulator.state.create_page("F")
    emulator.state.add_fault(Fault(status=529, count=1))

    with pytest.raises(UnknownHTTPResponseError) as caught:
        await notion.pages.retrieve(page.page_id)

    assert caught.value.status == 529
    assert '"code": "service_overload"' in caught.value.body


async def test_429_with_a_given_retry_after(emulator: RunningEmulator, notion: AsyncClient) -> None:
    page = emulator.state.create_page("F")
    emulator.state.add_fault(Fault(status=429, retry_after=7, count=1))

    with pytest.raises(APIResponseError) as caught:
        await notion.pages.retrieve(page.page_id)

    assert caught.value.code == APIErrorCode.RateLimited
    assert caught.value.headers["retry-after"] == "7"


async def test_a_proxy_style_502(emulator: RunningEmulator, notion: AsyncClient) -> None:
    page = emulator.state.create_page("F")
    emulator.state.add_fault(Fault(status=502, raw_body="<html>Bad Gateway</html>", count=1))

    with pytest.raises(UnknownHTTPResponseError) as caught:
        await notion.pages.retrieve(page.page_id)

    assert caught.value.status == 502


async def test_a_success_the_sdk_cannot_parse(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    page = emulator.state.create_page("F", [{"text": "a"}])
    emulator.state.add_fault(
        Fault(status=200, raw_body="<html>Sign in</html>", path_contains="/children", count=1)
    )

    # The SDK decodes a 2xx body unguarded: not one of its errors, a JSONDecodeError.
    with pytest.raises(json.JSONDecodeError):
        await notion.blocks.children.list(page.page_id)
    assert len((await notion.blocks.children.list(page.page_id))["results"]) == 1
    with pytest.raises(ApiError, match="needs a raw_body"):
        Fault.from_json({"status": 200})


async def test_filters_by_method_and_path(emulator: RunningEmulator, notion: AsyncClient) -> None:
    page = emulator.state.create_page("F", [{"text": "a"}])
    emulator.state.add_fault(Fault(status=500, method="PATCH", path_contains="/children"))

    await notion.blocks.children.list(page.page_id)
    await notion.blocks.update(page.block_ids[0], to_do={"checked": True})
    with pytest.raises(APIResponseError):
        await notion.blocks.children.append(page.page_id, children=[{"divider": {}}])

    statuses = {(r.operation, r.status) for r in emulator.state.requests.query()}
    assert statuses == {("list_children", 200), ("update_block", 200), ("append_children", 500)}


async def test_skip_lets_the_first_requests_through(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    page = emulator.state.create_page("F")
    emulator.state.add_fault(Fault(status=500, skip=2, count=1))

    await notion.pages.retrieve(page.page_id)
    await notion.pages.retrieve(page.page_id)
    with pytest.raises(APIResponseError):
        await notion.pages.retrieve(page.page_id)
    await notion.pages.retrieve(page.page_id)

    assert [r.status for r in emulator.state.requests.query()] == [200, 200, 500, 200]


async def test_status_for_a_duration(emulator: RunningEmulator, notion: AsyncClient) -> None:
    page = emulator.state.create_page("F")
    emulator.state.add_fault(Fault(status=503, duration=0.3))

    with pytest.raises(APIResponseError):
        await notion.pages.retrieve(page.page_id)
    await asyncio.sleep(0.35)

    assert (await notion.pages.retrieve(page.page_id))["id"] == page.page_id
    assert emulator.state.faults.list(time.monotonic()) == []


async def test_latency_makes_a_client_time_out(emulator: RunningEmulator) -> None:
    page = emulator.state.create_page("Slow")
    emulator.state.add_fault(Fault(latency=0.6, count=1))
    client = sdk(emulator, timeout_ms=200)
    try:
        with pytest.raises(RequestTimeoutError):
            await client.pages.retrieve(page.page_id)
        started = time.monotonic()
        assert (await client.pages.retrieve(page.page_id))["id"] == page.page_id
        assert time.monotonic() - started < 0.5
    finally:
        await client.aclose()


async def test_latency_alone_delays_the_real_answer(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    page = emulator.state.create_page("Slow")
    emulator.state.add_fault(Fault(latency=0.2, count=1))

    started = time.monotonic()
    answer = await notion.pages.retrieve(page.page_id)

    assert answer["id"] == page.page_id
    assert time.monotonic() - started >= 0.2
    assert emulator.state.requests.query()[0].duration_s >= 0.2


async def test_drop_applies_the_write_and_resets_the_connection(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    page = emulator.state.create_page("Dropped")
    emulator.state.add_fault(Fault(drop=True, count=1, method="PATCH"))
    paragraph = {"paragraph": {"rich_text": [{"text": {"content": "landed"}}]}}

    with pytest.raises(httpx.TransportError):
        await notion.blocks.children.append(page.page_id, children=[paragraph])

    # The write landed although no answer came: a retry would append it twice.
    listed = await notion.blocks.children.list(page.page_id)
    texts = [b["paragraph"]["rich_text"][0]["plain_text"] for b in listed["results"]]
    assert texts == ["landed"]


def test_a_drop_takes_no_status() -> None:
    with pytest.raises(ApiError, match="no status"):
        Fault.from_json({"drop": True, "status": 500})
