"""The console in a real browser: Playwright driving the system's Chromium (Debian's
``chromium``; Playwright's own browser download is not used) against the real stack:
emulator, API, scheduler and workers as processes, real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.stack import API_KEY, Stack, plan_stack, serving

#: A read-only key beside the suite's write key (``tests.e2e.stack.API_KEY``).
READ_KEY = "console-viewer-key-0123456789abcdef"


def chromium_path() -> str | None:
    """Where the system's Chromium is (``CHROMIUM`` may name it), or ``None``."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "/usr/bin/chromium"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


try:
    import playwright  # noqa: F401 - only asking whether it is installed
except ImportError:  # pragma: no cover - a test dependency
    _WHY_SKIP: str | None = "playwright is not installed (make install pins it)"
else:
    _WHY_SKIP = (
        None
        if chromium_path() is not None
        else "no Chromium found: install Debian's chromium (make install does, as root)"
    )

#: One line in the summary (``-ra``) for every test skipped for the same reason.
needs_chromium = pytest.mark.skipif(_WHY_SKIP is not None, reason=_WHY_SKIP or "")


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest,
    database_url: str,
    amqp_url: str,
    amqp_namespace: str,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    """The product as processes (one worker is enough here), with a read key beside the
    write key and a console session secret."""
    plan = plan_stack(
        database_url,
        amqp_url,
        amqp_namespace,
        API_KEYS=f"e2e:write:{API_KEY},viewer:read:{READ_KEY}",
        CONSOLE_SESSION_SECRET="console-test-secret-" + "0" * 24,
        TODO_MAX_ATTEMPTS="2",
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        stack = Stack(plan.env, tmp_path, plan.api_url, plan.notion_url, http)
        async with serving(
            stack, request.node, emulator_port=plan.emulator_port, workers=["worker-1"]
        ):
            yield stack


@pytest.fixture
def screenshots() -> Path | None:
    """Where to save the README's screenshots (``CONSOLE_SCREENSHOTS``); unset: none."""
    folder = os.environ.get("CONSOLE_SCREENSHOTS")
    return Path(folder) if folder else None
