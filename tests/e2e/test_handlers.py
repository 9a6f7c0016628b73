"""A batch that chose the webhook handler, through the real API, services as processes, Notion
emulated and a webhook receiver run by the test; next to it a batch on the workers' default.

The workers are spawned by the test (the stack starts none) so that they get the receiver's
address, known only once it listens.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.e2e.stack import Stack, wait_for
from tests.e2e.test_batch_flow import create_page, log_lines, page_todos
from tests.support.webhook_receiver import Answer, webhook_receiver

pytestmark = pytest.mark.e2e


async def todo_rows(database_url: str, page_id: str) -> dict[str, Any]:
    db = await asyncpg.connect(database_url)
    try:
        rows = await db.fetch(
            "SELECT text, status, attempts, result, last_error FROM notion_todos"
            " WHERE notion_page_id = $1",
            page_id,
        )
    finally:
        await db.close()
    return {row["text"]: dict(row) for row in rows}


@pytest.mark.stack_env(TEST_WORKERS="0", TODO_MAX_ATTEMPTS="2")
async def test_a_batch_that_chose_the_webhook_posts_its_todos_and_logs_the_answers(
    stack: Stack, database_url: str
) -> None:
    async with webhook_receiver() as receiver:
        receiver.answers = {
            "ship it": Answer(200, '{"result": "shipped as #77"}'),
            "refuse me": Answer(422, '{"error": "unknown product"}'),
            "flaky": Answer(503, "try later"),
        }
        for n in (1, 2):
            await stack.spawn(f"worker-{n}", "notion-batch-worker", TODO_WEBHOOK_URL=receiver.url)

        hooked = await create_page(
            stack, [{"type": "to_do", "text": t} for t in ("ship it", "refuse me", "flaky")]
        )
        plain = await create_page(stack, [{"type": "to_do", "text": "plain work"}])
        started = await stack.start_batch(
            hooked, handler="webhook", interval_seconds=1, duration_seconds=120
        )
        assert started["handler"] == "webhook"
        assert (await stack.start_batch(plain, interval_seconds=1, duration_seconds=120))[
            "handler"
        ] is None

        async def settled(page_id: str) -> dict[str, Any] | None:
            status = await stack.status(page_id)
            todos = status["todos"]
            return status if todos["pending"] == 0 and todos["done"] + todos["skipped"] else None

        status = await wait_for(lambda: settled(hooked), timeout=60, what="webhook to-dos settled")
        assert status["handler"] == "webhook"
        assert (status["todos"]["done"], status["todos"]["skipped"]) == (1, 2)
        await wait_for(lambda: settled(plain), timeout=30, what="default to-do settled")
        assert (await stack.status(plain))["handler"] is None

        # The receiver got the webhook batch's to-dos only, each with its idempotency key;
        # the 503 was retried once (TODO_MAX_ATTEMPTS=2), as attempt 2.
        assert sorted(receiver.texts()) == ["flaky", "flaky", "refuse me", "ship it"]
        for headers, payload in receiver.received:
            assert payload["notion_page_id"] == hooked
            assert headers["Idempotency-Key"] == payload["idempotency_key"]
            assert payload["idempotency_key"] == f"{payload['id']}:{payload['attempt']}"
        assert sorted(p["attempt"] for _, p in receiver.received if p["text"] == "flaky") == [1, 2]

    rows = await todo_rows(database_url, hooked)
    assert (rows["ship it"]["status"], rows["ship it"]["result"]) == ("done", "shipped as #77")
    assert rows["refuse me"]["status"] == "skipped"
    assert rows["refuse me"]["result"].startswith("webhook refused it: HTTP 422")
    assert rows["flaky"]["status"] == "skipped"
    assert "answered HTTP 503: try later" in rows["flaky"]["last_error"]
    # The workers' default (the suite's scripted handler) worked the other batch.
    assert (await todo_rows(database_url, plain))["plain work"]["result"].startswith("handled ")

    # In Notion: the done to-do is checked, and the log says what the receiver answered.
    todos = await page_todos(stack, hooked)
    assert {text for text, node in todos.items() if node["checked"]} == {"ship it"}

    async def logged() -> list[str] | None:
        lines = await log_lines(stack, hooked)
        return lines if len(lines) == 3 else None

    lines = await wait_for(logged, timeout=20, what="three log lines")
    assert any("shipped as #77" in line for line in lines)
    assert any("HTTP 422" in line and "unknown product" in line for line in lines)


@pytest.mark.stack_env(TRIAGE_SKIP_WORDS="later")
async def test_a_batch_that_chose_an_installed_plugin_runs_it(
    stack: Stack, database_url: str
) -> None:
    # The example plugin is installed (make install) and registered as the entry point
    # "triage": the API accepts the name, and the workers run it on the batch's to-dos.
    page = await create_page(
        stack, [{"type": "to_do", "text": t} for t in ("file the report", "tidy up later")]
    )
    started = await stack.start_batch(
        page, handler="triage", interval_seconds=1, duration_seconds=120
    )
    assert started["handler"] == "triage"

    async def settled() -> dict[str, Any] | None:
        status = await stack.status(page)
        todos = status["todos"]
        return status if todos["pending"] == 0 and todos["done"] + todos["skipped"] == 2 else None

    status = await wait_for(settled, timeout=30, what="the plugin's to-dos settled")
    assert (status["todos"]["done"], status["todos"]["skipped"]) == (1, 1)
    rows = await todo_rows(database_url, page)
    assert rows["file the report"]["result"] == "triaged on attempt 1"
    assert rows["tidy up later"]["result"] == "deferred: mentions 'later'"
    todos = await page_todos(stack, page)
    assert {text for text, node in todos.items() if node["checked"]} == {"file the report"}
