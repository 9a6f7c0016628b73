"""The per-token rate limit: 429 rate_limited with Retry-After when exceeded."""

from __future__ import annotations

import asyncio

import pytest
from notion_client import AsyncClient
from notion_client.errors import APIErrorCode, APIResponseError

from notion_batch.emulator import EmulatorConfig, RunningEmulator, run_emulator
from tests.emulator.conftest import sdk


async def _burst(client: AsyncClient, page_id: str, n: int) -> list[BaseException | None]:
    async def one() -> BaseException | None:
        try:
            await client.pages.retrieve(page_id)
        except APIResponseError as error:
            return error
        return None

    return await asyncio.gather(*(one() for _ in range(n)))


async def test_exceeding_the_rate_gives_429_with_retry_after() -> None:
    config = EmulatorConfig(rate_limit=3.0, rate_burst=3)
    async with run_emulator(config) as emulator:
        page = emulator.state.create_page("Busy")
        client = sdk(emulator)
        try:
            outcomes = await _burst(client, page.page_id, 8)
        finally:
            await client.aclose()

        errors = [e for e in outcomes if e is not None]
        assert 1 <= len(errors) <= 5  # the burst of 3 passes, most of the rest cannot
        for error in errors:
            assert isinstance(error, APIResponseError)
            assert error.status == 429
            assert error.code == APIErrorCode.RateLimited
            retry_after = error.headers["retry-after"]
            assert retry_after.isdigit()
            assert int(retry_after) >= 1
        assert len(emulator.state.requests.query(status=429)) == len(errors)


async def test_the_limit_is_per_token() -> None:
    config = EmulatorConfig(
        tokens=frozenset({"secret_a", "secret_b"}), rate_limit=1.0, rate_burst=1
    )
    async with run_emulator(config) as emulator:
        page = emulator.state.create_page("Two integrations")
        first, second = sdk(emulator, token="secret_a"), sdk(emulator, token="secret_b")
        try:
            await first.pages.retrieve(page.page_id)
            await second.pages.retrieve(page.page_id)
            with pytest.raises(APIResponseError) as caught:
                await first.pages.retrieve(page.page_id)
        finally:
            await first.aclose()
            await second.aclose()
        assert caught.value.status == 429


async def test_no_429_when_the_limit_is_off(emulator: RunningEmulator, notion: AsyncClient) -> None:
    page = emulator.state.create_page("Free")

    outcomes = await _burst(notion, page.page_id, 30)

    assert outcomes == [None] * 30


async def test_limit_can_be_switched_at_runtime(
    emulator: RunningEmulator, notion: AsyncClient
) -> None:
    page = emulator.state.create_page("Switch")
    emulator.state.set_rate_limit(1.0, burst=1)

    outcomes = await _burst(notion, page.page_id, 3)
    assert sum(o is not None for o in outcomes) == 2

    emulator.state.set_rate_limit(None)
    assert await _burst(notion, page.page_id, 5) == [None] * 5
