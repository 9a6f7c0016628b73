"""Where ticks are emitted: one per running page per interval, until the batch expires.

The schedule lives in PostgreSQL (``next_tick_at`` on each page's row), not in memory: a
restarted scheduler picks up where the last one stopped, ticks missed meanwhile are
coalesced into one, and several schedulers can run at once — each claims due pages with
``FOR UPDATE SKIP LOCKED``, so a page's tick is claimed by exactly one of them.

Between rounds the loop sleeps until the next tick, record-only tick or expiry is due (one
indexed query), at least ``MIN_SLEEP_SECONDS`` and at most the poll, and a start command
wakes it at once: a tick's lag is the time to claim and publish it, not the poll.

Nothing may end or freeze the loop, since every running batch depends on it: a failed round
is logged and retried with backoff whatever it raised, and each step of a round (one claim,
one expiry batch, one look at what is due next) has a deadline, so a step stuck on a dead
socket — or in asyncpg's release of one, which can wait forever (MagicStack/asyncpg#431) — is
cancelled, rolled back and retried. ``heartbeat`` tells how long ago a round last ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog

from notion_batch.common.db.batches import BatchRepository, DueTick
from notion_batch.common.errors import UnavailableError
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.messages import Tick
from notion_batch.common.metrics import get_metrics

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: How often the gauges (running batches, queue depths) are refreshed; each is one query.
GAUGE_SECONDS = 10.0
#: Shortest sleep between rounds: ticks falling due within it are claimed together, and
#: rows another scheduler holds (due, but skipped as locked) do not make the loop spin.
MIN_SLEEP_SECONDS = 0.05
#: Claim-and-publish loops at once: while some wait for the broker's confirms and their
#: commits, others claim (SKIP LOCKED keeps their pages apart), so PostgreSQL's and the
#: broker's work overlap. Each holds a connection while it claims, publishes and commits. At
#: a million batches a minute two lanes fell behind (each claim waits ~ as long on the
#: broker as on PostgreSQL); see docs/performance.md.
EMIT_LANES = 4
#: Longest one step of a round may take (a claim with its publish and commit, an expiry
#: batch, the next-due query); far above a healthy step (milliseconds), below the 30 s
#: command timeout plus a connect, so a step stuck anywhere is cut, not waited on forever.
STEP_TIMEOUT_SECONDS = 45.0
#: Longest wait after a failed round, however many failed in a row.
MAX_BACKOFF_SECONDS = 10.0


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
        step_timeout: float = STEP_TIMEOUT_SECONDS,
    ) -> None:
        self._batches = batches
        self._broker = broker
        self._poll_seconds = poll_seconds
        self._claim_batch_size = claim_batch_size
        self._step_timeout = step_timeout
        self._wake = asyncio.Event()
        self._metrics = get_metrics()
        self._round_ended_at = time.monotonic()
        #: Steps cut at their deadline whose cleanup is still running (kept referenced).
        self._abandoned: set[asyncio.Future[Any]] = set()

    @property
    def heartbeat(self) -> float:
        """Seconds since the last round ended, well or not: the loop's sign of life."""
        return time.monotonic() - self._round_ended_at

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
        emitted = 0
        while True:
            count = await self._bounded(self._emit_claim(record_only=record_only))
            emitted += count
            if count < self._claim_batch_size:
                return emitted

    async def _emit_claim(self, *, record_only: bool) -> int:
        claim = self._batches.claim_due_flushes if record_only else self._batches.claim_due_ticks
        # Claim, publish with confirms, then commit: a publish that fails rolls the claim
        # back, so the ticks stay due and the next round emits them.
        async with claim(self._claim_batch_size) as due:
            ticks = [tick_for(d, record_only=record_only) for d in due]
            await self._broker.publish_many(list(ticks))
        if ticks:
            self._log_emitted(due, ticks, record_only=record_only)
        self._metrics.ticks_emitted.inc(len(ticks))
        self._metrics.ticks_coalesced.inc(sum(t.coalesced for t in ticks))
        return len(ticks)

    async def _bounded(self, step: Coroutine[Any, Any, T]) -> T:
        """Run one step of a round, or raise ``TimeoutError`` once it outlasts its deadline.

        Cancelling is not enough: a cancelled step still rolls back and releases its
        connection, and on a socket that never answers that cleanup waits too (for the
        command timeout, then possibly forever in the release: MagicStack/asyncpg#431). So
        the loop does not wait for the cleanup: the step is cancelled and left to end on its
        own, its connection held meanwhile — the pool has room for that.
        """
        task = asyncio.ensure_future(step)
        done, _ = await asyncio.wait({task}, timeout=self._step_timeout)
        if task in done:
            return task.result()
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)
        raise TimeoutError

    def _forget(self, task: asyncio.Future[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("scheduler_step_ended_late", error=repr(task.exception()))

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
        if not logging.getLogger(__name__).isEnabledFor(logging.DEBUG):
            return
        # Coalesced ticks per page at debug too, their sum in the line above: a scheduler
        # that fell behind coalesces nearly every tick, and a line for each (it was at info)
        # cost it the CPU it needed to catch up (the 1M benchmark: 1.4M lines in 5 minutes).
        for tick in ticks:
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
                log.debug(
                    "ticks_coalesced",
                    notion_page_id=tick.notion_page_id,
                    batch_run_id=tick.run_id,
                    count=tick.coalesced,
                )

    async def end_expired(self) -> int:
        ended = 0
        while True:
            batch = await self._bounded(self._batches.complete_expired(self._claim_batch_size))
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
        due_in = await self._bounded(self._batches.next_due_in())
        if due_in is None:
            return self._poll_seconds
        return min(self._poll_seconds, max(due_in, MIN_SLEEP_SECONDS))

    def stuck(self) -> str | None:
        """Why the loop looks stuck (for liveness), or ``None``: a round ended recently enough.

        A round's steps are each cut at ``step_timeout`` and a failed round waits at most
        ``MAX_BACKOFF_SECONDS``, so a loop that moves never goes this long without a round.
        """
        bound = 4 * self._step_timeout + MAX_BACKOFF_SECONDS + self._poll_seconds
        if self.heartbeat <= bound:
            return None
        return f"the tick emitter has not ended a round for {self.heartbeat:.0f} s"

    def _backoff(self, failures: int) -> float:
        return min(self._poll_seconds * 2.0**failures, MAX_BACKOFF_SECONDS)

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
                timeout = self._backoff(failures)
                log.warning("scheduler_round_failed", error=str(exc), retry_in_s=timeout)
            except TimeoutError:
                failures += 1
                timeout = self._backoff(failures)
                log.error(
                    "scheduler_round_timed_out",
                    step_timeout_s=self._step_timeout,
                    retry_in_s=timeout,
                )
            except Exception as exc:
                # Not an outage we know: a bug, or a driver error we did not foresee. Logged
                # with its traceback, and the loop goes on — the pages must keep ticking.
                failures += 1
                timeout = self._backoff(failures)
                log.exception(
                    "scheduler_round_crashed",
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in_s=timeout,
                )
            self._round_ended_at = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
