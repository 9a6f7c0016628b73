"""Where ticks are consumed: decode, work, then ack — or hand the tick back.

Acks come after the tick's work is committed. A tick that cannot be decoded is rejected
(dead-lettered). One that fails for a passing reason (database away) is requeued after a
pause. One that crashes our code is counted against its batch's run, in the database (its
redeliveries and the page's next ticks may go to any worker): it is requeued until the
batch's ticks crashed ``WORKER_CRASH_LIMIT`` times in a row; then the batch fails with the
error and that tick is dead-lettered, so the page stops coming back. A tick worked without a
crash starts the count again. The queue's delivery limit stays the backstop for a crash that
cannot be counted (a tick naming no known run). A tick interrupted by shutdown is requeued
at once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from aio_pika.abc import AbstractIncomingMessage

from notion_batch.common.db.crashes import CrashCount, CrashRepository
from notion_batch.common.db.ticks import TickRepository
from notion_batch.common.errors import MessageError, UnavailableError
from notion_batch.common.messaging.messages import Tick, decode
from notion_batch.common.metrics import get_metrics
from notion_batch.worker.settings import DEFAULT_WORKER_CRASH_LIMIT
from notion_batch.worker.tick import MAX_ERROR_CHARS, TickProcessor

log = structlog.get_logger(__name__)

#: Pause before handing back a tick that failed for a passing reason, so a database
#: outage does not turn into a hot redelivery loop.
REQUEUE_PAUSE_SECONDS = 2.0
#: Outcomes that show a tick of the batch was worked through without crashing.
_SOUND_OUTCOMES = frozenset({"worked", "recorded"})


class TickConsumer:
    def __init__(
        self,
        processor: TickProcessor,
        *,
        db: TickRepository,
        crashes: CrashRepository,
        crash_limit: int = DEFAULT_WORKER_CRASH_LIMIT,
    ) -> None:
        self._processor = processor
        #: Where a crash loop fails the batch (``fail_batch``, the one way a worker fails one).
        self._db = db
        self._crashes = crashes
        self._crash_limit = crash_limit
        #: Crashes this process could not write (the database was away), by (page, run):
        #: added to the count with the run's next crash, dropped by its next sound tick.
        self._unwritten: dict[tuple[str, int], int] = {}
        self._metrics = get_metrics()
        self._in_flight: set[asyncio.Task[object]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        self._idle.clear()
        try:
            await self._handle(message)
        finally:
            self._in_flight.discard(task)
            if not self._in_flight:
                self._idle.set()

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            tick = decode(message.type, message.body)
        except MessageError as exc:
            log.error("message_rejected", message_id=message.message_id, reason=str(exc))
            await message.reject(requeue=False)
            self._metrics.ticks_returned.labels(reason="rejected").inc()
            return
        if not isinstance(tick, Tick):
            log.error("message_rejected", message_id=message.message_id, reason="not a tick")
            await message.reject(requeue=False)
            self._metrics.ticks_returned.labels(reason="rejected").inc()
            return
        with structlog.contextvars.bound_contextvars(
            notion_page_id=tick.notion_page_id,
            batch_run_id=tick.run_id,
            tick_id=tick.tick_id,
            message_id=message.message_id,
        ):
            await self._work(message, tick)

    async def _work(self, message: AbstractIncomingMessage, tick: Tick) -> None:
        log.info("tick_received", redelivered=message.redelivered, coalesced=tick.coalesced)
        lag = datetime.now(UTC) - datetime.fromisoformat(tick.scheduled_at)
        self._metrics.tick_lag_seconds.observe(max(0.0, lag.total_seconds()))
        try:
            report = await self._processor.process(tick)
            if report.outcome in _SOUND_OUTCOMES:
                await self._crashes.reset(tick.run_id)
                self._unwritten.pop((tick.notion_page_id, tick.run_id), None)
        except asyncio.CancelledError:
            log.warning("tick_handed_back", reason="worker shutting down")
            await asyncio.shield(message.nack(requeue=True))
            self._metrics.ticks_returned.labels(reason="shutdown").inc()
            raise
        except UnavailableError as exc:
            await self._hand_back_later(message, exc)
            return
        except Exception as exc:
            await self._crashed(message, tick, exc)
            return
        await message.ack()
        self._metrics.ticks_processed.labels(outcome=report.outcome).inc()
        log.info(
            "tick_processed",
            outcome=report.outcome,
            processed=report.processed,
            done=report.done,
            skipped=report.skipped,
            failed=report.failed,
            checked=report.checked,
            logged=report.logged,
        )

    async def _crashed(self, message: AbstractIncomingMessage, tick: Tick, exc: Exception) -> None:
        """Count the crash against the tick's run; requeue it, or end the crash loop."""
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        count = await self._count(tick, error)
        # Called while ``exc`` is being handled: the traceback logged is the tick's crash.
        log.exception(
            "tick_crashed",
            crashes=count.crashes if count else None,
            crash_limit=self._crash_limit,
        )
        if count is None or count.crashes < self._crash_limit:
            await message.nack(requeue=True)
            self._metrics.ticks_returned.labels(reason="crashed").inc()
            return
        try:
            await self._end_crash_loop(tick, count, error)
        except UnavailableError as unavailable:
            # Counted, not acted on: the next delivery finds the count at the limit still.
            await self._hand_back_later(message, unavailable)
            return
        # Dead-lettered (the queue's dead-letter exchange), kept there for a person to read.
        await message.reject(requeue=False)
        self._metrics.ticks_returned.labels(reason="crash_loop").inc()

    async def _hand_back_later(
        self, message: AbstractIncomingMessage, unavailable: UnavailableError
    ) -> None:
        """Requeue a tick that failed for a passing reason, after a pause."""
        log.warning("tick_handed_back", reason=str(unavailable))
        await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
        await message.nack(requeue=True)
        self._metrics.ticks_returned.labels(reason="unavailable").inc()

    async def _count(self, tick: Tick, error: str) -> CrashCount | None:
        """The run's crashes in a row with this one; ``None`` when it cannot be counted.

        With the database away the crash is kept here and written with the run's next one
        (a crash is rarely alone): the delivery limit still bounds the redeliveries meanwhile,
        and the log says the count is behind. Lost only if this worker stops before then.
        """
        key = (tick.notion_page_id, tick.run_id)
        crashes = self._unwritten.pop(key, 0) + 1
        try:
            count = await self._crashes.record(
                tick.notion_page_id, tick.run_id, error, crashes=crashes
            )
        except UnavailableError as unavailable:
            self._unwritten[key] = crashes
            log.warning("tick_crash_unwritten", error=str(unavailable), unwritten=crashes)
            await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
            return None
        except Exception as bug:
            # The tick itself is what breaks the query (a run id out of range…): nothing to
            # count against; the delivery limit dead-letters it.
            log.warning("tick_crash_unwritten", error=f"{type(bug).__name__}: {bug}")
            return None
        return count

    async def _end_crash_loop(self, tick: Tick, count: CrashCount, error: str) -> None:
        """Fail the running batch with the error; for an ended one, stop its record-only
        ticks. Both are no-ops when another worker (or a stop, an expiry) got there first."""
        if count.running:
            reason = (
                f"failed: its ticks crashed {count.crashes} times in a row "
                f"(WORKER_CRASH_LIMIT {self._crash_limit}), the last with {error}"
            )
            if await self._db.fail_batch(tick.notion_page_id, tick.run_id, reason):
                log.error("batch_crash_looped", reason=reason, crashes=count.crashes)
                self._metrics.batches_ended.labels(reason="failed").inc()
                self._metrics.batches_crash_looped.inc()
        elif await self._crashes.stop_record_ticks(tick.notion_page_id, tick.run_id):
            log.error(
                "record_ticks_stopped",
                reason=f"record-only ticks crashed {count.crashes} times in a row: {error}",
                crashes=count.crashes,
            )

    async def drain(self, timeout: float) -> bool:
        """Wait for ticks in flight to finish; ``False`` if some were still running at timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def cancel_in_flight(self) -> None:
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
