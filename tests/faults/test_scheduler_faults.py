"""The scheduler dies and comes back, or runs twice: the schedule in PostgreSQL holds.

Issue 3, items 3 and 4. The invariant checked throughout: the scheduler moves a page's
``next_tick_at`` only by whole intervals and counts each interval once, as a tick emitted
(``notion_batch_runs.ticks``) or coalesced into the next one (``ticks_coalesced``), so
``next_tick_at = start_time + (ticks + ticks_coalesced) × interval`` at every moment.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.e2e.stack import wait_for
from tests.faults.harness import FaultStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def slots_accounted_for(stack: FaultStack, page_id: str) -> tuple[int, int]:
    """Assert the schedule invariant on one consistent read; returns (ticks, coalesced)."""
    row = await stack.pool.fetchrow(
        """SELECT s.start_time, s.next_tick_at, s.interval_seconds, r.ticks, r.ticks_coalesced
             FROM notion_batch_status s JOIN notion_batch_runs r ON r.id = s.run_id
            WHERE s.notion_page_id = $1""",
        page_id,
    )
    assert row is not None
    slots = row["ticks"] + row["ticks_coalesced"]
    expected = row["start_time"] + timedelta(seconds=row["interval_seconds"] * slots)
    assert row["next_tick_at"] == expected, dict(row)
    return row["ticks"], row["ticks_coalesced"]


def regular(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Interval ticks only: not the record-only ticks that flush an ended batch's outbox."""
    return [e for e in events if not e.get("record_only")]


def emitted(stack: FaultStack, scheduler: str, run_id: int) -> list[dict[str, Any]]:
    return regular(stack.events(scheduler, "tick_emitted", batch_run_id=run_id))


@pytest.mark.stack_env(TEST_WORKERS="1")
async def test_scheduler_killed_and_restarted_resumes_from_the_database(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    steady, _ = await stack.create_page(["steady 0", "steady 1"])
    short, _ = await stack.create_page(["short 0", "short 1"])
    a = await stack.start_batch(steady, interval_seconds=1, duration_seconds=120)
    b = await stack.start_batch(short, interval_seconds=1, duration_seconds=4)

    async def both_ticking() -> bool:
        return all([(await stack.run(r))["ticks"] >= 2 for r in (a["run_id"], b["run_id"])])

    await wait_for(both_ticking, timeout=20, what="both batches to tick twice")
    assert await stack.kill(stack.service("scheduler-1")) == -signal.SIGKILL

    ticks_before, coalesced_before = await slots_accounted_for(stack, steady)
    resume_at = (await stack.page_row(steady))["next_tick_at"]
    short_row = await stack.page_row(short)
    short_ticks = (await stack.run(b["run_id"]))["ticks"]
    # Down for at least five intervals, and until the short batch is past its end.
    down = max(5.5, (short_row["end_time"] - short_row["db_now"]).total_seconds() + 1)
    await asyncio.sleep(down)

    assert (await stack.run(a["run_id"]))["ticks"] == ticks_before, "nothing ticks while down"
    expired = await stack.page_row(short)
    assert expired["status"] == "running" and expired["end_time"] < expired["db_now"], (
        "the short batch expired while no scheduler ran"
    )

    await stack.spawn_scheduler("scheduler-2")
    completed = await wait_for(
        lambda: stack.status_is(short, "completed"), timeout=10, what="the expired batch to end"
    )
    assert "expired" in completed["db_message"]
    short_run = await stack.run(b["run_id"])
    assert short_run["end_reason"] == "expired" and short_run["status"] == "completed"
    assert short_run["ticks"] == short_ticks, "no tick for a batch past its end"
    assert not emitted(stack, "scheduler-2", b["run_id"])

    # The first tick after the restart is the one the database said was next, with every
    # interval missed meanwhile coalesced into it. (The scheduler wakes when a tick is due, so
    # the next regular tick may already follow it in the log: take the first.)
    first, *_ = await stack.wait_event(
        "scheduler-2", "tick_emitted", timeout=10, batch_run_id=a["run_id"], record_only=False
    )
    assert datetime.fromisoformat(first["scheduled_at"]) == resume_at
    assert first["coalesced"] >= int(down) - 1, first
    await asyncio.sleep(3.2)
    ticks_after, coalesced_after = await slots_accounted_for(stack, steady)
    assert coalesced_after - coalesced_before == first["coalesced"], "coalesced once, counted"

    # No burst: the tick after the coalesced one is due past every interval it covered, and
    # from then on one per interval (each tick moves the next on by 1 + what it coalesced).
    resumed = emitted(stack, "scheduler-2", a["run_id"])
    assert 3 <= len(resumed) <= 5, [(e["scheduled_at"], e["coalesced"]) for e in resumed]
    assert ticks_after - ticks_before == len(resumed)
    for earlier, later in itertools.pairwise(resumed):
        gap = datetime.fromisoformat(later["scheduled_at"]) - datetime.fromisoformat(
            earlier["scheduled_at"]
        )
        assert gap == timedelta(seconds=1 + earlier["coalesced"]), (earlier, later)

    # Consume side: the worker got each resumed tick once, the coalesced one saying so.
    async def all_received() -> Counter[str] | None:
        got = Counter(
            e["tick_id"] for e in stack.worker_events("tick_received", batch_run_id=a["run_id"])
        )
        return got if all(got[e["tick_id"]] for e in resumed) else None

    received = await wait_for(all_received, timeout=10, what="the worker to get resumed ticks")
    assert all(received[e["tick_id"]] == 1 for e in resumed), received
    (got_first,) = stack.worker_events("tick_received", tick_id=first["tick_id"])
    assert got_first["coalesced"] == first["coalesced"]
    await stack.stop_batch(steady)


@pytest.mark.stack_env(TEST_SCHEDULERS="2", TEST_WORKERS="1")
async def test_two_schedulers_emit_one_tick_per_page_per_interval(fault_stack: FaultStack) -> None:
    stack = fault_stack
    duration = 8
    runs: dict[str, int] = {}
    for n in range(4):
        page_id, _ = await stack.create_page([f"page {n} task {i}" for i in range(2)])
        started = await stack.start_batch(page_id, interval_seconds=1, duration_seconds=duration)
        runs[page_id] = started["run_id"]

    async def all_completed() -> bool:
        return all([await stack.status_is(p, "completed") for p in runs])

    await wait_for(all_completed, timeout=duration + 15, what="every batch to expire")

    by_scheduler = {
        name: [
            e
            for e in regular(stack.events(name, "tick_emitted"))
            if e["batch_run_id"] in runs.values()
        ]
        for name in ("scheduler-1", "scheduler-2")
    }
    # Both really competed (a page's tick goes to whichever polls first after it is due).
    assert all(by_scheduler.values()), {k: len(v) for k, v in by_scheduler.items()}
    every = by_scheduler["scheduler-1"] + by_scheduler["scheduler-2"]
    assert len({e["tick_id"] for e in every}) == len(every), "a tick was emitted twice"

    received = Counter(e["tick_id"] for e in stack.worker_events("tick_received"))
    for page_id, run_id in runs.items():
        run = await stack.run(run_id)
        ticks = [e for e in every if e["batch_run_id"] == run_id]
        # One tick per interval from start to end — each interval emitted or coalesced, once.
        assert run["ticks"] == len(ticks) <= duration, (page_id, run["ticks"], len(ticks))
        assert run["ticks"] + run["ticks_coalesced"] == duration, dict(run)
        assert sum(1 + e["coalesced"] for e in ticks) == duration
        stamps = sorted(datetime.fromisoformat(e["scheduled_at"]) for e in ticks)
        assert len(set(stamps)) == len(stamps)
        assert all(
            later - earlier >= timedelta(seconds=1) for earlier, later in itertools.pairwise(stamps)
        )
        # And each reached a worker exactly once.
        assert all(received[e["tick_id"]] == 1 for e in ticks), [
            (e["tick_id"], received[e["tick_id"]]) for e in ticks
        ]
