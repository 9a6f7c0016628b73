"""Messages no well-behaved service sends: duplicates, stale ticks, poison.

Issue 3, items 7 and 8. They are published straight to the broker the way the scheduler
publishes (persistent, confirmed, same exchange and routing key, deterministic message id),
so the worker cannot tell them from real ones.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notion_batch.common.messaging.messages import StartBatch, Tick, encode
from notion_batch.common.messaging.topology import DELIVERY_LIMIT, ROUTING_START
from tests.e2e.stack import wait_for
from tests.faults.harness import FaultStack, death_reason, pick

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def first_tick(started: dict[str, Any], *, later: float = 0) -> Tick:
    """The tick the scheduler would emit first for a batch the API just started."""
    at = datetime.fromisoformat(started["start_time"]) + timedelta(seconds=later)
    return Tick(started["notion_page_id"], started["run_id"], at.isoformat())


async def handled(stack: FaultStack, tick: Tick, *, count: int = 1) -> list[dict[str, Any]]:
    """Wait until workers finished with ``count`` deliveries of ``tick``; their reports."""

    async def done() -> list[dict[str, Any]] | None:
        reports = stack.worker_events("tick_processed", message_id=tick.message_id)
        return reports if len(reports) >= count else None

    return await wait_for(done, timeout=30, what=f"{count} × tick {tick.tick_id} handled")


@pytest.mark.stack_env(TEST_SCHEDULERS="0", TEST_HANDLER_DELAY="0.2")
async def test_duplicate_and_stale_ticks_do_no_double_work_and_start_nothing_late(
    fault_stack: FaultStack,
) -> None:
    # No scheduler runs: every tick here is one the test published, and nothing ends expired
    # batches but the worker's own checks.
    stack = fault_stack

    # -- the same tick twice at once, then a third time after the page was worked ------------
    dup_page, dup_blocks = await stack.create_page([f"dup {i}" for i in range(8)])
    dup = await stack.start_batch(dup_page, interval_seconds=1, duration_seconds=120)
    dup_tick = first_tick(dup)
    await stack.publish_tick(dup_tick)
    await stack.publish_tick(dup_tick)

    # -- a tick for a stopped page, then one of its previous run after a restart -------------
    stop_page, _ = await stack.create_page(["stop 0", "stop 1"])
    stopped = await stack.start_batch(stop_page, interval_seconds=1, duration_seconds=120)
    await stack.stop_batch(stop_page)
    stopped_tick = first_tick(stopped)
    await stack.publish_tick(stopped_tick)
    (report,) = await handled(stack, stopped_tick)
    assert report["outcome"] == "stale"
    restarted = await stack.start_batch(stop_page, interval_seconds=1, duration_seconds=120)
    old_run_tick = first_tick(stopped, later=1)
    await stack.publish_tick(old_run_tick)

    # -- a tick after expiry that no scheduler has ended yet ----------------------------------
    late_page, _ = await stack.create_page(["late 0", "late 1"])
    late = await stack.start_batch(late_page, interval_seconds=1, duration_seconds=1)

    async def past_end() -> bool:
        row = await stack.page_row(late_page)
        return bool(row["db_now"] > row["end_time"])

    await wait_for(past_end, timeout=5, what="the short batch to pass its end")
    late_tick = first_tick(late)
    await stack.publish_tick(late_tick)

    # -- a tick in flight when its batch expires: 20 × 0.2 s of work, 2 s to do it -----------
    exp_page, exp_blocks = await stack.create_page([f"expiring {i:02d}" for i in range(20)])
    expiring = await stack.start_batch(exp_page, interval_seconds=1, duration_seconds=2)
    exp_tick = first_tick(expiring)
    await stack.publish_tick(exp_tick)

    # Duplicates: one delivery did the page, the other found it busy (or done).
    reports = await handled(stack, dup_tick, count=2)
    await wait_for(
        lambda: stack.all_recorded(dup_page, len(dup_blocks)),
        timeout=30,
        what="the duplicated page to be done and recorded",
    )
    await stack.publish_tick(dup_tick)  # a late redelivery of a tick already worked
    reports = await handled(stack, dup_tick, count=3)
    assert [r["processed"] for r in reports if r["processed"]] == [len(dup_blocks)], reports
    assert sum(r["outcome"] == "worked" for r in reports) >= 1
    ran = Counter(e["block_id"] for e in stack.worker_events("todo_processed"))
    assert all(ran[b] == 1 for b in dup_blocks.values()), ran
    dup_run = await stack.run(dup["run_id"])
    assert (dup_run["todos_done"], dup_run["ticks"]) == (len(dup_blocks), 0)
    checks = await stack.check_calls(dup_blocks.values())
    assert checks == Counter(dict.fromkeys(dup_blocks.values(), 1)), checks
    lines = await stack.log_lines(dup_page)
    assert lines == Counter(dict.fromkeys(dup_blocks.values(), 1)), lines

    # Stale ticks: refused before any Notion call or handler run.
    (report,) = await handled(stack, old_run_tick)
    assert report["outcome"] == "stale"
    (skip,) = stack.worker_events("tick_skipped", message_id=old_run_tick.message_id)
    assert str(restarted["run_id"]) in skip["detail"], skip
    (report,) = await handled(stack, late_tick)
    assert report["outcome"] == "stale"
    (skip,) = stack.worker_events("tick_skipped", message_id=late_tick.message_id)
    assert skip["detail"] == "batch has expired"
    for page_id in (stop_page, late_page):
        assert not await stack.todos(page_id), "a stale tick synced the page"
        assert not await stack.page_requests(page_id), "a stale tick called Notion"
        assert not stack.worker_events("todo_processed", notion_page_id=page_id)

    # Expiry mid-tick: at most the to-do in flight at the end finishes after it; none starts.
    (report,) = await handled(stack, exp_tick)
    end = (await stack.page_row(exp_page))["end_time"]
    rows = await stack.todos(exp_page)
    done = [r for r in rows if r["status"] == "done"]
    finished_late = [r for r in done if r["processed_at"] > end]
    assert len(finished_late) <= 1, [(r["text"], r["processed_at"], end) for r in finished_late]
    assert done and len(done) < len(exp_blocks), "the expiry must land in the middle of the tick"
    assert report["done"] == len(done)


@pytest.mark.stack_env(TEST_WORKERS="1")
async def test_poison_messages_are_dead_lettered_and_logged_while_work_goes_on(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    page_id, blocks = await stack.create_page([f"healthy {i:02d}" for i in range(10)])
    started = await stack.start_batch(page_id, interval_seconds=1, duration_seconds=60)
    await wait_for(
        lambda: stack.all_recorded(page_id, len(blocks)),
        timeout=20,
        what="the healthy page to be worked before the poison arrives",
    )

    now = datetime.now(UTC).isoformat()
    valid = encode(Tick(page_id, started["run_id"], now))
    malformed = {
        "poison:bad-json": (b'{"v": 1, "notion_page_id": ', "tick", "body is not JSON"),
        "poison:wrong-type": (valid, "tick.v2", "unknown message type"),
        "poison:wrong-version": (
            valid.replace(b'"v":1', b'"v":2'),
            "tick",
            "schema version 2, expected 1",
        ),
        "poison:not-a-tick": (
            encode(StartBatch(page_id, started["run_id"])),
            "batch.start",
            "not a tick",
        ),
    }
    for message_id, (body, kind, _) in malformed.items():
        await stack.publish_raw(body, kind=kind, message_id=message_id)
    # Well-formed, but run_id overflows PostgreSQL's bigint: every attempt raises in the query.
    crashing = Tick(str(uuid.uuid4()), 2**63, now)
    await stack.publish_tick(crashing)
    await stack.publish_raw(
        b"garbage", kind="batch.start", message_id="poison:command", routing_key=ROUTING_START
    )
    expected_dead = {*malformed, crashing.message_id, "poison:command"}
    # A person adds to-dos meanwhile: the batch must pick them up despite the poison.
    added = await stack.notion(
        "POST",
        f"/_emulator/blocks/{page_id}/children",
        json={"children": [{"type": "to_do", "text": f"added {i}"} for i in range(3)]},
    )
    blocks |= {b["text"]: b["id"] for b in added["blocks"]}

    async def all_dead() -> int | None:
        count = await stack.dead_letter_count()
        return count if count >= len(expected_dead) else None

    await wait_for(all_dead, timeout=30, what="every poison message to be dead-lettered")
    dead = await stack.take_dead_letters()
    assert Counter(m.message_id for m in dead) == Counter(expected_dead)
    reasons = {m.message_id: death_reason(m) for m in dead}
    assert reasons == {
        **dict.fromkeys([*malformed, "poison:command"], "rejected"),
        crashing.message_id: "delivery_limit",
    }, reasons

    # Logged: each malformed message once, refused at the door; the crashing tick once per
    # delivery, until the queue's delivery limit dead-lettered it.
    worker = stack.events("worker-1")
    for message_id, (_, _, reason) in malformed.items():
        (rejected,) = pick(worker, "message_rejected", message_id=message_id)
        assert reason in rejected["reason"], rejected
    crashes = pick(worker, "tick_crashed", message_id=crashing.message_id)
    deliveries = pick(worker, "tick_received", message_id=crashing.message_id)
    assert len(crashes) == len(deliveries) == DELIVERY_LIMIT + 1, (len(crashes), len(deliveries))
    assert [d["redelivered"] for d in deliveries] == [False] + [True] * DELIVERY_LIMIT
    assert all("out of int64 range" in c["exception"] for c in crashes)
    (rejected,) = stack.events("scheduler-1", "message_rejected", message_id="poison:command")
    assert "not JSON" in rejected["reason"]

    # Meanwhile, and after, the same worker kept serving the healthy page.
    await wait_for(
        lambda: stack.all_recorded(page_id, len(blocks)),
        timeout=20,
        what="the to-dos added during the poison to be done",
    )

    async def worked_after_the_poison() -> list[dict[str, Any]]:
        events = stack.events("worker-1")
        last_poison = max(
            i for i, e in enumerate(events) if e["event"] in ("message_rejected", "tick_crashed")
        )
        return pick(
            events[last_poison:], "tick_processed", notion_page_id=page_id, outcome="worked"
        )

    await wait_for(
        worked_after_the_poison, timeout=10, what="the worker to go on with the healthy page"
    )
    assert stack.service("worker-1").process.returncode is None
    run = await stack.run(started["run_id"])
    assert (run["todos_done"], run["todos_skipped"]) == (len(blocks), 0)
    assert await stack.checked(page_id) == dict.fromkeys(blocks.values(), True)
