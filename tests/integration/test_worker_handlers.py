"""Each batch runs the handler it chose at start, in-process: real PostgreSQL, the real SDK,
the emulator over HTTP, a real webhook receiver, and the handlers the worker opens at start
(built-ins and the installed example plugin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from notion_batch.common.db.batches import BatchRepository, NewBatch, StartedBatch
from notion_batch.common.messaging.messages import Tick
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.emulator import RunningEmulator
from notion_batch.worker.handlers import HandlerContext, Handlers, open_handlers
from notion_batch.worker.settings import WorkerSettings
from notion_batch.worker.tick import TickPolicy, TickProcessor
from tests.support.webhook_receiver import Answer, Receiver, webhook_receiver
from tests.support.worker import tick_processor

POLICY = TickPolicy(max_attempts=2, handler_timeout_seconds=5, lease_seconds=10)
BASE = {"DATABASE_URL": "postgresql://u@localhost/db", "AMQP_URL": "amqp://g:g@localhost/"}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver() as running:
        yield running


def worker_context(emulator: RunningEmulator, **env: str) -> HandlerContext:
    environ = {**BASE, "NOTION_TOKEN": emulator.token, **env}
    settings = WorkerSettings.from_env(environ)
    return HandlerContext(settings.handler, settings, environ)


def processor(pool: asyncpg.Pool, notion: NotionGateway, handlers: Handlers) -> TickProcessor:
    return tick_processor(pool, notion, policy=POLICY, handlers=handlers)


async def start_page(
    pool: asyncpg.Pool, emulator: RunningEmulator, texts: list[str], handler: str | None
) -> StartedBatch:
    created = emulator.state.create_page("handlers", [{"type": "to_do", "text": t} for t in texts])
    started = await BatchRepository(pool).start(
        NewBatch(
            created.page_id,
            interval_seconds=60,
            duration_seconds=600,
            message="running",
            handler=handler,
        )
    )
    assert started is not None
    assert started.handler == handler
    return started


def tick(started: StartedBatch) -> Tick:
    return Tick(started.notion_page_id, started.run_id, datetime.now(UTC).isoformat())


async def todos(pool: asyncpg.Pool, page_id: str) -> dict[str, dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT text, status, attempts, result, last_error FROM notion_todos"
        " WHERE notion_page_id = $1",
        page_id,
    )
    return {row["text"]: dict(row) for row in rows}


def checked(emulator: RunningEmulator, page_id: str) -> set[str]:
    return {t["text"] for t in emulator.state.todos(page_id) if t["checked"]}


def log_lines(emulator: RunningEmulator, page_id: str) -> list[str]:
    tree = emulator.state.tree(page_id)
    return [
        line["text"]
        for block in tree["blocks"]
        if block["type"] == "toggle" and block["text"].startswith("notion-batch log")
        for line in block["children"]
    ]


async def test_each_batch_runs_the_handler_it_chose(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway, receiver: Receiver
) -> None:
    receiver.answers = {
        "ship it": Answer(200, '{"result": "shipped as #77"}'),
        "refuse me": Answer(422, "unknown product"),
        "flaky": Answer(503, "try later"),
    }
    by_webhook = await start_page(pool, emulator, ["ship it", "refuse me", "flaky"], "webhook")
    by_default = await start_page(pool, emulator, ["plain work"], None)
    by_plugin = await start_page(pool, emulator, ["file taxes", "paint later"], "triage")
    ctx = worker_context(emulator, TODO_WEBHOOK_URL=receiver.url)
    async with open_handlers(ctx) as handlers:
        work = processor(pool, notion, handlers)
        for started in (by_webhook, by_default, by_plugin):
            assert (await work.process(tick(started))).outcome == "worked"

        # Only the webhook batch's to-dos reached the receiver.
        assert sorted(receiver.texts()) == ["flaky", "refuse me", "ship it"]
        rows = await todos(pool, by_webhook.notion_page_id)
        assert (rows["ship it"]["status"], rows["ship it"]["result"]) == ("done", "shipped as #77")
        assert rows["refuse me"]["status"] == "skipped"
        assert rows["refuse me"]["result"] == "webhook refused it: HTTP 422: unknown product"
        assert (rows["flaky"]["status"], rows["flaky"]["attempts"]) == ("pending", 1)
        assert "answered HTTP 503: try later" in rows["flaky"]["last_error"]
        assert checked(emulator, by_webhook.notion_page_id) == {"ship it"}
        lines = log_lines(emulator, by_webhook.notion_page_id)
        assert any("shipped as #77" in line for line in lines)

        # The retry goes to the webhook again, as attempt 2, and runs out of attempts.
        assert (await work.process(tick(by_webhook))).outcome == "worked"
        assert receiver.texts().count("flaky") == 2
        assert receiver.received[-1][1]["attempt"] == 2
        assert (await todos(pool, by_webhook.notion_page_id))["flaky"]["status"] == "skipped"

    assert (await todos(pool, by_default.notion_page_id))["plain work"]["result"] == (
        "completed by notion-batch"
    )
    plugin_rows = await todos(pool, by_plugin.notion_page_id)
    assert plugin_rows["file taxes"]["status"] == "done"
    assert plugin_rows["paint later"]["status"] == "skipped"
    assert plugin_rows["paint later"]["result"] == "deferred: mentions 'later'"


async def test_a_batch_whose_handler_this_worker_lacks_fails_its_todos_with_the_reason(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    started = await start_page(pool, emulator, ["needs the webhook"], "webhook")
    # This worker has no TODO_WEBHOOK_URL: the webhook is off here.
    async with open_handlers(worker_context(emulator)) as handlers:
        work = processor(pool, notion, handlers)
        await work.process(tick(started))
        row = (await todos(pool, started.notion_page_id))["needs the webhook"]
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert "handler 'webhook' is not available on this worker" in row["last_error"]
        assert "TODO_WEBHOOK_URL" in row["last_error"]
        await work.process(tick(started))
    row = (await todos(pool, started.notion_page_id))["needs the webhook"]
    assert row["status"] == "skipped"
    assert checked(emulator, started.notion_page_id) == set()


async def test_the_workers_default_handler_runs_batches_that_chose_none(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway, receiver: Receiver
) -> None:
    receiver.default = Answer(200, '{"result": "sent"}')
    started = await start_page(pool, emulator, ["a", "b"], None)
    ctx = worker_context(emulator, TODO_HANDLER="webhook", TODO_WEBHOOK_URL=receiver.url)
    async with open_handlers(ctx) as handlers:
        await processor(pool, notion, handlers).process(tick(started))
    assert sorted(receiver.texts()) == ["a", "b"]
    rows = await todos(pool, started.notion_page_id)
    assert {row["result"] for row in rows.values()} == {"sent"}
