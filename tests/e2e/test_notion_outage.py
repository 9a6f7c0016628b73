"""A Notion outage (scaled down from minutes to seconds) while a batch runs: the batch keeps
ticking, to-dos already known keep being worked, and once Notion is back the recording catches
up with nothing missing and nothing written twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from tests.e2e.conftest import unique_title
from tests.e2e.stack import Stack, wait_for

TODOS = 30
OUTAGE_SECONDS = 8


@pytest.mark.stack_env(
    TEST_HANDLER_DELAY="0.2", NOTION_MAX_ATTEMPTS="2", NOTION_TIMEOUT_SECONDS="2"
)
async def test_the_recording_catches_up_after_an_outage(stack: Stack, database_url: str) -> None:
    created = await stack.notion(
        "POST",
        "/_emulator/pages",
        json={
            "title": unique_title(),
            "children": [{"type": "to_do", "text": f"task {i:02d}"} for i in range(TODOS)],
        },
    )
    page = created["page_id"]
    await stack.start_batch(page, interval_seconds=1, duration_seconds=60)
    db = await asyncpg.connect(database_url)
    try:

        async def done() -> int:
            return int(await db.fetchval("SELECT count(*) FROM notion_todos WHERE status = 'done'"))

        await wait_for(lambda: _at_least(done, 3), timeout=30, what="the first to-dos done")
        await stack.notion(
            "POST",
            "/_emulator/faults",
            json={"status": 503, "code": "service_unavailable", "duration": OUTAGE_SECONDS},
        )
        ticks_before = await db.fetchval("SELECT ticks FROM notion_batch_runs")
        done_before = await done()
        await asyncio.sleep(OUTAGE_SECONDS)
        # Notion was down all along: the batch kept ticking and kept working known to-dos.
        assert await db.fetchval("SELECT ticks FROM notion_batch_runs") >= ticks_before + 4
        assert await done() > done_before
        assert (await stack.status(page))["db_status"] == "running"

        async def all_recorded() -> bool:
            left: int = await db.fetchval(
                "SELECT count(*) FROM notion_todos"
                " WHERE status <> 'done' OR check_pending OR log_pending"
            )
            return left == 0

        await wait_for(all_recorded, timeout=60, what="every to-do done and recorded in Notion")
    finally:
        await db.close()

    requests = (await stack.notion("GET", "/_emulator/requests"))["requests"]
    assert any(r["status"] == 503 for r in requests), "the outage was not seen"
    checks = Counter(
        r["path"] for r in requests if r["operation"] == "update_block" and r["status"] == 200
    )
    assert len(checks) == TODOS and set(checks.values()) == {1}
    tree = await stack.notion("GET", f"/_emulator/pages/{page}")
    lines = [
        line["text"]
        for block in tree["blocks"]
        if block["type"] == "toggle" and block["text"].startswith("notion-batch log")
        for line in block["children"]
    ]
    logged = Counter(line.split(" — ")[0].split(" ", 1)[1] for line in lines)
    assert set(logged) == {f"task {i:02d}" for i in range(TODOS)}
    assert set(logged.values()) == {1}, logged.most_common(3)


async def _at_least(count: Callable[[], Awaitable[int]], wanted: int) -> bool:
    return await count() >= wanted
