"""Ticks on pages as real workspaces hold them (issue 12): in-process worker, real PostgreSQL,
the real SDK at Notion-Version 2026-03-11, the emulator over HTTP, the API over HTTP.

An unreadable block costs its subtree only and becomes one warning of the run; synced content
is one to-do; templates and trash are not work; a page in the trash fails the batch.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from notion_batch.common.db.batches import BatchRepository, NewBatch, StartedBatch
from notion_batch.common.db.reports import ReportRepository
from notion_batch.common.messaging.messages import Tick
from notion_batch.common.notion import NotionGateway
from notion_batch.emulator import RunningEmulator
from notion_batch.emulator.realistic import create_realistic_page
from notion_batch.worker.handlers import complete
from notion_batch.worker.tick import TickPolicy, TickProcessor
from tests.integration.conftest import ApiClientFactory
from tests.support.worker import tick_processor

POLICY = TickPolicy(max_attempts=2, handler_timeout_seconds=5, lease_seconds=10)
KEY = "real-pages-reader-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def api(make_api_client: ApiClientFactory) -> TestClient:
    return await make_api_client({"API_KEYS": f"ops:read:{KEY}"})


def processor(pool: asyncpg.Pool, notion: NotionGateway) -> TickProcessor:
    return tick_processor(pool, notion, policy=POLICY, handler=complete)


async def start(pool: asyncpg.Pool, page_id: str, *, duration: int = 600) -> StartedBatch:
    started = await BatchRepository(pool).start(
        NewBatch(page_id, interval_seconds=60, duration_seconds=duration, message="running")
    )
    assert started is not None
    return started


def tick(started: StartedBatch) -> Tick:
    return Tick(started.notion_page_id, started.run_id, datetime.now(UTC).isoformat())


async def get(api: TestClient, path: str) -> dict[str, Any]:
    response = await api.get(path, headers=AUTH)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def log_lines(emulator: RunningEmulator, page_id: str) -> list[str]:
    return [
        line["text"]
        for block in emulator.state.tree(page_id)["blocks"]
        if block["type"] == "toggle" and block["text"].startswith("notion-batch log")
        for line in block["children"]
    ]


async def test_a_real_page_works_every_live_todo_once_and_warns_once_per_block(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway, api: TestClient
) -> None:
    page = create_realistic_page(emulator.state)
    started = await start(pool, page.page_id)
    work = processor(pool, notion)

    first = await work.process(tick(started))
    second = await work.process(tick(started))

    assert (first.outcome, first.done, first.checked) == ("worked", 8, 8)
    assert (second.outcome, second.processed) == ("worked", 0)
    todos = emulator.state.todos(page.page_id)
    assert {t["text"] for t in todos if t["checked"]} == set(page.live_todos)
    lines = log_lines(emulator, page.page_id)
    assert len(lines) == len(page.live_todos)
    assert all(any(text in line for line in lines) for text in page.live_todos)
    assert not any(other in line for other in page.other_todos for line in lines)
    # The synced to-do, seen through its original and its copy, is one row and one check.
    synced = next(t["id"] for t in todos if t["text"] == "synced")
    edits = emulator.state.requests.query(operation="update_block", path_contains=synced)
    assert len(edits) == 1
    rows = await ReportRepository(pool).todos(page.page_id, statuses=None, after=None, limit=50)
    assert sorted(r.text for r in rows) == sorted(page.live_todos)

    status = await BatchRepository(pool).status(page.page_id)
    assert status is not None and status.status == "running"
    history = await get(api, f"/api/v1/batch/history/{page.page_id}")
    warnings = history["runs"][0]["warnings"]
    assert {w["block_id"] for w in warnings} == set(page.unreadable_ids)
    by_code = {w["code"]: w for w in warnings}
    assert by_code["validation_error"]["status"] == 400
    assert "ai_block is not supported" in by_code["validation_error"]["message"]
    assert by_code["object_not_found"]["status"] == 404
    assert by_code["object_not_found"]["block_type"] == "synced_block"
    # Said once per run and block; the second reading only counted.
    assert all(w["seen"] == 2 for w in warnings)


async def test_a_page_of_only_unreadable_blocks_completes_with_warnings(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway, api: TestClient
) -> None:
    created = emulator.state.create_page(
        "Only unreadable",
        [
            {"type": "unsupported", "block_type": "ai_block", "children": [{"text": "a"}]},
            {"type": "unsupported", "block_type": "button", "children": [{"text": "b"}]},
        ],
    )
    started = await start(pool, created.page_id, duration=2)

    report = await processor(pool, notion).process(tick(started))
    assert report.outcome == "worked"
    deadline = time.monotonic() + 10
    while not await BatchRepository(pool).complete_expired(10):
        assert time.monotonic() < deadline, "the batch never expired"
        await asyncio.sleep(0.1)

    status = await get(api, f"/api/v1/batch/status/{created.page_id}")
    history = await get(api, f"/api/v1/batch/history/{created.page_id}")
    assert status["db_status"] == "completed"
    run = history["runs"][0]
    assert (run["status"], run["end_reason"]) == ("completed", "expired")
    assert {w["block_id"] for w in run["warnings"]} == set(created.block_ids[0::2])


async def test_a_page_in_trash_fails_the_batch_with_the_reason(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway, api: TestClient
) -> None:
    created = emulator.state.create_page("Binned", [{"text": "never worked"}])
    started = await start(pool, created.page_id)
    emulator.state.set_in_trash(created.page_id, True)

    report = await processor(pool, notion).process(tick(started))

    assert report.outcome == "failed"
    assert not any(t["checked"] for t in emulator.state.todos(created.page_id))
    status = await get(api, f"/api/v1/batch/status/{created.page_id}")
    history = await get(api, f"/api/v1/batch/history/{created.page_id}")
    assert status["db_status"] == "failed"
    assert status["db_message"] == "page is in trash"
    assert history["runs"][0]["message"] == "page is in trash"
    assert history["runs"][0]["end_reason"] == "failed"
