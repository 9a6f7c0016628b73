"""Where ticks are consumed: decode, work, then ack — or hand the tick back.

Acks come after the tick's work is committed. A tick that cannot be decoded is rejected
(dead-lettered). One that fails for a passing reason (database away) is requeued after a
pause; one that crashes our code is requeued too, and the queue's delivery limit
dead-letters it if it keeps crashing. A tick interrupted by shutdown is requeued at once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from aio_pika.abc import AbstractIncomingMessage

from notion_batch.common.errors import MessageError, UnavailableError
from notion_batch.common.messaging.messages import Tick, decode
from notion_batch.common.metrics import get_metrics
from notion_batch.worker.tick import TickProcessor

log = structlog.get_logger(__name__)

#: Pause before handing back a tick that failed for a passing reason, so a database
#: outage does not turn into a hot redelivery loop.
REQUEUE_PAUSE_SECONDS = 2.0


class TickConsumer:
    def __init__(self, processor: TickProcessor) -> None:
        self._processor = processor
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
        except asyncio.CancelledError:
            log.warning("tick_handed_back", reason="worker shutting down")
            await asyncio.shield(message.nack(requeue=True))
            self._metrics.ticks_returned.labels(reason="shutdown").inc()
            raise
        except UnavailableError as exc:
            log.warning("tick_handed_back", reason=str(exc))
            await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
            await message.nack(requeue=True)
            self._metrics.ticks_returned.labels(reason="unavailable").inc()
            return
        except Exception:
            log.exception("tick_crashed")
            await message.nack(requeue=True)
            self._metrics.ticks_returned.labels(reason="crashed").inc()
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
