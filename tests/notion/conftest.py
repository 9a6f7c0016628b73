"""The gateway against an emulator served on 127.0.0.1 (free port), one per test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from notion_batch.common.config import NotionSettings
from notion_batch.common.notion import NotionGateway, RetryPolicy
from notion_batch.emulator import EmulatorConfig, RunningEmulator, run_emulator

_BASE = NotionSettings(
    token="",
    base_url="http://127.0.0.1:1",
    version="2025-09-03",
    # Pacing has tests of its own; elsewhere it would only slow the suite down.
    rate_limit_per_second=1000.0,
    rate_limit_burst=1,
    timeout_seconds=5.0,
    max_attempts=4,
    max_retry_after_seconds=5.0,
)


def notion_settings(emulator: RunningEmulator, **overrides: Any) -> NotionSettings:
    values: dict[str, Any] = {"token": emulator.token, "base_url": emulator.url, **overrides}
    return dataclasses.replace(_BASE, **values)


def fast_policy(settings: NotionSettings) -> RetryPolicy:
    """The real policy with millisecond backoff, so retry tests take no time."""
    return RetryPolicy.from_settings(settings, base_delay=0.01, max_delay=0.05)


def make_gateway(emulator: RunningEmulator, **overrides: Any) -> NotionGateway:
    settings = notion_settings(emulator, **overrides)
    return NotionGateway(settings, retry_policy=fast_policy(settings))


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(rate_limit=None)


@pytest.fixture
async def emulator(emulator_config: EmulatorConfig) -> AsyncIterator[RunningEmulator]:
    async with run_emulator(emulator_config) as running:
        yield running


@pytest.fixture
async def gateway(emulator: RunningEmulator) -> AsyncIterator[NotionGateway]:
    async with make_gateway(emulator) as notion:
        yield notion
