from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.stack import Stack, base_env, free_port, wait_http_ok

pytestmark = pytest.mark.e2e


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest,
    database_url: str,
    amqp_url: str,
    amqp_namespace: str,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    """Emulator + API + scheduler + 2 workers, started for this test and stopped after it."""
    emulator_port, api_port = free_port(), free_port()
    notion_url = f"http://127.0.0.1:{emulator_port}"
    env = base_env(database_url, amqp_url, amqp_namespace, notion_url)
    env |= {"API_HOST": "127.0.0.1", "API_PORT": str(api_port)}
    marker = request.node.get_closest_marker("stack_env")
    if marker is not None:
        env |= marker.kwargs
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        stack = Stack(env, tmp_path, f"http://127.0.0.1:{api_port}", notion_url, http)
        try:
            await stack.spawn(
                "emulator",
                "notion-batch-emulator",
                NOTION_EMULATOR_PORT=str(emulator_port),
                NOTION_EMULATOR_RATE_LIMIT=env.get("NOTION_EMULATOR_RATE_LIMIT", "off"),
            )
            await wait_http_ok(http, f"{notion_url}/_emulator/health", timeout=20, what="emulator")
            await stack.spawn("api", "notion-batch-api")
            # At debug the scheduler logs each tick it emits (`tick_emitted`): the page's
            # story and the load test's accounting read them.
            await stack.spawn("scheduler", "notion-batch-scheduler", LOG_LEVEL="debug")
            for n in range(int(env.get("TEST_WORKERS", "2"))):
                await stack.spawn(f"worker-{n + 1}", "notion-batch-worker")
            await wait_http_ok(http, f"{stack.api_url}/readyz", timeout=30, what="API ready")
            yield stack
        finally:
            await stack.stop_all()
            if request.node.rep_call_failed if hasattr(request.node, "rep_call_failed") else False:
                print(stack.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed  # type: ignore[attr-defined]
    return report


def unique_title() -> str:
    return f"e2e {uuid.uuid4().hex[:6]}"
