"""The console's reads, against a real PostgreSQL database: the batch list (filtered by
state, searched by page id) and the overview's counts."""

import uuid

import asyncpg
import pytest

from notion_batch.common.db.batches import BatchRepository, NewBatch
from notion_batch.common.db.reports import ReportRepository


async def _start(repo: BatchRepository) -> str:
    page = str(uuid.uuid4())
    started = await repo.start(
        NewBatch(page, interval_seconds=60, duration_seconds=900, message="running")
    )
    assert started is not None
    return page


async def _todo(pool: asyncpg.Pool, page: str, position: int, status: str) -> None:
    await pool.execute(
        "INSERT INTO notion_todos (block_id, notion_page_id, position, text, status, processed_at)"
        " VALUES ($1, $2, $3, 'x', $4, CASE WHEN $4 = 'pending' THEN NULL ELSE now() END)",
        uuid.uuid4(),
        page,
        position,
        status,
    )


async def test_the_list_filters_by_state_and_searches_by_a_fragment_of_the_id(
    pool: asyncpg.Pool,
) -> None:
    repo = BatchRepository(pool)
    running, stopped = await _start(repo), await _start(repo)
    assert await repo.stop(stopped, message="completed — stopped by request") is not None
    for position, status in enumerate(("done", "done", "pending", "skipped")):
        await _todo(pool, running, position, status)

    everything = await repo.listing(state=None, id_fragment=None, limit=10)
    assert {b.notion_page_id for b in everything} == {running, stopped}
    only_running = await repo.listing(state="running", id_fragment=None, limit=10)
    assert [b.notion_page_id for b in only_running] == [running]
    listed = only_running[0]
    assert (listed.todos_done, listed.todos_pending, listed.todos_skipped) == (2, 1, 1)

    fragment = stopped.replace("-", "")[6:14]
    found = await repo.listing(state=None, id_fragment=fragment, limit=10)
    assert [b.notion_page_id for b in found] == [stopped]
    assert await repo.listing(state="running", id_fragment=fragment, limit=10) == []


async def test_an_id_fragment_is_hex_digits_only(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="hex digits"):
        await BatchRepository(pool).listing(state=None, id_fragment="%", limit=10)


async def test_the_overview_counts_states_and_the_last_minute(pool: asyncpg.Pool) -> None:
    batches = BatchRepository(pool)
    running, stopped = await _start(batches), await _start(batches)
    assert await batches.stop(stopped, message="completed — stopped by request") is not None
    for position, status in enumerate(("done", "done", "skipped", "pending")):
        await _todo(pool, running, position, status)

    overview = await ReportRepository(pool).overview(stall_seconds=180)
    assert overview.states == {"idle": 0, "running": 1, "completed": 1, "failed": 0}
    assert overview.stalled == 0
    assert (overview.todos_done_last_minute, overview.todos_skipped_last_minute) == (2, 1)
    assert overview.rate_limiter == {}
