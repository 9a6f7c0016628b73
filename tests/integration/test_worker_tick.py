"""One tick of the worker, in-process: real PostgreSQL, the real SDK, the emulator over HTTP.

These pin down what a tick does with Notion: what it reads, what it checks, what it logs, how
it survives Notion failing while it records, and that nothing is ever recorded twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from notion_batch.common.db.batches import BatchRepository, NewBatch, StartedBatch
from notion_batch.common.db.ticks import TickRepository
from notion_batch.common.messaging.messages import Tick
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.emulator import Fault, RunningEmulator
from notion_batch.worker.handlers import Handler, Outcome, Todo, complete
from notion_batch.worker.settings import RecordMode
from notion_batch.worker.tick import TickPolicy, TickProcessor
from tests.support.worker import tick_processor

POLICY = TickPolicy(max_attempts=2, handler_timeout_seconds=5, lease_seconds=10)
#: The emulator's stalled append lands after 1.5 s; the read-back waits past that.
RECONCILE_DELAY = 2.0


def processor(
    pool: asyncpg.Pool,
    notion: NotionGateway,
    handler: Handler = complete,
    mode: RecordMode = "page_log",
) -> TickProcessor:
    return tick_processor(
        pool,
        notion,
        policy=POLICY,
        handler=handler,
        record_mode=mode,
        reconcile_delay_seconds=RECONCILE_DELAY,
    )


async def start_page(
    pool: asyncpg.Pool, emulator: RunningEmulator, texts: list[str], **page: Any
) -> StartedBatch:
    created = emulator.state.create_page(
        "tick test", [{"type": "to_do", "text": t} for t in texts], **page
    )
    started = await BatchRepository(pool).start(
        NewBatch(created.page_id, interval_seconds=60, duration_seconds=600, message="running")
    )
    assert started is not None
    return started


def tick(started: StartedBatch) -> Tick:
    return Tick(started.notion_page_id, started.run_id, datetime.now(UTC).isoformat())


def calls(emulator: RunningEmulator, operation: str) -> list[Any]:
    return emulator.state.requests.query(operation=operation)


def log_lines(emulator: RunningEmulator, page_id: str) -> list[str]:
    tree = emulator.state.tree(page_id)
    return [
        line["text"]
        for block in tree["blocks"]
        if block["type"] == "toggle" and block["text"].startswith("notion-batch log")
        for line in block["children"]
    ]


def checked(emulator: RunningEmulator, page_id: str) -> set[str]:
    return {t["text"] for t in emulator.state.todos(page_id) if t["checked"]}


async def test_a_tick_works_checks_and_logs_every_todo_in_few_calls(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    texts = [f"task {i:03d}" for i in range(150)]
    started = await start_page(pool, emulator, texts)
    report = await processor(pool, notion).process(tick(started))
    assert (report.outcome, report.done, report.checked, report.logged) == ("worked", 150, 150, 150)
    assert checked(emulator, started.notion_page_id) == set(texts)
    lines = log_lines(emulator, started.notion_page_id)
    assert len(lines) == 150 and all(line.startswith("✅ ") for line in lines)
    # 1 toggle + 2 batches of lines (100 + 50): appends are batched, not one per to-do.
    assert len(calls(emulator, "append_children")) == 3
    assert len(calls(emulator, "update_block")) == 150
    status = await BatchRepository(pool).status(started.notion_page_id)
    assert status is not None
    assert status.message == (
        "running — 150 of 150 to-dos processed (150 done, 0 skipped), 0 pending; "
        "last tick: 150 done"
    )
    assert status.last_run_at is not None


async def test_a_second_tick_on_a_quiet_page_costs_one_look(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    # The page was last edited two minutes ago, so the first tick's look proves "settled".
    emulator.state.set_clock_offset(-120)
    started = await start_page(pool, emulator, ["a", "b"])
    work = processor(pool, notion)
    await work.process(tick(started))
    emulator.state.requests.clear()
    report = await work.process(tick(started))
    assert report.processed == 0
    operations = Counter(r.operation for r in emulator.state.requests.query())
    # Our own checks and log lines (API edits) left the page's stamp: the look at it shows
    # nothing changed, so the blocks are not listed (worker/changes.py).
    assert operations == Counter({"retrieve_page": 1})


async def test_notion_down_while_recording_loses_nothing_and_records_once(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    texts = [f"task {i}" for i in range(5)]
    started = await start_page(pool, emulator, texts)
    # Every write fails while reads work: the to-dos get done, their recording waits.
    emulator.state.add_fault(Fault(status=503, code="service_unavailable", method="PATCH"))
    report = await processor(pool, notion).process(tick(started))
    assert (report.done, report.checked, report.logged) == (5, 0, 0)
    assert checked(emulator, started.notion_page_id) == set()
    outbox = await pool.fetchval("SELECT count(*) FROM notion_todos WHERE check_pending")
    assert outbox == 5

    emulator.state.faults.clear()
    report = await processor(pool, notion).process(tick(started))
    assert (report.done, report.checked, report.logged) == (0, 5, 5)
    assert checked(emulator, started.notion_page_id) == set(texts)
    assert Counter(log_lines(emulator, started.notion_page_id)) == Counter(
        f"✅ {t} — completed by notion-batch" for t in texts
    )


async def test_an_append_that_landed_unseen_is_not_logged_twice(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    texts = [f"task {i}" for i in range(3)]
    started = await start_page(pool, emulator, texts)
    work = processor(pool, notion)
    # The toggle gets created; then the append of the lines lands but answers too late.
    emulator.state.add_fault(
        Fault(latency=1.5, method="PATCH", path_contains="/children", skip=1, count=1)
    )
    first = await work.process(tick(started))
    assert first.logged == 0
    assert await pool.fetchval("SELECT log_reconcile_after IS NOT NULL FROM notion_batch_runs")

    # Too early to read back (the append may still be running): the log waits.
    early = await work.process(tick(started))
    assert early.logged == 0

    await asyncio.sleep(RECONCILE_DELAY)
    assert len(log_lines(emulator, started.notion_page_id)) == 3  # it did land, late
    second = await work.process(tick(started))
    assert second.logged == 0  # reconciled from the log itself, not appended again
    assert sorted(log_lines(emulator, started.notion_page_id)) == sorted(
        f"✅ {t} — completed by notion-batch" for t in texts
    )
    assert await pool.fetchval("SELECT count(*) FROM notion_todos WHERE log_pending") == 0
    assert await pool.fetchval("SELECT log_reconcile_after FROM notion_batch_runs") is None


async def test_result_under_each_todo_mode(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    started = await start_page(pool, emulator, ["first", "second"])
    report = await processor(pool, notion, mode="todo_children").process(tick(started))
    assert (report.done, report.logged) == (2, 2)
    tree = emulator.state.tree(started.notion_page_id)
    todos = [b for b in tree["blocks"] if b["type"] == "to_do"]
    assert [len(t["children"]) for t in todos] == [1, 1]
    assert all("completed by notion-batch" in t["children"][0]["text"] for t in todos)
    assert not any(b["type"] == "toggle" for b in tree["blocks"])


async def test_failing_todos_are_retried_then_skipped_while_the_rest_go_on(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    async def picky(todo: Todo) -> Outcome:
        if "bad" in todo.text:
            raise ValueError(f"cannot do {todo.text} (key {todo.idempotency_key})")
        if "later" in todo.text:
            return Outcome.skip("not today")
        return Outcome.done("ok")

    started = await start_page(pool, emulator, ["good 1", "bad 1", "later 1", "good 2"])
    work = processor(pool, notion, handler=picky)
    first = await work.process(tick(started))
    assert (first.done, first.skipped, first.failed) == (2, 1, 1)
    second = await work.process(tick(started))
    assert (second.done, second.skipped, second.failed) == (0, 1, 0)  # attempt 2 of 2
    rows = {r["text"]: r for r in await pool.fetch("SELECT * FROM notion_todos")}
    assert rows["bad 1"]["status"] == "skipped" and rows["bad 1"]["attempts"] == 2
    assert f"key {rows['bad 1']['block_id']}:2" in rows["bad 1"]["last_error"]
    assert checked(emulator, started.notion_page_id) == {"good 1", "good 2"}
    lines = log_lines(emulator, started.notion_page_id)
    assert len(lines) == 4
    assert any(line.startswith("⏭") and "bad 1" in line for line in lines)


async def test_stop_during_a_tick_starts_no_new_todo(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    started = await start_page(pool, emulator, [f"task {i}" for i in range(10)])
    seen: list[str] = []

    async def stop_after_three(todo: Todo) -> str:
        seen.append(todo.text)
        if len(seen) == 3:
            await BatchRepository(pool).stop(todo.notion_page_id, message="stopped by request")
        return "ok"

    report = await processor(pool, notion, handler=stop_after_three).process(tick(started))
    assert seen == ["task 0", "task 1", "task 2"]
    assert report.done == 3 and report.checked == 3  # what was done is still recorded
    status = await BatchRepository(pool).status(started.notion_page_id)
    assert status is not None and status.message == "stopped by request"


async def test_the_same_tick_twice_at_once_works_the_page_once(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    started = await start_page(pool, emulator, [f"task {i}" for i in range(20)])
    runs = Counter[str]()

    async def counting(todo: Todo) -> str:
        runs[todo.block_id] += 1
        await asyncio.sleep(0.005)
        return "ok"

    same = tick(started)
    a, b = await asyncio.gather(
        processor(pool, notion, counting).process(same),
        processor(pool, notion, counting).process(dataclasses.replace(same)),
    )
    assert sorted([a.outcome, b.outcome]) == ["busy", "worked"]
    assert len(runs) == 20 and set(runs.values()) == {1}
    assert len(calls(emulator, "update_block")) == 20


async def test_people_checking_todos_first_are_respected(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    created = emulator.state.create_page(
        "people",
        [{"type": "to_do", "text": "mine", "checked": True}, {"type": "to_do", "text": "ours"}],
    )
    started = await BatchRepository(pool).start(
        NewBatch(created.page_id, interval_seconds=60, duration_seconds=600, message="running")
    )
    assert started is not None
    report = await processor(pool, notion).process(tick(started))
    assert report.done == 1
    assert len(calls(emulator, "update_block")) == 1  # "mine" is not touched
    assert [line.split(" — ")[0] for line in log_lines(emulator, created.page_id)] == ["✅ ours"]


async def test_a_page_not_shared_fails_the_batch_with_the_reason(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    started = await start_page(pool, emulator, ["x"], shared=False)
    report = await processor(pool, notion).process(tick(started))
    assert report.outcome == "failed"
    status = await BatchRepository(pool).status(started.notion_page_id)
    assert status is not None and status.status == "failed"
    assert "not shared" in status.message


async def test_a_stale_tick_does_nothing(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    started = await start_page(pool, emulator, ["x"])
    await BatchRepository(pool).stop(started.notion_page_id, message="stopped")
    report = await processor(pool, notion).process(tick(started))
    assert report.outcome == "stale"
    assert emulator.state.requests.query() == []
    assert await pool.fetchval("SELECT count(*) FROM notion_todos") == 0


class _CrashAfterAppend(TickRepository):
    """Dies like a killed worker would: Notion has the lines, the commit never happens."""

    async def mark_logged(
        self, block_ids: Sequence[str], *, reconciled_run: int | None = None
    ) -> None:
        raise _WorkerDied


class _WorkerDied(BaseException):
    pass


async def test_a_worker_dying_between_append_and_commit_does_not_log_twice(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    texts = [f"task {i}" for i in range(4)]
    started = await start_page(pool, emulator, texts)
    doomed = processor(pool, notion)
    # The crash point under test: the recorder commits through a repository that dies.
    doomed._notion["default"].recorder._db = _CrashAfterAppend(pool)
    with pytest.raises(_WorkerDied):
        await doomed.process(tick(started))
    assert len(log_lines(emulator, started.notion_page_id)) == 4
    await pool.execute("UPDATE notion_batch_status SET lease_owner = NULL")  # lease expired

    await asyncio.sleep(RECONCILE_DELAY)
    report = await processor(pool, notion).process(tick(started))
    assert report.logged == 0
    assert sorted(log_lines(emulator, started.notion_page_id)) == sorted(
        f"✅ {t} — completed by notion-batch" for t in texts
    )
    assert await pool.fetchval("SELECT count(*) FROM notion_todos WHERE log_pending") == 0


async def test_outcomes_unrecorded_at_the_end_are_recorded_by_a_record_only_tick(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    texts = [f"task {i}" for i in range(3)]
    started = await start_page(pool, emulator, texts)
    emulator.state.add_fault(Fault(status=503, code="service_unavailable", method="PATCH"))
    await processor(pool, notion).process(tick(started))
    await BatchRepository(pool).stop(started.notion_page_id, message="stopped by request")
    emulator.state.faults.clear()

    async with BatchRepository(pool).claim_due_flushes(10) as due:
        (flush,) = due
    record = Tick(
        flush.notion_page_id, flush.run_id, flush.scheduled_at.isoformat(), record_only=True
    )
    report = await processor(pool, notion).process(record)
    assert (report.outcome, report.processed, report.checked, report.logged) == (
        "recorded",
        0,
        3,
        3,
    )
    assert checked(emulator, started.notion_page_id) == set(texts)
    status = await BatchRepository(pool).status(started.notion_page_id)
    assert status is not None and status.message == "stopped by request"


async def test_an_integration_the_workers_lack_fails_the_batch_naming_the_variable(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    created = emulator.state.create_page("elsewhere", [{"type": "to_do", "text": "t"}])
    batches = BatchRepository(pool)
    started = await batches.start(
        NewBatch(
            created.page_id,
            interval_seconds=60,
            duration_seconds=600,
            message="running",
            integration="team-b",
        )
    )
    assert started is not None and started.integration == "team-b"
    report = await processor(pool, notion).process(tick(started))
    assert report.outcome == "failed"
    status = await batches.status(created.page_id)
    assert status is not None
    assert status.status == "failed"
    assert "team-b" in status.message and "NOTION_TOKEN_TEAM_B" in status.message
    assert calls(emulator, "list_children") == []  # no other integration's token was tried


async def test_todos_trashed_between_read_and_check_are_skipped_and_the_rest_recorded(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    created = emulator.state.create_page(
        "trash",
        [{"type": "to_do", "text": f"task {i}"} for i in range(8)]
        + [{"type": "toggle", "text": "box", "children": [{"type": "to_do", "text": "inner"}]}],
    )
    started = await BatchRepository(pool).start(
        NewBatch(created.page_id, interval_seconds=60, duration_seconds=600, message="running")
    )
    assert started is not None
    box = created.blocks[8].id
    trash = {"task 2", "task 5"}

    async def trashing(todo: Todo) -> str:
        # A person trashes the to-do (or the toggle above it) after the tick read the page
        # and before it checks the to-do: deterministic, in the handler's turn.
        if todo.text in trash:
            emulator.state.person_update(todo.block_id, archived=True)
        if todo.text == "inner":
            emulator.state.person_update(box, archived=True)
        return "ok"

    work = processor(pool, notion, handler=trashing)
    report = await work.process(tick(started))

    assert report.outcome == "worked"  # not crashed
    edits = Counter(c.path.rsplit("/", 1)[1] for c in calls(emulator, "update_block"))
    assert set(edits.values()) == {1} and len(edits) == 9  # every to-do edited exactly once
    rows = {r["text"]: r for r in await pool.fetch("SELECT * FROM notion_todos")}
    archived = "Can't edit block that is archived. You must unarchive the block before editing."
    for text in trash:
        assert rows[text]["status"] == "skipped"
        assert rows[text]["last_error"] == f"400 validation_error: {archived}"
        assert rows[text]["result"].startswith(
            f"trashed in Notion: 400 validation_error: {archived}"
        )
        assert not rows[text]["check_pending"] and not rows[text]["log_pending"]
    assert rows["inner"]["status"] == "skipped"
    assert rows["inner"]["result"].startswith("trashed in Notion: 400 validation_error: Can't edit")
    assert "archived ancestor" in rows["inner"]["last_error"]
    live = {f"task {i}" for i in range(8)} - trash
    assert checked(emulator, created.page_id) == live
    assert all(rows[t]["status"] == "done" and rows[t]["checked_in_notion_at"] for t in live)
    lines = log_lines(emulator, created.page_id)
    assert len(lines) == 9  # every worked to-do logged once, the trashed ones with the reason
    assert sorted(line.split(" — ")[0] for line in lines if line.startswith("✅")) == sorted(
        f"✅ {t}" for t in live
    )
    assert all("trashed in Notion" in line for line in lines if line.startswith("⏭"))
    run = await pool.fetchrow("SELECT * FROM notion_batch_runs WHERE id = $1", started.run_id)
    assert run is not None
    assert (run["todos_done"], run["todos_skipped"]) == (len(live), 3)

    # A skipped to-do is never edited again.
    emulator.state.requests.clear()
    await work.process(tick(started))
    assert calls(emulator, "update_block") == []
    assert len(log_lines(emulator, created.page_id)) == 9


async def test_a_log_toggle_a_person_trashed_is_replaced_not_a_crash(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    started = await start_page(pool, emulator, ["first"])
    work = processor(pool, notion)
    assert (await work.process(tick(started))).logged == 1
    toggle = await pool.fetchval("SELECT log_block_id FROM notion_batch_runs")
    emulator.state.person_update(str(toggle), archived=True)  # a person trashes our log
    emulator.state.add_children(started.notion_page_id, [{"type": "to_do", "text": "second"}])

    report = await work.process(tick(started))
    assert (report.outcome, report.done, report.logged) == ("worked", 1, 1)
    new_toggle = await pool.fetchval("SELECT log_block_id FROM notion_batch_runs")
    assert new_toggle != toggle
    # Each line once: the trashed toggle keeps what it had, the new one holds the new line.
    assert sorted(log_lines(emulator, started.notion_page_id)) == [
        "✅ first — completed by notion-batch",
        "✅ second — completed by notion-batch",
    ]
    tree = emulator.state.tree(started.notion_page_id)
    (live,) = [
        b for b in tree["blocks"] if b["type"] == "toggle" and str(b["id"]) == str(new_toggle)
    ]
    assert [line["text"] for line in live["children"]] == ["✅ second — completed by notion-batch"]
    assert await pool.fetchval("SELECT count(*) FROM notion_todos WHERE log_pending") == 0


@pytest.mark.parametrize(
    ("fault", "landed"),
    [
        # Applied, then the connection reset before the answer (gh/makenotion/notion-sdk-js#156).
        (Fault(drop=True, method="PATCH", path_contains="/children", count=1), True),
        # A 500 on an append leaves its fate unknown too; here it did not land.
        (Fault(status=500, method="PATCH", path_contains="/children", count=1), False),
    ],
    ids=["landed-unseen", "not-landed"],
)
async def test_a_log_toggle_whose_creation_went_unanswered_is_looked_for_not_made_twice(
    pool: asyncpg.Pool,
    emulator: RunningEmulator,
    notion: NotionGateway,
    fault: Fault,
    landed: bool,
) -> None:
    texts = ["first", "second"]
    started = await start_page(pool, emulator, texts)
    work = processor(pool, notion)
    emulator.state.add_fault(fault)

    first = await work.process(tick(started))
    assert (first.done, first.logged) == (2, 0)
    assert await pool.fetchval("SELECT log_block_id FROM notion_batch_runs") is None
    toggles = [
        b for b in emulator.state.tree(started.notion_page_id)["blocks"] if b["type"] == "toggle"
    ]
    assert len(toggles) == int(landed)

    # Not before the read-back delay (the create might still be landing); then it is looked
    # for on the page, and only made if it is not there.
    assert (await work.process(tick(started))).logged == 0
    await asyncio.sleep(RECONCILE_DELAY)
    assert (await work.process(tick(started))).logged == 2

    tree = emulator.state.tree(started.notion_page_id)
    (toggle,) = [b for b in tree["blocks"] if b["type"] == "toggle"]
    assert str(toggle["id"]) == str(
        await pool.fetchval("SELECT log_block_id FROM notion_batch_runs")
    )
    if landed:
        assert toggle["id"] == toggles[0]["id"]
    assert sorted(log_lines(emulator, started.notion_page_id)) == sorted(
        f"✅ {t} — completed by notion-batch" for t in texts
    )
    assert await pool.fetchval("SELECT log_reconcile_after FROM notion_batch_runs") is None


async def test_a_read_that_uses_up_the_ticks_time_still_leaves_time_to_work(
    pool: asyncpg.Pool, emulator: RunningEmulator, notion: NotionGateway
) -> None:
    # A fleet queued behind a slow shared rate limit: reading the page takes longer than the
    # tick's time (10 s). Were the read to use up the tick, every tick would read and work
    # nothing — the page never done.
    created = emulator.state.create_page(
        "slow read", [{"type": "to_do", "text": f"task {i:04d}"} for i in range(1050)]
    )
    started = await BatchRepository(pool).start(
        NewBatch(created.page_id, interval_seconds=5, duration_seconds=600, message="running")
    )
    assert started is not None
    emulator.state.add_fault(Fault(latency=0.95, method="GET", path_contains="/children"))
    report = await processor(pool, notion).process(tick(started))
    assert len(calls(emulator, "list_children")) == 11
    assert report.outcome == "worked" and report.done > 0
