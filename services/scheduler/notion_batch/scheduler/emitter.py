"""Where ticks are emitted: one per running page per interval, until the batch expires.

The schedule lives in PostgreSQL (``next_tick_at`` on each page's row), not in memory: a
restarted scheduler picks up where the last one stopped, ticks missed meanwhile are
coalesced into one, and several schedulers can run at once — each claims due pages with
``FOR UPDATE SKIP LOCKED``, so a page's tick is claimed by exactly one of them.

Between rounds the loop sleeps until the next tick, record-only tick or expiry is due (one
indexed query), at least ``MIN_SLEEP_SECONDS`` and at most the poll, and a start command
wakes it at once: a tick's lag is the time to claim and publish it, not the poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import structlog

from notion_batch.common.db.batches import BatchRepository, DueTick
from notion_batch.common.errors import UnavailableError
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.messages import Tick
from notion_batch.common.metrics import get_metrics

log = structlog.get_logger(__name__)

#: How often the gauges (running batches, queue depths) are refreshed; each is one query.
GAUGE_SECONDS = 10.0
#: Shortest sleep between rounds: ticks falling due within it are claimed together, and
#: rows another scheduler holds (due, but skipped as locked) do not make the loop spin.
MIN_SLEEP_SECONDS = 0.05
#: Claim-and-publish loops at once: while one waits for the broker's confirms and its
#: commit, the next claims (SKIP LOCKED keeps their pages apart). Each holds a connection.
EMIT_LANES = 2


def tick_for(due: DueTick, *, record_only: bool = False) -> Tick:
    return Tick(
        notion_page_id=due.notion_page_id,
        run_id=due.run_id,
        scheduled_at=due.scheduled_at.isoformat(),
        coalesced=due.missed,
        record_only=record_only,
    )


class TickEmitter:
    def __init__(
        self,
        batches: BatchRepository,
        broker: Broker,
        *,
        poll_seconds: float,
        claim_batch_size: int,
    ) -> None:
        self._batches = batches
        self._broker = broker
        self._poll_seconds = poll_seconds
        self._claim_batch_size = claim_batch_size
        self._wake = asyncio.Event()
        self._metrics = get_metrics()

    def wake(self) -> None:
        """Look for due pages now (a batch was just started) instead of at the next poll."""
        self._wake.set()

    async def emit_due(self) -> int:
        """Emit every due tick, then the record-only ticks of ended batches; returns how many."""
        return await self._emit(record_only=False) + await self._emit(record_only=True)

    async def _emit(self, *, record_only: bool) -> int:
        if record_only:  # few, after batches end: one lane
            return await self._emit_lane(record_only=True)
        lanes = await asyncio.gather(
            *(self._emit_lane(record_only=False) for _ in range(EMIT_LANES)),
            return_exceptions=True,
        )
        # Every lane has ended (a failed one rolled its claim back): now report the failure.
        for lane in lanes:
            if isinstance(lane, BaseException):
                raise lane
        return sum(lane for lane in lanes if isinstance(lane, int))

    async def _emit_lane(self, *, record_only: bool) -> int:
        claim = self._batches.claim_due_flushes if record_only else self._batches.claim_due_ticks
        emitted = 0
        while True:
            # Claim, publish with confirms, then commit: a publish that fails rolls the
            # claim back, so the ticks stay due and the next round emits them.
            async with claim(self._claim_batch_size) as due:
                ticks = [tick_for(d, record_only=record_only) for d in due]
                await self._broker.publish_many(list(ticks))
            if ticks:
                self._log_emitted(due, ticks, record_only=record_only)
            emitted += len(ticks)
            self._metrics.ticks_emitted.inc(len(ticks))
            self._metrics.ticks_coalesced.inc(sum(t.coalesced for t in ticks))
            if len(ticks) < self._claim_batch_size:
                return emitted

    @staticmethod
    def _log_emitted(due: list[DueTick], ticks: list[Tick], *, record_only: bool) -> None:
        # One line per claim at info; a line per tick would be a quarter of the scheduler's
        # CPU, and 16,667 lines a second at 1M batches. Per tick: debug (and coalesced ones).
        lag = datetime.now(UTC) - min(d.scheduled_at for d in due)
        log.info(
            "ticks_emitted",
            count=len(ticks),
            record_only=record_only,
            coalesced=sum(t.coalesced for t in ticks),
            first_scheduled_at=ticks[0].scheduled_at,
            last_scheduled_at=ticks[-1].scheduled_at,
            max_lag_ms=round(lag.total_seconds() * 1000, 1),
        )
        # Asked of the stdlib logger the pipeline ends in: a debug call that is filtered out
        # would still run every processor first.
        debug = logging.getLogger(__name__).isEnabledFor(logging.DEBUG)
        for tick in ticks:
            if debug:
                log.debug(
                    "tick_emitted",
                    notion_page_id=tick.notion_page_id,
                    batch_run_id=tick.run_id,
                    tick_id=tick.tick_id,
                    scheduled_at=tick.scheduled_at,
                    coalesced=tick.coalesced,
                    record_only=tick.record_only,
                )
            if tick.coalesced:
                log.info(
                    "ticks_coalesced",
                    notion_page_id=tick.notion_page_id,
                    batch_run_id=tick.run_id,
                    count=tick.coalesced,
                )

    async def end_expired(self) -> int:
        ended = 0
        while True:
            batch = await self._batches.complete_expired(self._claim_batch_size)
            for b in batch:
                log.info(
                    "batch_completed",
                    notion_page_id=b.notion_page_id,
                    batch_run_id=b.run_id,
                    reason="expired",
                    message=b.message,
                )
            ended += len(batch)
            self._metrics.batches_ended.labels(reason="expired").inc(len(batch))
            if len(batch) < self._claim_batch_size:
                return ended

    async def measure(self) -> None:
        """Refresh the fleet gauges: running batches and queue depths."""
        self._metrics.active_batches.set(await self._batches.running_count())
        for queue, depth in (await self._broker.queue_depths()).items():
            self._metrics.queue_depth.labels(queue=queue).set(depth)

    async def measure_forever(self, every_seconds: float = GAUGE_SECONDS) -> None:
        while True:
            try:
                await self.measure()
            except UnavailableError as exc:
                log.warning("scheduler_gauges_failed", error=str(exc))
            await asyncio.sleep(every_seconds)

    async def _until_next_due(self) -> float:
        due_in = await self._batches.next_due_in()
        if due_in is None:
            return self._poll_seconds
        return min(self._poll_seconds, max(due_in, MIN_SLEEP_SECONDS))

    async def run(self) -> None:
        """Emit and expire until cancelled."""
        failures = 0
        while True:
            self._wake.clear()
            try:
                await self.emit_due()
                await self.end_expired()
                failures = 0
                timeout = await self._until_next_due()
            except UnavailableError as exc:
                failures += 1
                timeout = min(self._poll_seconds * 2**failures, 10.0)
                log.warning("scheduler_round_failed", error=str(exc), retry_in_s=timeout)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
