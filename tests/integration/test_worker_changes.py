"""Change detection: a tick reads its page's blocks only when the page may have changed since
the last full read (worker/changes.py). In-process: real PostgreSQL, the real SDK, the
emulator over HTTP, whose stamps behave as Notion's (whole minutes; API edits leave the page's
stamp) and whose clock the tests shift so that nobody waits a real minute."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg
import structlog

from notion_batch.common.db.batches import BatchRepository, NewBatch, StartedBatch
from notion_batch.common.db.notion_events import NotionEventRepository
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.emulator import RunningEmulator
from notion_batch.worker.changes import DEFAULT_CHANGE_RULE, ChangeRule
from notion_batch.worker.handlers import complete
from notion_batch.worker.tick import TickProcessor
from tests.integration.test_worker_tick import (
    POLICY,
    RECONCILE_DELAY,
    checked,
    start_page,
    tick,
)
from tests.support.worker import tick_processor

#: Stamps this far back are of a minute surely over: a look proves "unchanged" at once.
PAST = -120


def processor(
    pool: asyncpg.Pool, notion: NotionGateway, rule: ChangeRule = DEFAULT_CHANGE_RULE
) -> TickProcessor:
    return tick_processor(
        pool,
        notion,
        policy=POLICY,
        handler=complete,
        reconcile_delay_seconds=RECONCILE_DELAY,
        change_rule=rule,
    )


def calls(emulator: RunningEmulator) -> Counter[str]:
    return Counter(r.operation for r in emulator.state.requests.query())


async def quiet_page(
    pool: asyncpg.Pool, emulator: RunningEmulator, work: TickProcessor, texts: list[str]
) -> StartedBatch:
    """A page last edited minutes ago, its first tick done (every to-do worked)."""
    emulator.state.set_clock_offset(PAST)
    started = await start_page(pool, emulator, texts)
    report = await work.process(tick(started))
    assert report.done == len(texts)
    emulator.state.requests.clear()
    return started


async def read_reasons(work: TickProcessor, started: StartedBatch) -> list[str]:
    """Why each sync step of one tick read the page in full (empty: it did not)."""
    with structlog.testing.capture_logs() as logs:
        await work.process(tick(started))
    return [e["reason"] for e in logs if e["event"] == "page_synced"]


async def test_a_quiet_page_costs_one_look_a_tick(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    work = processor(pool, notion)
    started = await quiet_page(pool, emulator, work, [f"task {i}" for i in range(250)])
    for _ in range(3):
        assert await read_reasons(work, started) == []
    # 250 to-dos are 3 listings a full read; a quiet tick is one retrieve of the page.
    assert calls(emulator) == Counter({"retrieve_page": 3})


async def test_a_person_adding_todos_top_level_or_nested_two_deep_is_worked_next_tick(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    work = processor(pool, notion)
    started = await quiet_page(pool, emulator, work, ["first"])
    page = started.notion_page_id
    assert await read_reasons(work, started) == []
    # A person edits now (the emulator's clock back to real time): the page's stamp moves.
    emulator.state.set_clock_offset(0)
    emulator.state.add_children(
        page,
        [
            {"type": "to_do", "text": "top level"},
            {
                "type": "toggle",
                "text": "a section",
                "children": [
                    {
                        "type": "to_do",
                        "text": "one deep",
                        "children": [{"type": "to_do", "text": "two deep"}],
                    }
                ],
            },
        ],
    )
    assert await read_reasons(work, started) == ["stamp_moved"]
    assert checked(emulator, page) == {"first", "top level", "one deep", "two deep"}


async def test_a_look_within_the_stamps_minute_proves_nothing(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    # The page was made this minute: a person may still edit it within the same minute and
    # leave the same stamp, so every look this minute is followed by a full read.
    work = processor(pool, notion)
    started = await start_page(pool, emulator, ["a"])
    assert await read_reasons(work, started) == ["first"]
    assert await read_reasons(work, started) == ["unsettled"]
    assert await read_reasons(work, started) == ["unsettled"]


async def test_another_integrations_todo_is_seen_by_the_periodic_full_read(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    # An edit through the API does not move the page's stamp (seen: gh/dvanoni/notero#571):
    # only the full read every NOTION_FULL_READ_SECONDS (here 1 s) finds it.
    work = processor(pool, notion, ChangeRule("stamp", full_read_seconds=1.0))
    started = await quiet_page(pool, emulator, work, ["first"])
    page = started.notion_page_id
    await notion.append_blocks(
        page,
        [
            {
                "object": "block",
                "type": "to_do",
                "to_do": {"rich_text": [{"text": {"content": "by a script"}}], "checked": False},
            }
        ],
    )
    assert await read_reasons(work, started) == []
    assert "by a script" not in checked(emulator, page)
    reasons: list[str] = []
    deadline = time.monotonic() + 10
    while "by a script" not in checked(emulator, page):
        assert time.monotonic() < deadline, f"never read again: {reasons}"
        reasons += await read_reasons(work, started)
        await asyncio.sleep(0.1)
    assert reasons == ["periodic"]


async def test_with_webhooks_a_quiet_page_costs_nothing_and_an_event_makes_a_read(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    work = processor(pool, notion, ChangeRule("webhook", full_read_seconds=600))
    started = await quiet_page(pool, emulator, work, ["first"])
    page = started.notion_page_id
    assert await read_reasons(work, started) == []
    assert calls(emulator) == Counter()
    emulator.state.add_children(page, [{"type": "to_do", "text": "added"}])
    # Notion's event reaches the API (here: its repository, as the endpoint calls it).
    assert await NotionEventRepository(pool).page_event(page, "default", "event-1") is not None
    assert await read_reasons(work, started) == ["event"]
    assert checked(emulator, page) == {"first", "added"}
    emulator.state.requests.clear()
    assert await read_reasons(work, started) == []
    assert calls(emulator) == Counter()


async def test_a_new_run_reads_in_full_whatever_the_last_run_read(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    work = processor(pool, notion)
    started = await quiet_page(pool, emulator, work, ["first"])
    repository = BatchRepository(pool)
    assert await repository.stop(started.notion_page_id, message="stopped") is not None
    restarted = await repository.start(
        NewBatch(started.notion_page_id, interval_seconds=60, duration_seconds=600, message="again")
    )
    assert restarted is not None and restarted.run_id != started.run_id
    assert await read_reasons(work, restarted) == ["first"]


async def test_a_page_put_in_the_trash_fails_its_batch_at_the_next_look(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    work = processor(pool, notion)
    started = await quiet_page(pool, emulator, work, ["first"])
    emulator.state.set_in_trash(started.notion_page_id, True)
    report = await work.process(tick(started))
    assert report.outcome == "failed"
    status = await BatchRepository(pool).status(started.notion_page_id)
    assert status is not None and status.status == "failed"
    assert calls(emulator) == Counter({"retrieve_page": 1})
