"""Where stalls are caught: a running batch with no progress while its ticks fall due.

Whatever stopped it — a tick emitter that was stuck, a lease a worker could not release, every
worker gone — the batch is said stalled (``batch_stalled``, the run's ``stalls`` count, the
``batches_stalled`` gauge), its tick is made due at once and a lease left behind is cleared,
so it moves again by itself as soon as anything can move it; ``batch_recovered`` when it does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import structlog

from notion_batch.common.db.stalls import StallRepository
from notion_batch.common.errors import UnavailableError
from notion_batch.common.metrics import get_metrics

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: Batches marked or cleared per statement.
BATCH = 500


async def _in_batches(step: Callable[[int], Awaitable[Sequence[T]]]) -> AsyncIterator[Sequence[T]]:
    """What ``step(BATCH)`` returns, statement after statement, until one comes back short."""
    while rows := await step(BATCH):
        yield rows
        if len(rows) < BATCH:
            return


class StallWatch:
    def __init__(self, stalls: StallRepository, *, every_seconds: float) -> None:
        self._stalls = stalls
        self._every_seconds = every_seconds
        self._metrics = get_metrics()

    async def look(self) -> None:
        """One look: clear the stalls that ended, mark the new ones, refresh the gauge."""
        async for recovered in _in_batches(self._stalls.clear):
            for r in recovered:
                log.info(
                    "batch_recovered",
                    notion_page_id=r.notion_page_id,
                    batch_run_id=r.run_id,
                    status=r.status,
                    stalled_for_s=round(r.stalled_for_seconds, 1),
                )
        async for stalled in _in_batches(self._stalls.mark):
            for s in stalled:
                log.warning(
                    "batch_stalled",
                    notion_page_id=s.notion_page_id,
                    batch_run_id=s.run_id,
                    no_progress_since=s.since.isoformat(),
                )
            self._metrics.batches_stalled_total.inc(len(stalled))
        self._metrics.stalled_batches.set(await self._stalls.count())

    async def run(self) -> None:
        while True:
            try:
                await self.look()
            except UnavailableError as exc:
                log.warning("stall_watch_failed", error=str(exc))
            await asyncio.sleep(self._every_seconds)
