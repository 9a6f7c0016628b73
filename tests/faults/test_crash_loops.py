"""Crash loops (issue 12, point 2): a batch whose ticks keep crashing the worker fails.

The crash is a genuine one: Notion's listing answers 200 with a body that is not JSON (a
proxy's page), which the SDK does not expect, so the tick's sync raises ``JSONDecodeError``
— not an outage, not one to-do's failure.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from notion_batch.worker.settings import DEFAULT_WORKER_CRASH_LIMIT
from tests.e2e.stack import wait_for
from tests.faults.harness import FaultStack, death_reason

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

K = DEFAULT_WORKER_CRASH_LIMIT


async def unparsable_listing(stack: FaultStack, page_id: str, **limits: Any) -> None:
    """Listing the page's children answers 200 with HTML from now on (``count``: that often)."""
    await stack.notion(
        "POST",
        "/_emulator/faults",
        json={
            "status": 200,
            "raw_body": "<html>Sign in to continue</html>",
            "method": "GET",
            "path_contains": f"/v1/blocks/{uuid.UUID(page_id)}/children",
            **limits,
        },
    )


def crashes_of(stack: FaultStack, run_id: int) -> list[dict[str, Any]]:
    return stack.worker_events("tick_crashed", batch_run_id=run_id)


async def test_a_batch_whose_ticks_keep_crashing_fails_within_k_deliveries(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    # A healthy page beside it: its ticks show time passing while the failed one stays still.
    healthy_page, _ = await stack.create_page(["healthy"])
    healthy = await stack.start_batch(healthy_page, interval_seconds=1, duration_seconds=120)
    page_id, _ = await stack.create_page(["never reached"])
    await unparsable_listing(stack, page_id)
    started = await stack.start_batch(page_id, interval_seconds=1, duration_seconds=120)

    failed = await wait_for(
        lambda: stack.status_is(page_id, "failed"), timeout=60, what="the batch to fail"
    )
    assert "JSONDecodeError: Expecting value" in failed["db_message"], failed
    assert f"crashed {K} times in a row" in failed["db_message"], failed
    status, history = await stack.api("GET", f"/api/v1/batch/history/{page_id}")
    assert status == 200
    assert "JSONDecodeError: Expecting value" in json.dumps(history), history

    crashes = crashes_of(stack, started["run_id"])
    crashes.sort(key=lambda c: c["crashes"])  # listed worker by worker: put them in order
    assert [c["crashes"] for c in crashes] == list(range(1, K + 1)), crashes
    assert all("JSONDecodeError" in c["exception"] for c in crashes)
    (looped,) = stack.worker_events("batch_crash_looped", batch_run_id=started["run_id"])
    assert looped["crashes"] == K

    # The K-th crashing tick is dead-lettered, not requeued.
    async def dead() -> list[Any] | None:
        return (await stack.take_dead_letters()) or None

    letters = await wait_for(dead, timeout=10, what="the poison tick in the dead-letter queue")
    assert [death_reason(m) for m in letters] == ["rejected"]
    assert letters[0].message_id == crashes[-1]["message_id"]

    # Later: the healthy page ticks on, the failed one gets no tick and no Notion call.
    run = await stack.run(started["run_id"])
    calls = len(await stack.page_requests(page_id))
    healthy_ticks = (await stack.run(healthy["run_id"]))["ticks"]

    async def healthy_ticked() -> bool:
        return bool((await stack.run(healthy["run_id"]))["ticks"] >= healthy_ticks + 5)

    await wait_for(healthy_ticked, timeout=30, what="five more ticks of the healthy page")
    assert (await stack.run(started["run_id"]))["ticks"] == run["ticks"]
    assert len(crashes_of(stack, started["run_id"])) == K
    assert len(await stack.page_requests(page_id)) == calls
    assert (await stack.status(healthy_page))["db_status"] == "running"


async def test_a_tick_worked_in_between_starts_the_count_again(fault_stack: FaultStack) -> None:
    stack = fault_stack
    page_id, _ = await stack.create_page(["still here"])
    started = await stack.start_batch(page_id, interval_seconds=1, duration_seconds=120)
    run_id = started["run_id"]

    for round_ in (1, 2):
        # K - 1 crashes, then the listing answers again and a tick is worked.
        await unparsable_listing(stack, page_id, count=K - 1)
        crashed_before = len(crashes_of(stack, run_id))
        worked_before = len(
            stack.worker_events("tick_processed", batch_run_id=run_id, outcome="worked")
        )

        async def crashed_then_worked(
            crashed_before: int = crashed_before, worked_before: int = worked_before
        ) -> bool:
            crashed = len(crashes_of(stack, run_id)) - crashed_before
            events = stack.worker_events("tick_processed", batch_run_id=run_id, outcome="worked")
            return crashed == K - 1 and len(events) > worked_before

        await wait_for(crashed_then_worked, timeout=60, what=f"round {round_}: crashes, then work")
        assert (await stack.run(run_id))["tick_crashes"] == 0

    # 2 × (K - 1) crashes in all, never K in a row: the batch runs on.
    assert len(crashes_of(stack, run_id)) == 2 * (K - 1)
    assert (await stack.status(page_id))["db_status"] == "running"
    assert await stack.take_dead_letters() == []
