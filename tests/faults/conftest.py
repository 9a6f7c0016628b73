"""The stack the fault tests break: emulator, API, N schedulers and M workers as processes.

Shape and environment come from the ``stack_env`` marker: ``TEST_SCHEDULERS`` (default 1,
``0`` for a test that publishes every tick itself), ``TEST_WORKERS`` (default 2), and any
variable of the services. Ticks every second and a 3-second lease keep recoveries quick.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.e2e.stack import plan_stack, serving
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
    marker = request.node.get_closest_marker("stack_env")
    overrides = {
        # The API's own concerns (keys, write quotas) are not what these tests break.
        "API_AUTH": "disabled",
        "API_WRITE_RATE_PER_MINUTE": "0",
        # Several schedulers and workers on one machine: any free ops port each.
        "OPS_PORT": "0",
        "WORKER_LEASE_SECONDS": "3",
        "TODO_HANDLER_TIMEOUT_SECONDS": "120",
        **(marker.kwargs if marker else {}),
    }
    plan = plan_stack(database_url, amqp_url, amqp_namespace, **overrides)
    env = plan.env
    db = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert db is not None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            stack = FaultStack(
                env,
                tmp_path,
                plan.api_url,
                plan.notion_url,
                http,
                db=db,
                amqp_url=amqp_url,
                namespace=amqp_namespace,
            )
            async with serving(
                stack,
                request.node,
                emulator_port=plan.emulator_port,
                schedulers=[
                    f"scheduler-{n + 1}" for n in range(int(env.get("TEST_SCHEDULERS", "1")))
                ],
                workers=[f"worker-{n + 1}" for n in range(int(env.get("TEST_WORKERS", "2")))],
                stop_timeout=TEARDOWN_GRACE_SECONDS,
            ):
                yield stack
    finally:
        await db.close()
