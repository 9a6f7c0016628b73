"""Working one tick of one page: the steps of a tick, told here once.

A tick message reaches ``TickConsumer.on_message`` (consumer.py), which calls
:meth:`TickProcessor.process` and acks the message once the work is committed. Each step, and
where it lives (every database statement is a method of ``TickRepository``, db/ticks.py,
running ``queries/ticks.sql``):

1. **Lease** the page row: ``TickRepository.acquire_lease``. A page busy elsewhere is skipped,
   not waited on; a stale tick (batch stopped, expired, restarted) does nothing. While the
   tick works, ``LeaseKeeper`` (lease_keeper.py) renews the lease (``renew_lease``).
2. **Sync**: read the page's to-dos from Notion into the to-do table, ``TodoSync.sync``
   (sync.py; ``merge_synced``, ``record_warnings``). A page gone from Notion fails the batch
   (:meth:`TickProcessor._fail`, ``fail_batch``).
3. **Work** the pending to-dos in page order, :meth:`TickProcessor._work`: ``pending``, then
   per to-do the handler (handlers.py) in :meth:`TickProcessor._process_one` and its outcome
   committed on its own (``record_outcome``, ``record_failure``). A to-do starts only while
   the batch runs and the lease is ours, as the database says just before it: ``may_start``,
   or the previous outcome's commit in the same statement (the rule is
   ``notion_batch_held_by()``, migration 0010), so a stop or an expiry takes effect within
   one to-do.
4. **Record** the outcomes in Notion, ``NotionRecorder.record`` (recorder.py; the outbox),
   every ``OUTBOX_BATCH`` to-dos and at the end.
5. **Re-read** the page if a person changed it meanwhile (a Notion webhook event set
   ``resync_requested``): :meth:`TickProcessor._resync_requested` (``take_resync``), then
   steps 2-4 again, within the tick's time.
6. **Finish**: write the tick's summary onto the batch and release the lease,
   ``finish_tick`` (``release_lease`` when the tick did not work through).

A record-only tick (of an ended batch, :meth:`TickProcessor._record_only`) leases the page
with ``acquire_lease_for_record`` and does step 4 alone.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from notion_batch.common.config import integration_variable
from notion_batch.common.db.ticks import Holder, Lease, LeaseRefusal, PendingTodo, TickRepository
from notion_batch.common.messaging.messages import Tick
from notion_batch.common.metrics import get_metrics
from notion_batch.worker.errors import HandlerUnavailable, PageGone
from notion_batch.worker.handlers import Handler, Handlers, Outcome, Todo, as_outcome
from notion_batch.worker.lease_keeper import LeaseKeeper
from notion_batch.worker.recorder import OUTBOX_BATCH, NotionRecorder
from notion_batch.worker.sync import TodoSync

log = structlog.get_logger(__name__)

#: Longest a tick works before handing the rest to the next tick; stays well inside
#: RabbitMQ's consumer_timeout (30 min), since the tick message is acked only at the end.
MAX_TICK_SECONDS = 20 * 60
#: Shortest time a tick works its to-dos after reading the page, however long the read took.
MIN_WORK_SECONDS = 5.0
#: Shortest time a tick may spend recording one batch of outcomes in Notion.
RECORD_MIN_SECONDS = 60
#: Error texts kept per to-do; Notion's own limit for a text is 2,000 characters.
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class NotionPorts:
    """How a tick talks to one integration's Notion: reading to-dos and recording outcomes."""

    sync: TodoSync
    recorder: NotionRecorder


@dataclass(frozen=True)
class TickPolicy:
    max_attempts: int
    handler_timeout_seconds: float
    lease_seconds: float


@dataclass
class TickReport:
    """What one tick did, for its log line, its caller and the last part of the batch's
    summary. The run's counts are not these: they are the run's to-dos in the database (what
    the sync settled too, such as a to-do a person checked first), which ``finish_tick``
    reads into the summary."""

    outcome: str  # worked | recorded | busy | stale | failed
    #: Handler runs of this tick by how they ended: done, skipped (by the handler, or after
    #: the last failed attempt), failed and left pending to retry.
    done: int = 0
    skipped: int = 0
    failed: int = 0
    #: Outcomes recorded in Notion by this tick: to-dos checked, log lines written.
    checked: int = 0
    logged: int = 0

    @property
    def processed(self) -> int:
        """Handler runs of this tick."""
        return self.done + self.skipped + self.failed


class TickProcessor:
    """Works ticks, one page each, through the steps the module tells."""

    def __init__(
        self,
        *,
        worker_id: str,
        db: TickRepository,
        notion: Mapping[str, NotionPorts],
        handlers: Handlers,
        policy: TickPolicy,
    ) -> None:
        self._worker_id = worker_id
        self._db = db
        #: By integration name: each batch works through the integration it chose at start.
        self._notion = notion
        self._handlers = handlers
        self._policy = policy
        self._metrics = get_metrics()
        self._stopping = False

    def request_stop(self) -> None:
        """The worker is shutting down: ticks in progress start no new to-do, they record
        what they did, release the page and end, so their message is acked in time."""
        self._stopping = True

    async def process(self, tick: Tick) -> TickReport:
        owner = f"{self._worker_id}/{uuid.uuid4().hex[:8]}"
        if tick.record_only:
            return await self._record_only(tick, owner)
        got = await self._db.acquire_lease(
            tick.notion_page_id, tick.run_id, owner, self._policy.lease_seconds
        )
        if isinstance(got, LeaseRefusal):
            # Busy: another worker is on the page, and this tick is coalesced into its work.
            # Stale: the batch was stopped, expired or restarted since the tick was emitted.
            log.info("tick_skipped", reason=got.reason, detail=got.detail)
            return TickReport(outcome=got.reason)
        lease = got
        report = TickReport(outcome="worked")
        finished = False
        try:
            async with LeaseKeeper(self._db, lease, self._policy.lease_seconds) as keeper:
                deadline = time.monotonic() + min(max(lease.interval_seconds, 10), MAX_TICK_SECONDS)
                await self._work(lease, keeper, report, deadline)
                while await self._resync_requested(lease, keeper, report, deadline):
                    await self._work(lease, keeper, report, deadline)
            if report.outcome == "worked":
                await self._db.finish_tick(lease, _summary(report))
                finished = True
        finally:
            if not finished:
                await asyncio.shield(self._release_quietly(lease))
        return report

    async def _record_only(self, tick: Tick, owner: str) -> TickReport:
        """The batch has ended: record what Notion did not take yet, start nothing."""
        got = await self._db.acquire_lease_for_record(
            tick.notion_page_id, owner, self._policy.lease_seconds
        )
        if isinstance(got, LeaseRefusal):
            log.info("tick_skipped", reason=got.reason, detail=got.detail)
            return TickReport(outcome=got.reason)
        report = TickReport(outcome="recorded")
        try:
            async with LeaseKeeper(self._db, got, self._policy.lease_seconds):
                await self._record(got, report)
        finally:
            await asyncio.shield(self._release_quietly(got))
        return report

    async def _resync_requested(
        self, lease: Lease, keeper: LeaseKeeper, report: TickReport, deadline: float
    ) -> bool:
        """A person changed the page since this tick read it (a Notion webhook event came while
        we held the lease): work it again now rather than leave the change to the next tick.
        A flag still set when the tick ends makes the next tick due at once (``finish_tick``)."""
        if report.outcome != "worked" or self._stopping or not _in_time(keeper, deadline):
            return False
        if not await self._db.take_resync(lease.notion_page_id, lease.owner):
            return False
        log.info("tick_resync", reason="the page changed in Notion during the tick")
        return True

    async def _work(
        self, lease: Lease, keeper: LeaseKeeper, report: TickReport, deadline: float
    ) -> None:
        notion = self._notion.get(lease.integration)
        if notion is None:
            # The API let the batch name it, so the fleet's configuration disagrees: say so
            # on the batch rather than leave it ticking without ever doing anything.
            variable = integration_variable("NOTION_TOKEN", lease.integration)
            await self._fail(
                lease,
                f"integration {lease.integration!r} is not configured on the workers "
                f"(NOTION_INTEGRATIONS, {variable})",
                report,
            )
            return
        try:
            await notion.sync.sync(lease)
        except PageGone as exc:
            await self._fail(lease, str(exc), report)
            return
        # However long the read waited on Notion (a fleet sharing a slow rate limit), the tick
        # works for a while after it: else a tick whose read used its whole time would work
        # nothing, and so would the next, and the page would never be done.
        deadline = max(deadline, time.monotonic() + MIN_WORK_SECONDS)

        handler = self._handler(lease)
        holder = Holder(lease.notion_page_id, lease.owner)
        after: PendingTodo | None = None
        stopped = False
        # Whether the next to-do may start: each outcome's commit answers it for the next one
        # (one round trip per to-do); None after anything slow (recording in Notion, the
        # sync): then the database is asked before the next to-do starts.
        may_start: bool | None = None
        while not (stopped or self._stopping) and _in_time(keeper, deadline):
            pending = await self._db.pending(lease.notion_page_id, OUTBOX_BATCH, after=after)
            if not pending:
                break
            for todo in pending:
                if self._stopping or not _in_time(keeper, deadline):
                    break
                if may_start is None:
                    may_start = await self._db.may_start(lease.notion_page_id, lease.owner)
                if not may_start:
                    log.info("tick_stopping", reason="batch no longer running")
                    stopped = True
                    break
                may_start = await self._process_one(lease, holder, handler, todo, report)
                after = todo
            if keeper.lost:
                break
            # Record every batch of outcomes as it completes, so the page shows progress.
            await self._record(lease, report)
            may_start = None
        # A lost lease means another worker owns the page now, its outbox included.
        if not keeper.lost:
            await self._record(lease, report)

    async def _fail(self, lease: Lease, reason: str, report: TickReport) -> None:
        if await self._db.fail_batch(lease.notion_page_id, lease.run_id, reason):
            log.error("batch_failed", reason=reason)
            self._metrics.batches_ended.labels(reason="failed").inc()
        report.outcome = "failed"

    def _handler(self, lease: Lease) -> Handler:
        """The handler the batch chose (``None``: this worker's default)."""
        try:
            return self._handlers.get(lease.handler)
        except HandlerUnavailable as exc:
            log.warning("handler_unavailable", handler=exc.name, reason=exc.reason)
            unavailable = exc

            # Each to-do fails with the reason, as if the handler had raised: retried on later
            # ticks (perhaps by a worker that has it), then skipped with the reason kept.
            async def fail(_: Todo) -> Outcome:
                raise unavailable

            return fail

    async def _process_one(
        self, lease: Lease, holder: Holder, handler: Handler, todo: PendingTodo, report: TickReport
    ) -> bool:
        """Run the handler on the to-do and commit its outcome; whether the next may start."""
        item = Todo(
            block_id=todo.block_id,
            notion_page_id=lease.notion_page_id,
            text=todo.text,
            attempt=todo.attempts + 1,
            batch_run_id=lease.run_id,
        )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._policy.handler_timeout_seconds):
                outcome = as_outcome(await handler(item))
        except TimeoutError:
            return await self._record_failure(
                lease,
                holder,
                item,
                f"handler timed out after {self._policy.handler_timeout_seconds:g}s",
                report,
            )
        except Exception as exc:
            return await self._record_failure(
                lease, holder, item, f"{type(exc).__name__}: {exc}", report
            )
        duration = time.perf_counter() - started
        self._metrics.handler_duration_seconds.labels(outcome=outcome.status).observe(duration)
        self._metrics.todos_processed.labels(outcome=outcome.status).inc()
        return await self._record_outcome(
            lease, item, outcome, report, holder=holder, duration_ms=round(duration * 1000, 2)
        )

    async def _record_outcome(
        self,
        lease: Lease,
        item: Todo,
        outcome: Outcome,
        report: TickReport,
        *,
        holder: Holder,
        duration_ms: float,
    ) -> bool:
        recorded = await self._db.record_outcome(
            item.block_id, lease.run_id, outcome.status, outcome.result, holder=holder
        )
        if outcome.status == "done":
            report.done += recorded.recorded
        else:
            report.skipped += recorded.recorded
        log.info(
            "todo_processed",
            block_id=item.block_id,
            outcome=outcome.status,
            attempt=item.attempt,
            duration_ms=duration_ms,
            recorded=recorded.recorded,
        )
        return recorded.may_continue

    async def _record_failure(
        self, lease: Lease, holder: Holder, item: Todo, error: str, report: TickReport
    ) -> bool:
        self._metrics.todos_processed.labels(outcome="failed").inc()
        error = error[:MAX_ERROR_CHARS]
        result = await self._db.record_failure(
            item.block_id,
            lease.run_id,
            error,
            max_attempts=self._policy.max_attempts,
            holder=holder,
        )
        if not result.recorded:
            return result.may_continue
        if result.status == "skipped":
            report.skipped += 1
        else:
            report.failed += 1
        log.warning(
            "todo_failed",
            block_id=item.block_id,
            attempt=item.attempt,
            error=error,
            outcome=result.status,
            max_attempts=self._policy.max_attempts,
        )
        return result.may_continue

    async def _record(self, lease: Lease, report: TickReport) -> None:
        # Recording has its own time budget: when handlers used up the tick, their outcomes
        # must still reach Notion rather than wait behind the next tick's processing.
        notion = self._notion.get(lease.integration)
        if notion is None:
            log.warning("record_skipped", reason=f"integration {lease.integration!r} unknown here")
            return
        budget = min(max(lease.interval_seconds, RECORD_MIN_SECONDS), MAX_TICK_SECONDS)
        recorded = await notion.recorder.record(lease, deadline=time.monotonic() + budget)
        report.checked += recorded.checked
        report.logged += recorded.logged

    async def _release_quietly(self, lease: Lease) -> None:
        try:
            await self._db.release_lease(lease)
        except Exception as exc:
            log.warning("lease_release_failed", error=str(exc))


def _in_time(keeper: LeaseKeeper, deadline: float) -> bool:
    return keeper.may_continue and time.monotonic() < deadline


def _summary(report: TickReport) -> str:
    """What the tick did, the last part of the batch's summary: ``finish_tick`` puts the
    run's counts first (``running — 12 of 13 to-dos processed (11 done, 1 skipped), 1
    pending; last tick: 2 done``), so a quiet last tick never makes the run look idle."""
    if not report.processed:
        return "no to-do worked"
    parts = [f"{n} {what}" for n, what in ((report.done, "done"), (report.skipped, "skipped")) if n]
    if report.failed:
        parts.append(f"{report.failed} failed, to retry")
    return ", ".join(parts)
