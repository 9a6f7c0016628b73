"""The console's reads, against a real PostgreSQL database: the batch list (filtered by
state, searched by page id, in pages), the overview's counts, the fleet's Notion calls per
minute (counted by the real gateway on the emulator), and revoked sessions."""

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from notion_batch.common.db.batches import BatchRepository, NewBatch
from notion_batch.common.db.console_sessions import RevokedSessions
from notion_batch.common.db.notion_calls import (
    CallCount,
    NotionCallFlusher,
    NotionCallRepository,
    NotionCallTally,
)
from notion_batch.common.db.reports import ReportRepository
from notion_batch.common.notion import NotionGateway
from notion_batch.emulator import Fault, RunningEmulator
from tests.notion.conftest import fast_policy, notion_settings


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


def _this_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def test_the_gateways_calls_and_429s_reach_the_table_in_one_flush(
    pool: asyncpg.Pool, emulator: RunningEmulator
) -> None:
    tally = NotionCallTally()
    repository = NotionCallRepository(pool)
    settings = notion_settings(emulator)
    created = emulator.state.create_page("Counted", [{"text": "a"}])
    # One 429 (retried after its Retry-After of 1 s), then two answered calls.
    emulator.state.add_fault(Fault(status=429, retry_after=1, count=1))
    async with (
        NotionCallFlusher(tally, repository, every_seconds=3600),
        NotionGateway(settings, retry_policy=fast_policy(settings), calls=tally) as gateway,
    ):
        await gateway.retrieve_page(created.page_id)
        await gateway.check_todo(created.block_ids[0])
        assert await repository.recent() == []  # nothing written per call
    # Closing the flusher flushed: the counts are the emulator's own log of requests.
    answered = [r.status for r in emulator.state.requests.query()]
    assert answered.count(429) == 1 and len(answered) >= 3
    (recent,) = await repository.recent()
    assert recent.integration == "default"
    # Both minutes: the calls may straddle a minute's turn.
    calls = recent.last_minute_calls + recent.this_minute_calls
    limited = recent.last_minute_rate_limited + recent.this_minute_rate_limited
    assert (calls, limited) == (len(answered), 1)


async def test_flushes_add_up_per_minute_and_integration_and_old_minutes_go(
    pool: asyncpg.Pool,
) -> None:
    repository = NotionCallRepository(pool)
    now = _this_minute()
    before = now - timedelta(minutes=1)
    await repository.add([CallCount("default", before, 5, 1), CallCount("default", now, 2, 0)])
    await repository.add([CallCount("default", before, 4, 2), CallCount("team-b", now, 7, 3)])
    await repository.add([CallCount("default", now - timedelta(days=2), 9, 9)])
    recent = {r.integration: r for r in await repository.recent()}
    assert set(recent) == {"default", "team-b"}
    default = recent["default"]
    assert (default.last_minute_calls, default.last_minute_rate_limited) == (9, 3)
    assert (default.this_minute_calls, default.this_minute_rate_limited) == (2, 0)
    assert (recent["team-b"].this_minute_calls, recent["team-b"].last_minute_calls) == (7, 0)

    await repository.prune()
    minutes = await pool.fetchval("SELECT count(*) FROM notion_call_minutes")
    assert minutes == 3  # the two-day-old minute is gone, the recent ones stay


def test_the_tally_counts_by_minute_and_takes_what_it_has() -> None:
    clock = [120.0]
    tally = NotionCallTally(clock=lambda: clock[0])
    tally.count("default", rate_limited=False)
    tally.count("default", rate_limited=True)
    clock[0] = 185.0
    tally.count("default", rate_limited=False)
    taken = tally.take()
    assert [(c.minute.minute, c.calls, c.rate_limited) for c in taken] == [(2, 2, 1), (3, 1, 0)]
    assert tally.take() == []
    # Counts that could not be written come back for the next flush.
    assert tally.give_back(taken) == 0
    assert tally.take() == taken


async def test_a_revoked_session_stays_revoked_and_expired_rows_go(pool: asyncpg.Pool) -> None:
    sessions = RevokedSessions(pool)
    live, old = "live-session-" + "a" * 10, "old-session-" + "b" * 10
    assert not await sessions.revoked(live)
    await sessions.revoke(old, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    await sessions.revoke(live, expires_at=datetime.now(UTC) + timedelta(hours=1))
    await sessions.revoke(live, expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert await sessions.revoked(live)
    # The expired one was deleted by the next sign-out: it could not be used anyway.
    assert not await sessions.revoked(old)


async def test_the_list_pages_with_a_cursor_past_batches_never_started(
    pool: asyncpg.Pool,
) -> None:
    repo = BatchRepository(pool)
    for _ in range(4):
        await _start(repo)
    # Pages known but never started have no start time: they come last.
    await pool.execute(
        "INSERT INTO notion_batch_status (notion_page_id)"
        " SELECT gen_random_uuid() FROM generate_series(1, 3)"
    )
    everything = await repo.listing(state=None, id_fragment=None, limit=100)
    assert len(everything) == 7 and all(b.start_time is None for b in everything[4:])
    pages, after = [], None
    while True:
        page = await repo.listing(state=None, id_fragment=None, limit=3, after=after)
        if not page:
            break
        pages.append(page)
        after = page[-1].cursor
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [b.notion_page_id for p in pages for b in p] == [b.notion_page_id for b in everything]
