"""TickRepository's to-dos (sync, outcomes, outbox) and batch failure against real PostgreSQL."""

import uuid

import asyncpg
import pytest

from notion_batch.common.db.batches import BatchRepository, NewBatch, StartedBatch
from notion_batch.common.db.sql import sql
from notion_batch.common.db.ticks import Holder, Lease, SyncedTodo, TickRepository


@pytest.fixture
async def started(pool: asyncpg.Pool) -> StartedBatch:
    batch = await BatchRepository(pool).start(
        NewBatch(str(uuid.uuid4()), interval_seconds=60, duration_seconds=900, message="running")
    )
    assert batch is not None
    return batch


def todos(n: int, checked: set[int] = frozenset()) -> list[SyncedTodo]:  # type: ignore[assignment]
    return [SyncedTodo(str(uuid.UUID(int=i + 1)), i, f"task {i}", i in checked) for i in range(n)]


async def test_sync_makes_unchecked_pending_and_respects_people(
    pool: asyncpg.Pool, started: StartedBatch
) -> None:
    repo = TickRepository(pool)
    page = started.notion_page_id
    await repo.merge_synced(page, todos(4, checked={1}))
    pending = await repo.pending(page, 10)
    assert [p.text for p in pending] == ["task 0", "task 2", "task 3"]
    # A person checks task 2 in Notion, and deletes task 3.
    synced = todos(3, checked={1, 2})
    await repo.merge_synced(page, synced)
    rows = {r["text"]: r for r in await pool.fetch("SELECT * FROM notion_todos")}
    assert rows["task 0"]["status"] == "pending"
    assert (
        rows["task 1"]["status"] == "skipped"
        and rows["task 1"]["result"] == "already checked in Notion"
    )
    assert rows["task 2"]["status"] == "skipped" and "by a person" in rows["task 2"]["result"]
    assert rows["task 3"]["status"] == "skipped" and "removed" in rows["task 3"]["result"]
    assert not any(r["check_pending"] or r["log_pending"] for r in rows.values())


async def test_done_is_recorded_once_and_fills_the_outbox(
    pool: asyncpg.Pool, started: StartedBatch
) -> None:
    repo = TickRepository(pool)
    page = started.notion_page_id
    await repo.merge_synced(page, todos(2))
    first, second = await repo.pending(page, 10)
    assert (await repo.record_outcome(first.block_id, started.run_id, "done", "ok")).recorded
    again = await repo.record_outcome(first.block_id, started.run_id, "done", "again")
    assert again.recorded is False
    skipped = await repo.record_outcome(second.block_id, started.run_id, "skipped", "not today")
    with pytest.raises(ValueError, match="done or skipped"):
        await repo.record_outcome(second.block_id, started.run_id, "pending", "no")  # type: ignore[arg-type]
    assert skipped.recorded
    outbox = await repo.outbox(page, 10)
    assert [(o.status, o.check_pending, o.log_pending) for o in outbox] == [
        ("done", True, True),
        ("skipped", False, True),
    ]
    await repo.mark_checked([first.block_id])
    await repo.mark_logged([first.block_id, second.block_id])
    assert await repo.outbox(page, 10) == []
    run = await pool.fetchrow("SELECT todos_done, todos_skipped FROM notion_batch_runs")
    assert run is not None
    assert (run["todos_done"], run["todos_skipped"]) == (1, 1)


async def test_failures_retry_then_skip_with_the_error_kept(
    pool: asyncpg.Pool, started: StartedBatch
) -> None:
    repo = TickRepository(pool)
    page = started.notion_page_id
    await repo.merge_synced(page, todos(1))
    (todo,) = await repo.pending(page, 10)
    first = await repo.record_failure(todo.block_id, started.run_id, "boom", max_attempts=3)
    assert (first.recorded, first.status, first.attempts) == (True, "pending", 1)
    (again,) = await repo.pending(page, 10)
    assert again.attempts == 1  # the next run is attempt 2
    await repo.record_failure(todo.block_id, started.run_id, "boom", max_attempts=3)
    last = await repo.record_failure(todo.block_id, started.run_id, "bang", max_attempts=3)
    assert (last.recorded, last.status, last.attempts) == (True, "skipped", 3)
    row = await pool.fetchrow("SELECT * FROM notion_todos")
    assert row is not None
    assert row["last_error"] == "bang" and "3 failed attempts" in row["result"]
    assert row["log_pending"] and not row["check_pending"]


async def test_pending_cursor_walks_in_page_order(
    pool: asyncpg.Pool, started: StartedBatch
) -> None:
    repo = TickRepository(pool)
    page = started.notion_page_id
    await repo.merge_synced(page, todos(5))
    first = await repo.pending(page, 2)
    rest = await repo.pending(page, 10, after=first[-1])
    assert [t.text for t in first + rest] == [f"task {i}" for i in range(5)]


async def test_todos_start_only_while_running_under_our_lease(
    pool: asyncpg.Pool, started: StartedBatch
) -> None:
    repo = TickRepository(pool)
    page = started.notion_page_id
    lease = await repo.acquire_lease(page, started.run_id, "w1", 30)
    assert isinstance(lease, Lease)
    assert await repo.may_start(page, "w1") is True
    assert await repo.may_start(page, "someone-else") is False
    await BatchRepository(pool).stop(page, message="stopped")
    assert await repo.may_start(page, "w1") is False


async def test_an_outcome_commit_tells_whether_the_next_todo_may_start(
    pool: asyncpg.Pool, started: StartedBatch
) -> None:
    # The commit answers may_start's question in the same statement, whatever the outcome.
    repo = TickRepository(pool)
    page, run = started.notion_page_id, started.run_id
    await repo.merge_synced(page, todos(6))
    a, b, c, d, e, f = await repo.pending(page, 10)
    assert isinstance(await repo.acquire_lease(page, run, "w1", 30), Lease)
    ours, theirs = Holder(page, "w1"), Holder(page, "someone-else")

    assert (await repo.record_outcome(a.block_id, run, "done", "ok", holder=ours)).may_continue
    assert not (
        await repo.record_outcome(b.block_id, run, "done", "ok", holder=theirs)
    ).may_continue
    assert not (await repo.record_outcome(c.block_id, run, "done", "ok")).may_continue  # no holder
    failed = await repo.record_failure(d.block_id, run, "boom", max_attempts=3, holder=ours)
    assert failed.recorded and failed.may_continue
    # Expired: the end time has passed (the scheduler has not completed the batch yet).
    await pool.execute("UPDATE notion_batch_status SET end_time = now() - interval '1 second'")
    expired = await repo.record_outcome(e.block_id, run, "skipped", "no", holder=ours)
    assert expired.recorded and not expired.may_continue
    await pool.execute("UPDATE notion_batch_status SET end_time = now() + interval '1 hour'")
    await BatchRepository(pool).stop(page, message="stopped")
    # Recorded even so (the handler ran before the stop), but nothing new may start.
    stopped = await repo.record_outcome(f.block_id, run, "done", "ok", holder=ours)
    assert stopped.recorded and not stopped.may_continue
    # Already recorded: not again, and the answer still comes.
    again = await repo.record_failure(f.block_id, run, "late", max_attempts=3, holder=ours)
    assert (again.recorded, again.status, again.may_continue) == (False, None, False)


async def test_log_block_and_reconcile_flag(pool: asyncpg.Pool, started: StartedBatch) -> None:
    repo = TickRepository(pool)
    block = str(uuid.uuid4())
    await repo.set_log_block(started.run_id, block)
    await repo.set_log_reconcile(started.run_id, 0)
    assert await repo.log_block_ids(started.notion_page_id) == [block]
    state = await repo.run_log_state(started.run_id)
    assert (state.block_id, state.reconcile_needed, state.reconcile_ready) == (block, True, True)
    await repo.set_log_reconcile(started.run_id, 60)
    assert (await repo.run_log_state(started.run_id)).reconcile_ready is False


async def test_failing_a_batch_keeps_the_reason(pool: asyncpg.Pool, started: StartedBatch) -> None:
    ticks, batches = TickRepository(pool), BatchRepository(pool)
    reason = "Notion page x was not found or is not shared with the integration"
    assert await ticks.fail_batch(started.notion_page_id, started.run_id, reason) is True
    assert await ticks.fail_batch(started.notion_page_id, started.run_id, reason) is False
    status = await batches.status(started.notion_page_id)
    assert status is not None and (status.status, status.message) == ("failed", reason)
    run = await pool.fetchrow("SELECT status, end_reason FROM notion_batch_runs")
    assert run is not None
    assert (run["status"], run["end_reason"]) == ("failed", "failed")


@pytest.mark.parametrize(
    "query",
    ["todo_may_start", "todo_record_outcome", "lease_acquire", "claim_due_ticks", "extend_lock"],
)
async def test_the_lease_rule_is_inlined_into_the_statements_that_ask_it(
    pool: asyncpg.Pool, query: str
) -> None:
    # Migration 0010's functions are one SQL expression each so that PostgreSQL inlines them:
    # the plan filters on the row's columns (index use and row locks as if written out). A
    # function it could not inline (plpgsql, STRICT, a sub-select…) would be a call per row.
    async with pool.acquire() as conn, conn.transaction():
        nargs = len((await conn.prepare(sql(query))).get_parameters())
        # The generic plan: the one of a statement run again and again, whatever its values.
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE probe AS {sql(query).rstrip(';')}")
        try:
            args = ", ".join(["NULL"] * nargs)
            rows = await conn.fetch(f"EXPLAIN (VERBOSE, COSTS OFF) EXECUTE probe({args})")
        finally:
            await conn.execute("DEALLOCATE probe")
    plan = "\n".join(r[0] for r in rows)
    assert "notion_batch_" not in plan.replace("notion_batch_status", "").replace(
        "notion_batch_runs", ""
    ), plan
    assert "end_time > now()" in plan
