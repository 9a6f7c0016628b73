"""A page changed while a worker holds it (a Notion webhook event set ``resync_requested``): the
tick reads the page again and works what is new before it lets go, or leaves a tick due now.
In-process: real PostgreSQL, the real SDK, the emulator over HTTP."""

from __future__ import annotations

import asyncpg
import structlog

from notion_batch.common.db.batches import BatchRepository, NewBatch
from notion_batch.common.db.notion_events import NotionEventRepository
from notion_batch.common.db.ticks import Lease, TickRepository
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.emulator import RunningEmulator
from notion_batch.worker.handlers import Outcome, Todo
from tests.integration.test_worker_tick import checked, log_lines, processor, tick


async def later(pool: asyncpg.Pool, page: str) -> None:
    """As the scheduler leaves it once it emitted a tick: the next one an interval on."""
    await pool.execute(
        "UPDATE notion_batch_status SET next_tick_at = now() + interval '300 seconds'"
        " WHERE notion_page_id = $1",
        page,
    )


async def test_a_change_during_the_tick_is_worked_in_the_same_tick(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    created = emulator.state.create_page("resync", [{"text": "first"}, {"text": "second"}])
    page = created.page_id
    started = await BatchRepository(pool).start(
        NewBatch(page, interval_seconds=300, duration_seconds=600, message="running")
    )
    assert started is not None
    await later(pool, page)
    webhooks = NotionEventRepository(pool)
    answers = []

    async def handler(todo: Todo) -> Outcome:
        if todo.text == "first":
            # A person adds a to-do now; Notion's event reaches the API while we hold the page.
            emulator.state.add_children(page, [{"text": "added meanwhile"}])
            answers.append(await webhooks.page_event(page, "default", "event-1"))
        return Outcome.done("ok")

    with structlog.testing.capture_logs() as logs:
        report = await processor(pool, notion, handler).process(tick(started))

    (answer,) = answers
    assert answer is not None and answer.busy and answer.fresh
    assert (report.outcome, report.done, report.checked) == ("worked", 3, 3)
    assert checked(emulator, page) == {"first", "second", "added meanwhile"}
    assert len(log_lines(emulator, page)) == 3
    assert [e["event"] for e in logs].count("tick_resync") == 1
    row = await pool.fetchrow(
        "SELECT resync_requested, next_tick_at > now() AS later FROM notion_batch_status"
        " WHERE notion_page_id = $1",
        page,
    )
    assert row is not None
    # The re-read is done; the schedule is untouched (the next tick an interval on).
    assert row["resync_requested"] is False and row["later"] is True
    ticks = await pool.fetchval("SELECT ticks FROM notion_batch_runs WHERE id = $1", started.run_id)
    assert ticks == 0  # no tick was emitted for it: the one in progress did the work


async def test_a_re_read_left_when_the_tick_ends_becomes_a_tick_due_now(
    pool: asyncpg.Pool,
) -> None:
    page = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    started = await BatchRepository(pool).start(
        NewBatch(page, interval_seconds=300, duration_seconds=600, message="running")
    )
    assert started is not None
    await later(pool, page)
    ticks = TickRepository(pool)
    lease = await ticks.acquire_lease(page, started.run_id, "w/1", 30)
    assert isinstance(lease, Lease)
    webhooks = NotionEventRepository(pool)
    # The event comes after the tick's last look for one (or the tick ran out of time).
    result = await webhooks.page_event(page, "default", "late-event")
    assert result is not None and result.busy
    await ticks.finish_tick(lease, "running — 0 items processed")
    row = await pool.fetchrow(
        "SELECT resync_requested, next_tick_at <= now() AS due FROM notion_batch_status"
        " WHERE notion_page_id = $1",
        page,
    )
    assert row is not None
    assert row["resync_requested"] is False and row["due"] is True
    # Without a page event the tick leaves the schedule alone.
    await later(pool, page)
    lease = await ticks.acquire_lease(page, started.run_id, "w/2", 30)
    assert isinstance(lease, Lease)
    assert not await ticks.take_resync(page, "w/2")
    await ticks.finish_tick(lease, "running — 0 items processed")
    assert await pool.fetchval(
        "SELECT next_tick_at > now() FROM notion_batch_status WHERE notion_page_id = $1", page
    )
