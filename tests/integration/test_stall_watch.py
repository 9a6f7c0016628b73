"""Stalls: a running batch with no progress while its ticks fall due is said so, counted,
set going again, and forgotten once it moves (real PostgreSQL, the scheduler's stall watch)."""

from __future__ import annotations

import uuid

import asyncpg
import structlog

from notion_batch.common.db.batches import BatchRepository, NewBatch, StartedBatch
from notion_batch.common.db.reports import ReportRepository
from notion_batch.common.db.stalls import StallRepository
from notion_batch.scheduler.stall_watch import StallWatch

BOUND = 60


async def _start(pool: asyncpg.Pool, interval: int = 1) -> StartedBatch:
    started = await BatchRepository(pool).start(
        NewBatch(str(uuid.uuid4()), interval_seconds=interval, duration_seconds=3600, message="r")
    )
    assert started is not None
    return started


async def _age(pool: asyncpg.Pool, page: str, seconds: int, **columns: str) -> None:
    """Make the batch look as if it started ``seconds`` ago and nothing finished since."""
    sets = "".join(f", {name} = {value}" for name, value in columns.items())
    await pool.execute(
        f"UPDATE notion_batch_status SET start_time = now() - make_interval(secs => $2),"
        f" last_run_at = NULL, next_tick_at = now() + interval '1 hour'{sets}"
        " WHERE notion_page_id = $1",
        page,
        seconds,
    )


async def test_a_batch_left_without_progress_is_stalled_set_going_and_recovers(
    pool: asyncpg.Pool,
) -> None:
    started = await _start(pool)
    page = started.notion_page_id
    # What CI saw: a lease a worker could not release, long expired, and no tick since.
    await _age(
        pool,
        page,
        BOUND + 30,
        lease_owner="'worker-1/dead'",
        lease_expires_at="now() - interval '20 s'",
    )
    batches = BatchRepository(pool, stall_seconds=BOUND)
    status = await batches.status(page)
    assert status is not None and status.stalled_since is not None

    watch = StallWatch(StallRepository(pool, bound_seconds=BOUND), every_seconds=1)
    with structlog.testing.capture_logs() as logs:
        await watch.look()
        await watch.look()  # seen once, counted once
    assert [(e["event"], e["notion_page_id"]) for e in logs if e["event"] == "batch_stalled"] == [
        ("batch_stalled", page)
    ]
    row = await pool.fetchrow(
        "SELECT stalled_since, lease_owner, next_tick_at <= now() AS due"
        " FROM notion_batch_status WHERE notion_page_id = $1",
        page,
    )
    assert (
        row is not None
        and row["stalled_since"] is not None
        and row["lease_owner"] is None
        and row["due"]
    )
    (run,) = await ReportRepository(pool).runs(page, before=None, limit=5)
    assert run.stalls == 1 and run.last_stalled_at is not None

    # A tick finishes: the batch moved, the stall is forgotten (the run keeps its count).
    await pool.execute(
        "UPDATE notion_batch_status SET last_run_at = now() WHERE notion_page_id = $1", page
    )
    with structlog.testing.capture_logs() as logs:
        await watch.look()
    (recovered,) = [e for e in logs if e["event"] == "batch_recovered"]
    assert recovered["notion_page_id"] == page and recovered["stalled_for_s"] >= 0
    status = await batches.status(page)
    assert status is not None and status.stalled_since is None
    assert await pool.fetchval("SELECT stalled_since FROM notion_batch_status") is None


async def test_a_worker_on_the_page_or_a_recent_tick_is_progress(pool: asyncpg.Pool) -> None:
    working = await _start(pool)
    recent = await _start(pool)
    slow = await _start(pool, interval=600)
    # A long tick renews its lease: not a stall, however long ago the last tick finished.
    await _age(
        pool,
        working.notion_page_id,
        BOUND * 10,
        lease_owner="'worker-2/live'",
        lease_expires_at="now() + interval '20 s'",
    )
    await _age(pool, recent.notion_page_id, BOUND - 10)
    # Three intervals of a slow batch are allowed, whatever the bound.
    await _age(pool, slow.notion_page_id, BOUND + 30)
    batches = BatchRepository(pool, stall_seconds=BOUND)
    for started in (working, recent, slow):
        status = await batches.status(started.notion_page_id)
        assert status is not None and status.stalled_since is None, started
    assert await StallRepository(pool, bound_seconds=BOUND).mark(10) == []
    # Stopped batches are never stalled.
    await _age(pool, recent.notion_page_id, BOUND * 10)
    await BatchRepository(pool).stop(recent.notion_page_id, message="stopped")
    assert await StallRepository(pool, bound_seconds=BOUND).mark(10) == []
