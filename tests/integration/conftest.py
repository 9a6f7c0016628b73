"""Fixtures shared by the integration tests: the API in-process, the emulator, the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from notion_batch.api.main import create_app
from notion_batch.api.settings import ApiSettings
from notion_batch.common.config import NOTION_VERSION, NotionSettings
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.common.notion.retry import RetryPolicy
from notion_batch.emulator import EmulatorConfig, RunningEmulator, run_emulator

ApiClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def api_env(database_url: str, amqp_url: str, amqp_namespace: str) -> dict[str, str]:
    """The environment of an API on this test's database and broker namespace."""
    return {"DATABASE_URL": database_url, "AMQP_URL": amqp_url, "AMQP_NAMESPACE": amqp_namespace}


@pytest.fixture
async def make_api_client(api_env: dict[str, str]) -> AsyncIterator[ApiClientFactory]:
    """Builds and serves an API with ``api_env`` plus the given variables; closed after."""
    clients: list[TestClient] = []

    async def make(
        env: Mapping[str, str] | None = None, *, registry: CollectorRegistry | None = None
    ) -> TestClient:
        settings = ApiSettings.from_env({**api_env, **(env or {})})
        app = create_app(settings) if registry is None else create_app(settings, registry=registry)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with run_emulator(EmulatorConfig(rate_limit=None)) as emu:
        yield emu


@pytest.fixture
async def notion(emulator: RunningEmulator) -> AsyncIterator[NotionGateway]:
    """The real gateway (and SDK) on the emulator, with retries quick enough for tests."""
    settings = NotionSettings(
        token=emulator.token,
        base_url=emulator.url,
        # The version the product ships with, so what the tests see is what users get.
        version=NOTION_VERSION,
        rate_limit_per_second=1000,
        rate_limit_burst=1,
        timeout_seconds=1.0,
        max_attempts=2,
        max_retry_after_seconds=5,
    )
    policy = RetryPolicy.from_settings(settings, base_delay=0.01, max_delay=0.05)
    async with NotionGateway(settings, retry_policy=policy) as gateway:
        yield gateway
