"""An emulator served on 127.0.0.1 (free port) per test, and the real SDK pointed at it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from notion_client import AsyncClient
from notion_client.client import ClientOptions

from notion_batch.emulator import EmulatorConfig, RunningEmulator, run_emulator

NOTION_VERSION = "2025-09-03"


def sdk(
    emulator: RunningEmulator, *, token: str | None = None, timeout_ms: int = 5000
) -> AsyncClient:
    """The official client against the emulator, without its own retries."""
    return AsyncClient(
        ClientOptions(
            auth=token or emulator.token,
            base_url=emulator.url,
            timeout_ms=timeout_ms,
            notion_version=NOTION_VERSION,
            retry=False,
            logger=logging.getLogger("tests.notion_sdk"),
        )
    )


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """Rate limit off unless a test asks for it: most tests are about shapes, not pacing."""
    return EmulatorConfig(rate_limit=None)


@pytest.fixture
async def emulator(emulator_config: EmulatorConfig) -> AsyncIterator[RunningEmulator]:
    async with run_emulator(emulator_config) as running:
        yield running


@pytest.fixture
async def notion(emulator: RunningEmulator) -> AsyncIterator[AsyncClient]:
    client = sdk(emulator)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def http(emulator: RunningEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the emulator, for the control API and malformed requests."""
    async with httpx.AsyncClient(base_url=emulator.url, timeout=5.0) as client:
        yield client
