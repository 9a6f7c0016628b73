"""BatchRepository, and the leases of TickRepository, against a real PostgreSQL database."""

import asyncio
import uuid

import asyncpg
import pytest

from notion_batch.common.db.batches import BatchRepository, NewBatch
from notion_batch.common.db.ticks import Lease, LeaseRefusal, TickRepository


def new_page() -> str:
    return str(uuid.uuid4())


async def start(repo: BatchRepository, page: str, interval: int = 60, duration: int = 900):
    return await repo.start(
        NewBatch(page, interval_seconds=interval, duration_seconds=duration, message="running")
    )


async def test_concurrent_starts_of_one_page_let_exactly_one_win(pool: asyncpg.Pool) -> None:
    repo = BatchRepository(pool)
    page = new_page()
    results = await asyncio.gather(*(start(repo, page) for _ in range(8)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await pool.fetchval("SELECT count(*) FROM notion_batch_runs") == 1


async def test_start_stop_start_opens_a_new_run(pool: asyncpg.Pool) -> None:
    repo = BatchRepository(pool)
    page = new_page()
    first = await start(repo, page)
    assert first is not None
    stopped = await repo.stop(page, message="completed — stopped by request")
    assert stopped is not None and stopped.run_id == first.run_id
    assert await repo.stop(page, message="again") is None
    second = await start(repo, page)
    assert second is not None and second.run_id != first.run_id
    run = await pool.fetchrow("SELECT * FROM notion_batch_runs WHERE id = $1", first.run_id)
    assert run is not None
    assert (run["status"], run["end_reason"]) == ("completed", "stopped")


async def test_a_raise_inside_starting_rolls_the_start_back(pool: asyncpg.Pool) -> None:
    repo = BatchRepository(pool)
    page = new_page()

    async def publish_fails() -> None:
        new = NewBatch(page, interval_seconds=60, duration_seconds=900, message="x")
        async with repo.starting(new) as started:
            assert started is not None
            raise RuntimeError("broker down")

    with pytest.raises(RuntimeError, match="broker down"):
        await publish_fails()
    assert await repo.status(page) is None
    assert await start(repo, page) is not None


async def test_due_ticks_are_claimed_once_and_missed_ones_coalesced(pool: asyncpg.Pool) -> None:
    repo = BatchRepository(pool)
    page = new_page()
    started = await start(repo, page, interval=10)
    assert started is not None
    async with repo.claim_due_ticks(10) as first:
        assert [t.notion_page_id for t in first] == [page]
        assert first[0].missed == 0
    async with repo.claim_due_ticks(10) as again:
        assert again == []  # next tick is 10 s away
    # Pretend the scheduler was down for 35 s: three ticks were missed.
    await pool.execute(
        "UPDATE notion_batch_status SET next_tick_at = now() - interval '35 seconds'"
    )
    async with repo.claim_due_ticks(10) as late:
        assert len(late) == 1 and late[0].missed == 3
    next_tick = await pool.fetchval("SELECT next_tick_at - now() FROM notion_batch_status")
    assert 0 < next_tick.total_seconds() <= 10


async def test_two_schedulers_never_claim_the_same_tick(pool: asyncpg.Pool) -> None:
    repo = BatchRepository(pool)
    pages = [new_page() for _ in range(50)]
    for page in pages:
        await start(repo, page)

    async def claim() -> list[str]:
        async with repo.claim_due_ticks(7) as due:
            await asyncio.sleep(0.01)
            return [t.notion_page_id for t in due]

    claimed: list[str] = []
    for _ in range(10):
        a, b = await asyncio.gather(claim(), claim())
        claimed += a + b
    assert sorted(claimed) == sorted(pages)


async def test_expired_batches_complete_with_a_summary(pool: asyncpg.Pool) -> None:
    repo = BatchRepository(pool)
    page = new_page()
    await start(repo, page, interval=1, duration=1)
    await asyncio.sleep(1.1)
    async with repo.claim_due_ticks(10) as due:
        assert due == []  # no tick after end_time
    ended = await repo.complete_expired(10)
    assert [e.notion_page_id for e in ended] == [page]
    status = await repo.status(page)
    assert status is not None and status.status == "completed"
    assert "expired" in status.message


async def test_lease_is_exclusive_and_refusals_say_why(pool: asyncpg.Pool) -> None:
    batches, ticks = BatchRepository(pool), TickRepository(pool)
    page = new_page()
    started = await start(batches, page)
    assert started is not None
    lease = await ticks.acquire_lease(page, started.run_id, "w1", 30)
    assert isinstance(lease, Lease)
    busy = await ticks.acquire_lease(page, started.run_id, "w2", 30)
    assert isinstance(busy, LeaseRefusal) and busy.reason == "busy"
    stale = await ticks.acquire_lease(page, started.run_id + 99, "w2", 30)
    assert isinstance(stale, LeaseRefusal) and stale.reason == "stale"
    assert await ticks.renew_lease(lease, 30) is True
    await batches.stop(page, message="stopped")
    assert await ticks.renew_lease(lease, 30) is False  # still ours, but the batch ended
    await ticks.finish_tick(lease, "running — 3 items processed")
    status = await batches.status(page)
    assert status is not None and status.message == "stopped"  # a stop's message is kept


async def test_a_row_lock_without_a_lease_is_waited_out_not_taken_for_busy(
    pool: asyncpg.Pool,
) -> None:
    """The scheduler commits its claim only after publishing the tick: a worker quick enough to
    meet the row still locked waits for it rather than drop the tick as busy."""
    batches, ticks = BatchRepository(pool), TickRepository(pool)
    page = str(uuid.uuid4())
    started = await batches.start(NewBatch(page, 60, 600, "running"))
    assert started is not None
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT 1 FROM notion_batch_status WHERE notion_page_id = $1 FOR UPDATE", page
        )
        acquiring = asyncio.create_task(ticks.acquire_lease(page, started.run_id, "w1", 30))
        await asyncio.sleep(0.3)
        assert not acquiring.done()
    assert isinstance(await acquiring, Lease)


async def test_expired_lease_can_be_taken_over(pool: asyncpg.Pool) -> None:
    batches, ticks = BatchRepository(pool), TickRepository(pool)
    page = new_page()
    started = await start(batches, page)
    assert started is not None
    dead = await ticks.acquire_lease(page, started.run_id, "dead-worker", 0.2)
    assert isinstance(dead, Lease)
    await asyncio.sleep(0.3)
    alive = await ticks.acquire_lease(page, started.run_id, "w2", 30)
    assert isinstance(alive, Lease)
    assert await ticks.renew_lease(dead, 30) is None  # the dead worker's lease is gone


async def test_a_finished_tick_summarises_the_run_then_itself(pool: asyncpg.Pool) -> None:
    batches, ticks = BatchRepository(pool), TickRepository(pool)
    page = new_page()
    started = await start(batches, page)
    assert started is not None
    lease = await ticks.acquire_lease(page, started.run_id, "w1", 30)
    assert isinstance(lease, Lease)
    await ticks.finish_tick(lease, "no to-do worked")
    status = await batches.status(page)
    assert status is not None
    # The run's counts, not the tick's: a quiet tick says so after them.
    assert status.message == (
        "running — 0 of 0 to-dos processed (0 done, 0 skipped), 0 pending; "
        "last tick: no to-do worked"
    )
    assert status.last_run_at is not None
    # The lease is free again for the next tick.
    assert isinstance(await ticks.acquire_lease(page, started.run_id, "w2", 30), Lease)


async def test_an_ended_batch_gets_record_only_ticks_while_its_outbox_is_not_empty(
    pool: asyncpg.Pool,
) -> None:
    batches = BatchRepository(pool)
    quiet, busy = new_page(), new_page()
    for page in (quiet, busy):
        await start(batches, page)
        async with batches.claim_due_ticks(10):
            pass
    # `busy` has a done to-do whose check Notion has not taken yet.
    await pool.execute(
        "INSERT INTO notion_todos (block_id, notion_page_id, position, text, status, check_pending)"
        " VALUES ($1, $2, 0, 'x', 'done', true)",
        str(uuid.uuid4()),
        busy,
    )
    for page in (quiet, busy):
        await batches.stop(page, message="stopped")
    async with batches.claim_due_ticks(10) as running_ticks:
        assert running_ticks == []  # nothing runs any more
    async with batches.claim_due_flushes(10) as flushes:
        assert sorted(t.notion_page_id for t in flushes) == sorted([quiet, busy])
    rows = {
        r[0]: r[1]
        for r in await pool.fetch(
            "SELECT notion_page_id::text, next_tick_at FROM notion_batch_status"
        )
    }
    assert rows[quiet] is None  # nothing left to record: no more ticks
    assert rows[busy] is not None  # tried again later until recorded
    async with batches.claim_due_flushes(10) as again:
        assert again == []  # not before its interval
