"""The whole batch flow through the real HTTP API, services as processes, Notion emulated.

Asserts on what a user would check: the API's answers, the rows in PostgreSQL, and the page
as Notion (the emulator) holds it, with the calls the integration made.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from tests.e2e.conftest import unique_title
from tests.e2e.stack import Stack, wait_for

LOG_TITLE = "notion-batch log"


def todo_tree(count: int, *, fail_every: int = 0) -> list[dict[str, Any]]:
    """``count`` to-dos, every tenth nested under a toggle, some marked to fail."""
    nodes: list[dict[str, Any]] = [{"type": "paragraph", "text": "Work for today"}]
    nested: list[dict[str, Any]] = []
    for i in range(count):
        text = f"task {i:04d}" + (" [fail]" if fail_every and i % fail_every == 0 else "")
        node = {"type": "to_do", "text": text}
        if i % 10 == 9:
            nested.append(node)
        else:
            nodes.append(node)
    nodes.append({"type": "toggle", "text": "More", "children": nested})
    return nodes


async def create_page(stack: Stack, children: list[dict[str, Any]]) -> str:
    created = await stack.notion(
        "POST", "/_emulator/pages", json={"title": unique_title(), "children": children}
    )
    return str(created["page_id"])


async def page_todos(stack: Stack, page_id: str) -> dict[str, dict[str, Any]]:
    tree = await stack.notion("GET", f"/_emulator/pages/{page_id}")
    found: dict[str, dict[str, Any]] = {}

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            if node["type"] == "to_do":
                found[node["text"]] = node
            walk(node["children"])

    walk(tree["blocks"])
    return found


async def log_lines(stack: Stack, page_id: str) -> list[str]:
    tree = await stack.notion("GET", f"/_emulator/pages/{page_id}")
    return [
        line["text"]
        for block in tree["blocks"]
        if block["type"] == "toggle" and block["text"].startswith(LOG_TITLE)
        for line in block["children"]
    ]


async def requests(stack: Stack, **query: str) -> list[dict[str, Any]]:
    answer = await stack.notion("GET", "/_emulator/requests", params=query)
    return list(answer["requests"])


async def status_is(stack: Stack, page_id: str, wanted: str) -> dict[str, Any] | None:
    status = await stack.status(page_id)
    return status if status["db_status"] == wanted else None


@pytest.mark.stack_env(TODO_MAX_ATTEMPTS="2")
async def test_a_page_of_250_todos_is_worked_once_each_and_the_batch_completes(
    stack: Stack, database_url: str
) -> None:
    page_id = await create_page(stack, todo_tree(250, fail_every=50))
    failing = {f"task {i:04d} [fail]" for i in range(0, 250, 50)}
    started = await stack.start_batch(page_id, interval_seconds=1, duration_seconds=12)
    assert started["notion_page_id"] == page_id

    running = await stack.status(page_id)
    assert running["db_status"] == "running" and running["is_running"] is True

    completed = await wait_for(
        lambda: status_is(stack, page_id, "completed"), timeout=60, what="batch completion"
    )
    assert "expired" in completed["db_message"]
    assert completed["is_running"] is False and completed["running_info"] is None
    assert completed["db_last_run_at"] is not None

    db = await asyncpg.connect(database_url)
    try:
        rows = await db.fetch("SELECT text, status, attempts, last_error, result FROM notion_todos")
        run = await db.fetchrow("SELECT * FROM notion_batch_runs")
    finally:
        await db.close()
    by_text = {r["text"]: r for r in rows}
    assert len(by_text) == 250
    assert {t for t, r in by_text.items() if r["status"] == "skipped"} == failing
    assert all(r["status"] == "done" for t, r in by_text.items() if t not in failing)
    for text in failing:
        assert by_text[text]["attempts"] == 2
        assert "scripted failure" in by_text[text]["last_error"]
    assert run is not None
    assert (run["todos_done"], run["todos_skipped"]) == (245, 5)
    assert run["end_reason"] == "expired"

    # In Notion: every done to-do checked, once; failed ones left unchecked.
    todos = await page_todos(stack, page_id)
    assert {t for t, node in todos.items() if node["checked"]} == set(by_text) - failing
    checks = Counter(r["path"] for r in await requests(stack, operation="update_block"))
    assert len(checks) == 245 and set(checks.values()) == {1}

    # The log: one line per processed to-do, none twice, in few append calls.
    lines = await log_lines(stack, page_id)
    logged = Counter(line.split(" — ")[0].split(" ", 1)[1] for line in lines)
    assert set(logged) == set(by_text) and set(logged.values()) == {1}, logged.most_common(3)
    appends = await requests(stack, operation="append_children")
    assert len(appends) <= 12, "log lines must be appended in batches, not one call per to-do"


@pytest.mark.stack_env(TEST_SLOW_SECONDS="0.3")
async def test_stop_ends_the_batch_at_once_and_starts_no_new_todo(
    stack: Stack, database_url: str
) -> None:
    page_id = await create_page(
        stack, [{"type": "to_do", "text": f"slow task {i:02d} [slow]"} for i in range(30)]
    )
    await stack.start_batch(page_id, interval_seconds=1, duration_seconds=300)

    db = await asyncpg.connect(database_url)
    try:

        async def some_done() -> int:
            return int(await db.fetchval("SELECT count(*) FROM notion_todos WHERE status = 'done'"))

        await wait_for(some_done, timeout=30, what="the first to-dos to be done")
        status, stopped = await stack.api("POST", f"/api/v1/batch/stop/{page_id}")
        assert status == 200 and stopped["success"] is True
        stop_time = datetime.fromisoformat(stopped["end_time"])

        after = await stack.status(page_id)
        assert after["db_status"] == "completed" and "stopped" in after["db_message"]
        assert after["is_running"] is False

        # At most the to-do in flight at the stop finishes; nothing starts after it.
        await asyncio.sleep(2.5)
        late = await db.fetchval(
            "SELECT count(*) FROM notion_todos WHERE processed_at > $1", stop_time
        )
        assert late <= 1
        done_then = await some_done()
        await asyncio.sleep(2)
        assert await some_done() == done_then
        assert await db.fetchval("SELECT count(*) FROM notion_todos WHERE status = 'pending'") > 0
    finally:
        await db.close()

    status, again = await stack.api("POST", f"/api/v1/batch/stop/{page_id}")
    assert status == 409 and again["success"] is False
    # Everything done before the stop is recorded in Notion all the same.
    todos = await page_todos(stack, page_id)
    checked = sum(1 for node in todos.values() if node["checked"])
    assert checked == done_then


async def test_conflicts_and_a_restart_after_completion(stack: Stack) -> None:
    page_id = await create_page(stack, [{"type": "to_do", "text": "only task"}])
    await stack.start_batch(page_id, interval_seconds=1, duration_seconds=60)
    status, body = await stack.api("POST", "/api/v1/batch/start", json={"notion_page_id": page_id})
    assert status == 409 and body["success"] is False
    status, _ = await stack.api("POST", f"/api/v1/batch/stop/{page_id}")
    assert status == 200
    restarted = await stack.start_batch(page_id, interval_seconds=1, duration_seconds=60)
    assert restarted["success"] is True
    everything = (await stack.api("GET", "/api/v1/batch/status"))[1]
    assert page_id in everything["running_batches"]
    assert f"batch_{page_id}" in everything["scheduler_jobs"]


async def test_a_page_not_shared_with_the_integration_fails_the_batch(stack: Stack) -> None:
    created = await stack.notion(
        "POST", "/_emulator/pages", json={"title": unique_title(), "children": [], "shared": False}
    )
    page_id = created["page_id"]
    await stack.start_batch(page_id, interval_seconds=1, duration_seconds=60)
    failed = await wait_for(
        lambda: status_is(stack, page_id, "failed"), timeout=30, what="the batch to fail"
    )
    assert "not shared" in failed["db_message"] or "not found" in failed["db_message"]
    assert failed["is_running"] is False
