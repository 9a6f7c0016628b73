from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.stack import Stack, plan_stack, serving

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Extra environment for the stack's processes, known only once other fixtures ran (the
    address of a receiver): a module overrides this fixture. Fixed values: ``stack_env``."""
    return {}


@pytest.fixture
async def stack(  # noqa: PLR0917 - fixtures, injected by name
    request: pytest.FixtureRequest,
    database_url: str,
    amqp_url: str,
    amqp_namespace: str,
    tmp_path: Path,
    stack_env: dict[str, str],
) -> AsyncIterator[Stack]:
    """Emulator + API + scheduler + 2 workers (``TEST_WORKERS``), started for this test and
    stopped after it; the ``stack_env`` marker and fixture add to their environment."""
    marker = request.node.get_closest_marker("stack_env")
    env = {**(marker.kwargs if marker else {}), **stack_env}
    plan = plan_stack(database_url, amqp_url, amqp_namespace, **env)
    workers = [f"worker-{n + 1}" for n in range(int(plan.env.get("TEST_WORKERS", "2")))]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        stack = Stack(plan.env, tmp_path, plan.api_url, plan.notion_url, http)
        async with serving(stack, request.node, emulator_port=plan.emulator_port, workers=workers):
            yield stack


def unique_title() -> str:
    return f"e2e {uuid.uuid4().hex[:6]}"
