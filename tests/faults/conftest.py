"""The stack the fault tests break: emulator, API, N schedulers and M workers as processes.

Shape and environment come from the ``stack_env`` marker: ``TEST_SCHEDULERS`` (default 1,
``0`` for a test that publishes every tick itself), ``TEST_WORKERS`` (default 2), and any
variable of the services. Ticks every second and a 3-second lease keep recoveries quick.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.e2e.stack import base_env, free_port, wait_http_ok
from tests.faults.harness import FaultStack

#: A stopped service gets this long to exit on SIGTERM before it is killed: teardown must not
#: wait out a worker's 20-second drain of a deliberately slow to-do.
TEARDOWN_GRACE_SECONDS = 5.0


@pytest.fixture
async def fault_stack(
    request: pytest.FixtureRequest,
    database_url: str,
    amqp_url: str,
    amqp_namespace: str,
    tmp_path: Path,
) -> AsyncIterator[FaultStack]:
    emulator_port, api_port = free_port(), free_port()
    notion_url = f"http://127.0.0.1:{emulator_port}"
    env = base_env(database_url, amqp_url, amqp_namespace, notion_url)
    env |= {
        "API_HOST": "127.0.0.1",
        "API_PORT": str(api_port),
        # The API's own concerns (keys, write quotas) are not what these tests break.
        "API_AUTH": "disabled",
        "API_WRITE_RATE_PER_MINUTE": "0",
        # Several schedulers and workers on one machine: any free ops port each.
        "OPS_PORT": "0",
        "WORKER_LEASE_SECONDS": "3",
        "TODO_HANDLER_TIMEOUT_SECONDS": "120",
    }
    marker = request.node.get_closest_marker("stack_env")
    if marker is not None:
        env |= marker.kwargs
    db = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert db is not None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        stack = FaultStack(
            env,
            tmp_path,
            f"http://127.0.0.1:{api_port}",
            notion_url,
            http,
            db=db,
            amqp_url=amqp_url,
            namespace=amqp_namespace,
        )
        try:
            await stack.spawn(
                "emulator",
                "notion-batch-emulator",
                NOTION_EMULATOR_PORT=str(emulator_port),
                # Notion's rate limit is the rate-limit tests' subject, not these tests'.
                NOTION_EMULATOR_RATE_LIMIT=env.get("NOTION_EMULATOR_RATE_LIMIT", "off"),
            )
            await wait_http_ok(http, f"{notion_url}/_emulator/health", timeout=20, what="emulator")
            await stack.spawn("api", "notion-batch-api")
            await asyncio.gather(
                *(
                    stack.spawn_scheduler(f"scheduler-{n + 1}")
                    for n in range(int(env.get("TEST_SCHEDULERS", "1")))
                ),
                *(
                    stack.spawn_worker(f"worker-{n + 1}")
                    for n in range(int(env.get("TEST_WORKERS", "2")))
                ),
            )
            await wait_http_ok(http, f"{stack.api_url}/readyz", timeout=30, what="API ready")
            yield stack
        finally:
            others = [s for s in stack.services if s.name != "emulator"]
            await asyncio.gather(*(s.stop(timeout=TEARDOWN_GRACE_SECONDS) for s in others))
            await asyncio.gather(*(s.stop(timeout=TEARDOWN_GRACE_SECONDS) for s in stack.services))
            await db.close()
            if getattr(request.node, "rep_call_failed", False):
                print(stack.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed  # type: ignore[attr-defined]
    return report
