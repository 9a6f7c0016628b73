"""The CLI against a live stack: the product's processes (emulator, API, scheduler, a worker)
started with tests/e2e/stack.py's helpers, and ``notion-batch`` run as the installed script."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.stack import Stack, plan_stack, serving

WRITE_KEY = "cli-operator-key-0123456789abc"
READ_KEY = "cli-viewer-key-0123456789abcd"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


async def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    """``notion-batch ARGS`` as a person would run it; ``env`` is all it sees, beyond PATH."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "notion-batch"),
        *args,
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(
            f"notion-batch {' '.join(args)} still running after {timeout}s"
        ) from None
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@dataclass
class CliStack:
    stack: Stack

    def env(self, key: str | None = WRITE_KEY) -> dict[str, str]:
        env = {"NOTION_BATCH_API_URL": self.stack.api_url}
        if key is not None:
            env["NOTION_BATCH_API_KEY"] = key
        return env

    async def cli(self, *args: str, key: str | None = WRITE_KEY, timeout: float = 60) -> Result:
        return await run_cli(*args, env=self.env(key), timeout=timeout)

    async def page(self, todos: int, *, title: str = "cli") -> str:
        created = await self.stack.notion(
            "POST",
            "/_emulator/pages",
            json={
                "title": title,
                "children": [{"type": "to_do", "text": f"task {i}"} for i in range(todos)],
            },
        )
        return str(created["page_id"])


@pytest.fixture
async def cli_stack(
    request: pytest.FixtureRequest,
    database_url: str,
    amqp_url: str,
    amqp_namespace: str,
    tmp_path: Path,
) -> AsyncIterator[CliStack]:
    plan = plan_stack(
        database_url,
        amqp_url,
        amqp_namespace,
        API_AUTH="enabled",
        API_KEYS=f"operator:write:{WRITE_KEY},viewer:read:{READ_KEY}",
        API_WRITE_RATE_PER_MINUTE="0",
        TODO_MAX_ATTEMPTS="1",
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        stack = Stack(plan.env, tmp_path, plan.api_url, plan.notion_url, http)
        async with serving(
            stack, request.node, emulator_port=plan.emulator_port, workers=["worker"]
        ):
            yield CliStack(stack)
