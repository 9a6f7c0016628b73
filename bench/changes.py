"""Change detection: Notion calls per tick, and so pages one integration keeps ticking once a
minute at Notion's 3 requests/s, by page size, quiet or busy, before and after.

In this process, against the real PostgreSQL and the Notion emulator over HTTP through the real
SDK: the worker's own tick processor (``build_processor``) works ticks back to back on a page
whose to-dos are all done (quiet) or to which a person adds one to-do between ticks (busy, with
the Notion page event the API would count). Time is simulated, one minute a tick, for the
worker's clock and the emulator's alike (its stamps are whole minutes, as Notion's), so a run of
``ticks`` ticks covers ``ticks`` minutes — the periodic full read (every 10 minutes) included —
in seconds. The run's first tick (a full read, always) is left out of the figures.

Modes: ``before`` reads every tick (as main did before change detection: a full read, the page
retrieved at most once a minute for the trash), ``stamp`` (the default: one look a quiet tick)
and ``webhook`` (no call while no page event came).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import Result, fresh_database
from notion_batch.common.config import (
    DEFAULT_INTEGRATION,
    NOTION_VERSION,
    DatabaseSettings,
    LogSettings,
    NotionSettings,
)
from notion_batch.common.db.batches import BatchRepository, NewBatch
from notion_batch.common.db.notion_events import NotionEventRepository
from notion_batch.common.db.pool import create_pool
from notion_batch.common.db.ticks import TickRepository
from notion_batch.common.logging import configure_logging
from notion_batch.common.messaging.messages import Tick
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.emulator import EmulatorConfig, RunningEmulator, run_emulator
from notion_batch.worker.changes import ChangeRule
from notion_batch.worker.handlers import Handlers, complete
from notion_batch.worker.main import build_processor
from notion_batch.worker.tick import TickPolicy

#: Notion's documented average per integration, and the interval the guide's batches tick at.
NOTION_RATE = 3.0
TICK_SECONDS = 60
FULL_READ_SECONDS = 600.0
MODES: dict[str, ChangeRule] = {
    # A full read every tick; the trash looked for at most once a minute (PAGE_CHECK_SECONDS
    # runs on the real clock, so in this run: once) — what a tick cost before.
    "before": ChangeRule("webhook", 0.0),
    "stamp": ChangeRule("stamp", FULL_READ_SECONDS),
    "webhook": ChangeRule("webhook", FULL_READ_SECONDS),
}
POLICY = TickPolicy(max_attempts=3, handler_timeout_seconds=60, lease_seconds=60)


@dataclass
class SimulatedClock:
    """The worker's wall clock and the emulator's, one minute on per tick."""

    emulator: RunningEmulator
    offset: float = 0.0

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.emulator.state.set_clock_offset(self.offset)


async def run_case(
    database_url: str, blocks: int, busy: bool, mode: str, ticks: int
) -> dict[str, Any]:
    async with run_emulator(EmulatorConfig(rate_limit=None)) as emulator:
        settings = NotionSettings(
            token=emulator.token,
            base_url=emulator.url,
            version=NOTION_VERSION,
            rate_limit_per_second=1000,
            rate_limit_burst=1,
            timeout_seconds=10,
            max_attempts=3,
            max_retry_after_seconds=5,
        )
        pool = await create_pool(DatabaseSettings(database_url, pool_min_size=1, pool_max_size=4))
        try:
            async with NotionGateway(settings) as gateway:
                clock = SimulatedClock(emulator)
                db = TickRepository(pool)
                work = build_processor(
                    db,
                    {DEFAULT_INTEGRATION: gateway},
                    handlers=Handlers(complete),
                    policy=POLICY,
                    record_mode="page_log",
                    worker_id="bench",
                    reconcile_delay_seconds=20,
                    change_rules={DEFAULT_INTEGRATION: MODES[mode]},
                    clock=clock,
                )
                # All done already: a person checked them before the run (the quiet page).
                created = emulator.state.create_page(
                    f"{blocks} blocks",
                    [
                        {"type": "to_do", "text": f"done {i}", "checked": True}
                        for i in range(blocks)
                    ],
                )
                page = created.page_id
                started = await BatchRepository(pool).start(
                    NewBatch(page, TICK_SECONDS, 24 * 3600, message="running")
                )
                assert started is not None
                events = NotionEventRepository(pool)
                per_tick: list[int] = []
                seconds: list[float] = []
                for i in range(ticks + 1):
                    if busy and i > 0:
                        # Half a minute after the last tick, a person adds a to-do; Notion's
                        # page event reaches the API (counted whatever the mode).
                        clock.advance(TICK_SECONDS / 2)
                        emulator.state.add_children(page, [{"type": "to_do", "text": f"new {i}"}])
                        await events.page_event(page, DEFAULT_INTEGRATION, uuid.uuid4().hex)
                        clock.advance(TICK_SECONDS / 2)
                    elif i > 0:
                        clock.advance(TICK_SECONDS)
                    emulator.state.requests.clear()
                    t0 = time.perf_counter()
                    await work.process(
                        Tick(page, started.run_id, clock().isoformat(), record_only=False)
                    )
                    seconds.append(time.perf_counter() - t0)
                    made = Counter(r.operation for r in emulator.state.requests.query())
                    per_tick.append(sum(made.values()))
                    if i == 0:
                        operations: Counter[str] = Counter()
                        unread: list[int] = []
                    else:
                        operations.update(made)
                        if not made["list_children"]:
                            unread.append(sum(made.values()))
        finally:
            await pool.close()
    steady = per_tick[1:]
    calls = sum(steady) / len(steady)
    return {
        "blocks": blocks,
        "page": "busy" if busy else "quiet",
        "mode": mode,
        "ticks": ticks,
        "calls_per_tick": round(calls, 2),
        "pages_per_integration": int(NOTION_RATE * TICK_SECONDS / calls) if calls else None,
        "first_tick_calls": per_tick[0],
        # Ticks that did not read the page's blocks: what each cost (the target: ≤ 1).
        "unread_ticks": len(unread),
        "unread_tick_calls_max": max(unread) if unread else None,
        "calls_by_operation": dict(operations),
        "tick_ms_median": round(sorted(seconds[1:])[len(seconds[1:]) // 2] * 1000, 1),
    }


async def bench_changes(quick: bool) -> Result:
    ticks = 10 if quick else 30
    sizes = (100,) if quick else (100, 1_000)
    cases: list[dict[str, Any]] = []
    # The worker's own log, in this process: warnings only (a line per to-do would drown the
    # run's output).
    configure_logging(LogSettings(level="WARNING", format="console"), service="bench")
    async with fresh_database() as url:
        for blocks in sizes:
            for busy in (False, True):
                for mode in MODES:
                    case = await run_case(url, blocks, busy, mode, ticks)
                    cases.append(case)
                    print(f"  changes {_brief(case)}", flush=True)
    rows = []
    for case in cases:
        what = f"{case['blocks']:,}-block page, {case['page']}, {case['mode']}"
        pages = case["pages_per_integration"]
        value = f"{case['calls_per_tick']} calls/tick → {pages if pages else '∞'} pages"
        rows.append((what, value, ""))
    return Result(
        "changes",
        {},
        {
            "ticks": ticks,
            "tick_seconds (simulated)": TICK_SECONDS,
            "NOTION_FULL_READ_SECONDS": FULL_READ_SECONDS,
            "notion_rate": NOTION_RATE,
        },
        rows=rows,
        series={"cases": cases},
    )


def _brief(case: dict[str, Any]) -> str:
    keys = ("blocks", "page", "mode", "calls_per_tick", "pages_per_integration")
    return ", ".join(f"{k}={case[k]}" for k in keys)
