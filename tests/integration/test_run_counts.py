"""Counts that agree (issue 16): what the status, the to-do list and the history say a run did,
and the batch's summary message, after real ticks of the worker (in-process: real PostgreSQL
and RabbitMQ, the real SDK, the emulator over HTTP) read through the real API.

One definition, told in migration 0012: a run's done and skipped to-dos are the to-dos whose
``run_id`` is the run, by status, whoever settled them — the handler, failed attempts, or a
person who checked the to-do before the run did it; pending ones are the page's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from notion_batch.common.messaging.messages import Tick
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.emulator import RunningEmulator
from notion_batch.emulator.demo import DEMO_PAGE_ID, seed_demo
from notion_batch.worker.handlers import Outcome, Todo
from notion_batch.worker.tick import TickPolicy, TickProcessor
from tests.integration.conftest import ApiClientFactory
from tests.support.worker import tick_processor

KEY = "counts-writer-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
POLICY = TickPolicy(max_attempts=2, handler_timeout_seconds=5, lease_seconds=10)


@pytest.fixture
async def client(make_api_client: ApiClientFactory) -> TestClient:
    return await make_api_client({"API_KEYS": f"ops:write:{KEY}"})


async def get(client: TestClient, path: str) -> dict[str, Any]:
    response = await client.get(path, headers=AUTH)
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body


async def start(client: TestClient, page: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/batch/start",
        json={"notion_page_id": page, "interval_seconds": 60, "duration_seconds": 600},
        headers=AUTH,
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body


async def tick(work: TickProcessor, page: str, run_id: int) -> None:
    report = await work.process(Tick(page, run_id, datetime.now(UTC).isoformat()))
    assert report.outcome == "worked", report


async def counts_everywhere(client: TestClient, page: str) -> dict[str, Any]:
    """The counts of the page's current run as the status, the to-do list and the history say
    them, each checked against the others."""
    status = await get(client, f"/api/v1/batch/status/{page}")
    listed = await get(client, f"/api/v1/batch/todos/{page}?limit=500")
    history = await get(client, f"/api/v1/batch/history/{page}")
    run = history["runs"][0]
    assert run["run_id"] == status["run_id"]
    by_run = {"done": 0, "skipped": 0}
    for todo in listed["todos"]:
        if todo["run_id"] == status["run_id"] and todo["status"] in by_run:
            by_run[todo["status"]] += 1
    pending = sum(1 for t in listed["todos"] if t["status"] == "pending")
    assert status["todos"] == {**by_run, "pending": pending}, (status["todos"], listed["todos"])
    assert run["todos"] == by_run
    assert listed["counts"]["pending"] == pending
    return status


async def test_the_demo_page_counts_the_todo_a_person_checked_first_everywhere(
    client: TestClient, pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    """The issue's page: 12 to-dos, one checked by a person before the run."""
    seed_demo(emulator.state)
    started = await start(client, DEMO_PAGE_ID)
    work = tick_processor(pool, notion, policy=POLICY, handler=_complete)
    await tick(work, DEMO_PAGE_ID, started["run_id"])
    await tick(work, DEMO_PAGE_ID, started["run_id"])  # a quiet last tick

    status = await counts_everywhere(client, DEMO_PAGE_ID)
    assert status["todos"] == {"done": 11, "skipped": 1, "pending": 0}
    listed = await get(client, f"/api/v1/batch/todos/{DEMO_PAGE_ID}?status=skipped")
    assert listed["counts"] == {"done": 11, "skipped": 1, "pending": 0, "total": 12}
    [skipped] = listed["todos"]
    assert skipped["text"] == "Book the dentist"
    assert skipped["result"] == "already checked in Notion"
    assert skipped["run_id"] == started["run_id"] and skipped["processed_at"] is not None
    # The run's counts, not the quiet last tick's "0 items processed".
    assert status["db_message"] == (
        "running — 12 of 12 to-dos processed (11 done, 1 skipped), 0 pending; "
        "last tick: no to-do worked"
    )


async def test_counts_agree_through_failures_a_person_and_a_quiet_tick(
    client: TestClient, pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    created = emulator.state.create_page(
        "counts",
        [
            {"type": "to_do", "text": "checked first", "checked": True},
            {"type": "to_do", "text": "water the plants"},
            {"type": "to_do", "text": "flaky"},
            {"type": "to_do", "text": "pay the bill"},
            {"type": "to_do", "text": "gone soon"},
        ],
    )
    page = created.page_id
    ids = {block.text: block.id for block in created.blocks}
    started = await start(client, page)
    run_id = started["run_id"]
    work = tick_processor(pool, notion, policy=POLICY, handler=_complete)

    await tick(work, page, run_id)
    status = await counts_everywhere(client, page)
    assert status["todos"] == {"done": 3, "skipped": 1, "pending": 1}
    assert status["db_message"] == (
        "running — 4 of 5 to-dos processed (3 done, 1 skipped), 1 pending "
        "(1 to retry after a failure); last tick: 3 done, 1 failed, to retry"
    )

    # A person checks the failing to-do before its retry, and adds one more.
    emulator.state.person_update(ids["flaky"], checked=True)
    emulator.state.add_children(page, [{"type": "to_do", "text": "late addition"}])
    await tick(work, page, run_id)
    status = await counts_everywhere(client, page)
    assert status["todos"] == {"done": 4, "skipped": 2, "pending": 0}

    await tick(work, page, run_id)  # nothing left: the summary still says the run's work
    status = await counts_everywhere(client, page)
    assert status["db_message"] == (
        "running — 6 of 6 to-dos processed (4 done, 2 skipped), 0 pending; "
        "last tick: no to-do worked"
    )

    response = await client.post(f"/api/v1/batch/stop/{page}", headers=AUTH)
    assert response.status == 200
    status = await counts_everywhere(client, page)
    assert status["todos"] == {"done": 4, "skipped": 2, "pending": 0}
    listed = await get(client, f"/api/v1/batch/todos/{page}")
    assert listed["counts"] == {"done": 4, "skipped": 2, "pending": 0, "total": 6}

    # The next run counts its own to-dos; the list still counts every to-do of the page.
    second = await start(client, page)
    emulator.state.add_children(page, [{"type": "to_do", "text": "next run's"}])
    emulator.state.person_update(ids["gone soon"], archived=True)  # done already: stays done
    await tick(work, page, second["run_id"])
    status = await counts_everywhere(client, page)
    assert status["todos"] == {"done": 1, "skipped": 0, "pending": 0}
    listed = await get(client, f"/api/v1/batch/todos/{page}")
    assert listed["counts"] == {"done": 5, "skipped": 2, "pending": 0, "total": 7}
    history = await get(client, f"/api/v1/batch/history/{page}")
    assert [r["todos"] for r in history["runs"]] == [
        {"done": 1, "skipped": 0},
        {"done": 4, "skipped": 2},
    ]


async def _complete(todo: Todo) -> Outcome:
    if todo.text == "flaky":
        raise RuntimeError("not this time")
    return Outcome.done("handled")
