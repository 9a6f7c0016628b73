"""Where results are recorded in Notion: the outbox of processed to-dos, drained each tick.

An outcome is committed to PostgreSQL first, with "check it" and "log it" flags; this module
then does the Notion side and clears the flags. A Notion failure leaves the flags set and the
next tick tries again, so nothing is lost; a flag is cleared only after Notion confirmed, and an
append whose fate is unknown (timeout, 5xx) makes the next recording read the log back first,
so nothing is logged twice.

Two ways to record (``NOTION_RECORD_MODE``):
- ``page_log`` (default, fewest calls): check each to-do, and append the lines of a whole
  batch of outcomes — up to 100, Notion's limit — in one call, under a toggle block per run.
- ``todo_children``: check each to-do and append its result as a block under it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from notion_batch.common.db.ticks import Lease, OutboxItem, RunLogState, TickRepository
from notion_batch.common.errors import (
    NotionAccessError,
    NotionBlockRefused,
    NotionRequestError,
    NotionUnavailable,
)
from notion_batch.common.notion.blocks import (
    is_result_block,
    log_container,
    log_container_run,
    log_line_block,
    logged_todo_ids,
    run_log_title,
    todo_result_block,
)
from notion_batch.common.notion.gateway import NotionGateway
from notion_batch.common.notion.models import LogLine
from notion_batch.worker.settings import RecordMode

log = structlog.get_logger(__name__)

#: Notion accepts at most 100 children per append; one outbox batch fills one append.
OUTBOX_BATCH = 100
#: Checks of one page in flight at once. The rate limiter sets the pace; this bounds how many
#: slots one page holds in the fleet's first-come-first-served queue, so that a page just
#: started waits at most about 2 × (pages being recorded) / rate for its turn, however large
#: the others are. Two keep one page alone at Notion's rate despite a round trip of ~300 ms.
CHECK_CONCURRENCY = 2
#: Answers to an append under the run's log toggle that mean the toggle itself is lost: a
#: person trashed it (400) or deleted it (404). Anything else about our request is a bug.
LOST_CONTAINER_STATUSES = frozenset({400, 404})


@dataclass
class RecordReport:
    checked: int = 0
    logged: int = 0
    #: Done to-dos Notion refused to check (trashed, deleted, unshared): now skipped.
    skipped: int = 0
    #: Why recording stopped early, if it did (Notion unavailable, tick time used up).
    interrupted: str | None = None


class _Interrupted(Exception):
    pass


class NotionRecorder:
    def __init__(
        self,
        gateway: NotionGateway,
        db: TickRepository,
        mode: RecordMode,
        *,
        reconcile_delay_seconds: float,
    ) -> None:
        self._gateway = gateway
        self._db = db
        self._mode = mode
        self._reconcile_delay = reconcile_delay_seconds

    async def record(
        self, lease: Lease, *, deadline: float, whole_batches: bool = False
    ) -> RecordReport:
        """Record outstanding outcomes of the page in Notion until done or ``deadline``;
        with ``whole_batches`` (while more outcomes are being committed), only full batches of
        ``OUTBOX_BATCH``, so that each log append carries as many lines as Notion takes."""
        report = RecordReport()
        # Read from the database each time: an earlier recording of this tick (or of a tick
        # that died) may have created the log block or found an append of unknown fate.
        state = await self._db.run_log_state(lease.run_id)
        try:
            while time.monotonic() < deadline:
                items = await self._db.outbox(lease.notion_page_id, OUTBOX_BATCH)
                if not items or (whole_batches and len(items) < OUTBOX_BATCH):
                    break
                items = await self._check(items, report)
                await self._log(lease, [i for i in items if i.log_pending], state, report)
                if len(items) < OUTBOX_BATCH:
                    break
            else:
                report.interrupted = "tick time used up"
        except _Interrupted as exc:
            report.interrupted = str(exc)
        if report.interrupted:
            log.warning(
                "notion_recording_deferred",
                reason=report.interrupted,
                checked=report.checked,
                logged=report.logged,
            )
        return report

    async def _check(self, items: Sequence[OutboxItem], report: RecordReport) -> list[OutboxItem]:
        """Check the to-dos awaiting it; the items back, refused ones now skipped."""
        to_check = [i for i in items if i.check_pending]
        if not to_check:
            return list(items)
        limit = asyncio.Semaphore(CHECK_CONCURRENCY)
        skipped: dict[str, OutboxItem] = {}

        async def check(item: OutboxItem) -> str | BaseException:
            async with limit:
                try:
                    await self._gateway.check_todo(item.block_id)
                except NotionBlockRefused as exc:
                    # About this to-do only: it is given up (never edited again), the rest go
                    # on. A crash before this commit costs one more refused edit, nothing else.
                    reason = _refusal_reason(exc)
                    result = await self._db.skip_uneditable(item.block_id, reason, exc.answer)
                    log.warning(
                        "todo_check_refused",
                        block_id=item.block_id,
                        status=exc.status,
                        code=exc.code,
                        error=exc.detail,
                        trashed=exc.trashed,
                    )
                    if result is not None:
                        skipped[item.block_id] = dataclasses.replace(
                            item, status="skipped", result=result, check_pending=False
                        )
                    return exc
                except (NotionAccessError, NotionUnavailable) as exc:
                    return exc
                # Committed one by one: a worker dying mid-batch leaves only the checks in
                # flight to be sent again, not every check Notion already confirmed.
                await self._db.mark_checked([item.block_id])
                return item.block_id

        outcomes = await asyncio.gather(*(check(i) for i in to_check))
        report.checked += sum(1 for o in outcomes if isinstance(o, str))
        report.skipped += len(skipped)
        failed = [o for o in outcomes if isinstance(o, NotionUnavailable | NotionAccessError)]
        if failed:
            # Unavailable, or the token refused (401): about every to-do, so stop for now.
            raise _Interrupted(f"Notion unavailable while checking to-dos: {failed[0]}")
        return [skipped.get(i.block_id, i) for i in items]

    async def _log(
        self, lease: Lease, items: Sequence[OutboxItem], state: RunLogState, report: RecordReport
    ) -> None:
        if not items:
            return
        if self._mode == "todo_children":
            await self._log_under_todos(lease, items, state, report)
            return
        page_id = lease.notion_page_id
        self._await_reconcile(state)
        if state.reconcile_needed and state.block_id is None:
            # A toggle was being created when its answer was lost: it may be on the page.
            state.block_id = await self._find_container(lease)
        if state.reconcile_needed and state.block_id:
            await self._reconcile(lease, state, items)
            items = [i for i in items if i.block_id not in state.reconciled]
            if not items:
                return
        if state.block_id is None:
            state.block_id = await self._create_container(lease, state)
            # Made just now, empty: there is nothing in it to read back.
            state.reconcile_needed = False
        lines = [log_line_block(_line(i), page_id) for i in items]
        # Write-ahead: should this worker die between Notion's answer and the commit below,
        # the next recording reads the log back instead of appending the lines again.
        await self._ask_reconcile(lease, state)
        try:
            await self._append_log(lease, state, lines)
        except NotionUnavailable as exc:
            if not exc.ambiguous:  # known not to have landed: nothing to read back
                await self._db.set_log_reconcile(lease.run_id, None)
            raise _Interrupted(f"Notion unavailable while appending the log: {exc}") from None
        except NotionAccessError as exc:
            await self._db.set_log_reconcile(lease.run_id, None)
            raise _Interrupted(f"cannot append the log: {exc}") from None
        await self._db.mark_logged([i.block_id for i in items], reconciled_run=lease.run_id)
        state.reconcile_needed = False
        report.logged += len(items)

    async def _append_log(self, lease: Lease, state: RunLogState, lines: list[Any]) -> None:
        """Append to the run's log toggle; one a person trashed or deleted is replaced.

        Notion refuses to append under a trashed block (400 validation_error "Can't edit
        block that is archived", seen: gh/dvanoni/notero#704) and answers 404 for a deleted
        one: that costs the log its container, never the batch. The refused append did not
        land, so the lines go once, into a fresh toggle.
        """
        assert state.block_id is not None
        try:
            await self._gateway.append_blocks(state.block_id, lines)
            return
        except (NotionAccessError, NotionRequestError) as exc:
            if exc.status not in LOST_CONTAINER_STATUSES:
                raise
            log.warning(
                "notion_log_block_replaced",
                lost_block_id=state.block_id,
                status=exc.status,
                code=exc.code,
                error=str(exc),
            )
        state.block_id = await self._create_container(lease, state)
        await self._gateway.append_blocks(state.block_id, lines)

    async def _create_container(self, lease: Lease, state: RunLogState) -> str:
        """A new log toggle for the run, at the end of the page.

        Written ahead like the lines (:meth:`_ask_reconcile`): should Notion's answer be lost
        (a reset connection, a timeout after it applied, this worker dying), the next
        recording looks for the toggle on the page instead of making a second one.
        """
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        title = run_log_title(lease.run_id, started)
        await self._ask_reconcile(lease, state)
        try:
            (block_id,) = await self._gateway.append_blocks(
                lease.notion_page_id, [log_container(title, [])]
            )
        except NotionUnavailable as exc:
            if not exc.ambiguous:
                await self._db.set_log_reconcile(lease.run_id, None)
            raise _Interrupted(f"cannot create the log block: {exc}") from None
        except NotionAccessError as exc:
            await self._db.set_log_reconcile(lease.run_id, None)
            raise _Interrupted(f"cannot create the log block: {exc}") from None
        await self._db.set_log_block(lease.run_id, block_id)
        return block_id

    async def _find_container(self, lease: Lease) -> str | None:
        """The run's log toggle on the page, made by a create whose answer was lost; None if
        that create did not land (the read-back flag is then cleared: a new one is made)."""
        try:
            blocks = await self._gateway.list_child_blocks(lease.notion_page_id)
        except (NotionAccessError, NotionUnavailable) as exc:
            raise _Interrupted(f"cannot look for the log block: {exc}") from None
        found = [
            str(b["id"])
            for b in blocks
            if log_container_run(b) == lease.run_id and not b.get("in_trash")
        ]
        if not found:
            await self._db.set_log_reconcile(lease.run_id, None)
            return None
        block_id = found[-1]
        await self._db.set_log_block(lease.run_id, block_id)
        log.info("notion_log_block_found", block_id=block_id)
        return block_id

    async def _reconcile(
        self, lease: Lease, state: RunLogState, items: Sequence[OutboxItem]
    ) -> None:
        """Read the run's log back: lines that landed in an append we saw fail are logged."""
        assert state.block_id is not None
        try:
            blocks = await self._gateway.list_child_blocks(state.block_id)
        except (NotionAccessError, NotionRequestError) as exc:
            if exc.status not in LOST_CONTAINER_STATUSES:
                raise _Interrupted(f"cannot read the log back: {exc}") from None
            # The toggle is gone, and what landed in it with it: nothing to read back; the
            # append that follows replaces the toggle (_append_log).
            blocks = []
        except NotionUnavailable as exc:
            raise _Interrupted(f"cannot read the log back: {exc}") from None
        landed = logged_todo_ids(blocks) & {i.block_id for i in items}
        await self._db.mark_logged(sorted(landed), reconciled_run=lease.run_id)
        if landed:
            log.info("notion_log_reconciled", already_logged=len(landed))
        state.reconciled |= landed
        state.reconcile_needed = False

    async def _ask_reconcile(self, lease: Lease, state: RunLogState) -> None:
        state.reconcile_needed, state.reconcile_ready = True, False
        await self._db.set_log_reconcile(lease.run_id, self._reconcile_delay)

    @staticmethod
    def _await_reconcile(state: RunLogState) -> None:
        # Reading the log back while the failed request may still be running server-side
        # would miss its lines and write them twice: wait until it is surely over.
        if state.reconcile_needed and not state.reconcile_ready:
            raise _Interrupted("an append of unknown outcome is not yet safe to read back")

    async def _log_under_todos(
        self, lease: Lease, items: Sequence[OutboxItem], state: RunLogState, report: RecordReport
    ) -> None:
        self._await_reconcile(state)
        for item in items:
            try:
                if state.reconcile_needed:
                    # Which to-do's append was in doubt is not known: look under each once.
                    existing = await self._gateway.list_child_blocks(item.block_id)
                    if any(is_result_block(b) for b in existing):
                        await self._db.mark_logged([item.block_id])
                        continue
                await self._ask_reconcile(lease, state)  # write-ahead, as for the page log
                await self._gateway.append_blocks(item.block_id, [todo_result_block(_line(item))])
            except (NotionAccessError, NotionRequestError) as exc:
                if isinstance(exc, NotionRequestError) and exc.status != 400:
                    raise
                # Gone, or trashed (400 "Can't edit block that is archived"): no line there.
                log.warning("todo_log_dropped", block_id=item.block_id, reason=str(exc))
                await self._db.mark_logged([item.block_id], reconciled_run=lease.run_id)
                state.reconcile_needed = False
                continue
            except NotionUnavailable as exc:
                raise _Interrupted(f"Notion unavailable while logging: {exc}") from None
            await self._db.mark_logged([item.block_id], reconciled_run=lease.run_id)
            state.reconcile_needed = False
            report.logged += 1


def _refusal_reason(error: NotionBlockRefused) -> str:
    """Why the to-do is skipped, as its result and log line say it."""
    if error.trashed:
        return f"trashed in Notion: {error.answer}"
    return f"Notion refused to check it: {error.answer}"


def _line(item: OutboxItem) -> LogLine:
    return LogLine(
        todo_block_id=item.block_id,
        todo_text=item.text,
        outcome="done" if item.status == "done" else "skipped",
        result=item.result,
    )
