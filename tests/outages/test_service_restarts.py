"""RabbitMQ and PostgreSQL restart under a running batch: every service recovers by itself."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from tests.e2e.conftest import unique_title
from tests.e2e.stack import Stack, wait_for
from tests.outages.conftest import start_postgres, start_rabbitmq, stop_postgres, stop_rabbitmq

TODOS = 40


async def slow_page(stack: Stack) -> str:
    children = [{"type": "to_do", "text": f"task {i:02d}"} for i in range(TODOS)]
    created = await stack.notion(
        "POST", "/_emulator/pages", json={"title": unique_title(), "children": children}
    )
    return str(created["page_id"])


async def done_count(database_url: str) -> int:
    try:
        db = await asyncpg.connect(database_url, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return -1
    try:
        return int(await db.fetchval("SELECT count(*) FROM notion_todos WHERE status = 'done'"))
    finally:
        await db.close()


@pytest.mark.stack_env(TEST_HANDLER_DELAY="0.15")
async def test_a_rabbitmq_restart_loses_no_batch_and_consumers_come_back(
    stack: Stack, database_url: str
) -> None:
    page = await slow_page(stack)
    await stack.start_batch(page, interval_seconds=1, duration_seconds=90)
    await wait_for(
        lambda: _at_least(database_url, 3), timeout=30, what="the first to-dos to be done"
    )
    stop_rabbitmq()
    try:
        other = await slow_page(stack)
        started = time.monotonic()
        status, body = await stack.api(
            "POST", "/api/v1/batch/start", json={"notion_page_id": other}
        )
        assert status == 503, body
        assert body["success"] is False and "broker" in body["message"]
        assert time.monotonic() - started < 5, "the API must answer at once, not hang"
        # Reads do not need the broker.
        assert (await stack.status(page))["db_status"] == "running"
        await asyncio.sleep(3)
    finally:
        start_rabbitmq()

    # The services reconnect by themselves, consumers included: new work flows again.
    async def start_accepted() -> bool:
        status, _ = await stack.api("POST", "/api/v1/batch/start", json={"notion_page_id": other})
        return status == 200

    await wait_for(start_accepted, timeout=60, what="the API to publish again")
    await wait_for(
        lambda: _at_least(database_url, 2 * TODOS),
        timeout=90,
        what="both pages to be worked to the end after the restart",
    )
    for service in stack.services:
        assert service.process.returncode is None, f"{service.name} died during the outage"


@pytest.mark.stack_env(TEST_HANDLER_DELAY="0.15")
async def test_a_postgresql_restart_is_survived_without_restarting_anything(
    stack: Stack, database_url: str
) -> None:
    page = await slow_page(stack)
    await stack.start_batch(page, interval_seconds=1, duration_seconds=90)
    await wait_for(
        lambda: _at_least(database_url, 3), timeout=30, what="the first to-dos to be done"
    )
    stop_postgres()
    try:
        status, body = await stack.api("GET", f"/api/v1/batch/status/{page}")
        assert status == 503, body
        assert body["success"] is False and "database" in body["message"]
        status, body = await stack.api("POST", "/api/v1/batch/start", json={"notion_page_id": page})
        assert status == 503, body
        await asyncio.sleep(3)
    finally:
        start_postgres()

    async def status_answers() -> bool:
        status, _ = await stack.api("GET", f"/api/v1/batch/status/{page}")
        return status == 200

    await wait_for(status_answers, timeout=60, what="the API to read the database again")
    await wait_for(
        lambda: _at_least(database_url, TODOS), timeout=90, what="the page to be worked to the end"
    )
    db = await asyncpg.connect(database_url)
    try:
        assert await db.fetchval("SELECT count(*) FROM notion_todos WHERE status <> 'done'") == 0
    finally:
        await db.close()
    for service in stack.services:
        assert service.process.returncode is None, f"{service.name} died during the outage"


async def _at_least(database_url: str, wanted: int) -> bool:
    return await done_count(database_url) >= wanted
