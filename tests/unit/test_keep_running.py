"""keep_running: a service loop that raises is logged and started again, never lost."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from notion_batch.common.lifecycle import keep_running

pytestmark = pytest.mark.timeout(10)


async def test_a_loop_that_raises_is_logged_and_run_again() -> None:
    runs = 0
    again = asyncio.Event()

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise KeyError("boom")
        again.set()
        await asyncio.Event().wait()

    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(keep_running("emitter", loop, restart_after=0.01))
        await asyncio.wait_for(again.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    crashed = [e for e in logs if e["event"] == "service_loop_crashed"]
    assert len(crashed) == 1 and crashed[0]["loop"] == "emitter"
    assert crashed[0]["error"] == "KeyError: 'boom'" and crashed[0]["log_level"] == "error"
    assert any(e["event"] == "service_loop_restarted" for e in logs)
    assert runs == 2


async def test_cancelling_ends_it_without_a_restart() -> None:
    started = asyncio.Event()

    async def loop() -> None:
        started.set()
        await asyncio.Event().wait()

    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(keep_running("gauges", loop))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not [e for e in logs if e["event"].startswith("service_loop")]
