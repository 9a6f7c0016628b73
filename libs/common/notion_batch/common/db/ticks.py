"""A tick's database work, all of it: the one repository a worker's tick runs through.

Its methods follow a tick's steps (told in ``notion_batch.worker.tick``), and its statements
are ``queries/ticks.sql``, in the same order.

The page lease is the row lock that lets one worker, and one only, work a page at a time. It
is taken with ``FOR UPDATE SKIP LOCKED`` on the page's row (never waiting on another worker)
and recorded on the row with an expiry, so the row is not held locked — and no connection is
held — while a tick talks to Notion for seconds or minutes. A worker renews its lease while
it works; one that dies simply stops renewing, and the page is free again once the lease
expires. Whether a worker may still start a to-do is ``notion_batch_held_by()`` in the
database (migration 0010), asked by :meth:`TickRepository.may_start` and answered again by
each outcome's commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import asyncpg

from notion_batch.common.config import DEFAULT_INTEGRATION
from notion_batch.common.db.pool import transaction, translate_errors
from notion_batch.common.db.sql import sql
from notion_batch.common.db.warnings import NewWarning

#: Why a lease is refused while no worker holds it: a transaction has the row locked.
ROW_LOCKED = "page row is locked by another transaction"
#: Such a lock lasts milliseconds — most often the scheduler's claim of this very tick, which
#: commits only once the tick is published, so a quick worker can meet it — so a tick waits it
#: out (this many looks, this far apart) rather than be dropped as busy: a tick dropped so was
#: lost until the next interval.
ROW_LOCK_LOOKS = 20
ROW_LOCK_PAUSE_SECONDS = 0.05

_MIN_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Lease:
    notion_page_id: str
    run_id: int
    owner: str
    end_time: datetime
    interval_seconds: int
    #: The handler the run chose at start; ``None``: the worker's default.
    handler: str | None = None
    #: The Notion integration the run works through.
    integration: str = DEFAULT_INTEGRATION


@dataclass(frozen=True)
class LeaseRefusal:
    """Why a tick did not get the page: ``stale`` (not running, other run, expired) or ``busy``."""

    reason: str
    detail: str


@dataclass(frozen=True)
class SyncedTodo:
    block_id: str
    position: int
    text: str
    checked: bool


@dataclass(frozen=True)
class ReadState:
    """What the page's row remembers of its last full read (migration 0011), for the change
    rule (``notion_batch.worker.changes``)."""

    #: The run that read; ``None``: never read.
    run_id: int | None
    read_at: datetime | None
    #: The page's ``last_edited_time`` just before that read; ``None``: not looked at.
    stamp: datetime | None
    #: The look came after the stamp's minute had passed (so the stamp can prove "unchanged").
    settled: bool
    #: Page events (webhooks) counted as the read began, and counted now.
    events_at_read: int
    events: int


@dataclass(frozen=True)
class FullRead:
    """A full read just merged, as the change rule will compare later ticks with it."""

    run_id: int
    started_at: datetime
    stamp: datetime | None
    settled: bool
    events: int


@dataclass(frozen=True)
class PendingTodo:
    block_id: str
    text: str
    #: Failed attempts recorded so far.
    attempts: int
    position: int


@dataclass(frozen=True)
class Holder:
    """Who works the page (its lease), for the outcome's commit to answer ``may_start``."""

    notion_page_id: str
    lease_owner: str


@dataclass(frozen=True)
class Recorded:
    """What committing a handler's outcome did."""

    #: ``False``: the to-do was no longer pending (its outcome is recorded already).
    recorded: bool
    #: The batch still runs and the lease is still the holder's, as ``may_start`` answers:
    #: the next to-do may start. ``False`` when no holder was given.
    may_continue: bool
    #: Of a failure: ``pending`` (to retry) or ``skipped`` (attempts used up); ``None`` if
    #: not recorded. A done or skipped outcome leaves it ``None``.
    status: str | None = None
    attempts: int | None = None


@dataclass(frozen=True)
class OutboxItem:
    block_id: str
    text: str
    status: str
    result: str
    check_pending: bool
    log_pending: bool


@dataclass
class RunLogState:
    """Where the run's log lives on the page, and whether it must be read back first."""

    block_id: str | None
    reconcile_needed: bool
    #: The append of unknown fate is surely over, so reading the log back tells the truth.
    reconcile_ready: bool
    #: To-dos found already logged by a read-back in this recording.
    reconciled: set[str] = field(default_factory=set)


class TickRepository:
    """Every statement of a worker's tick; each method is one transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # -- the lease ------------------------------------------------------------------------

    async def acquire_lease(
        self, notion_page_id: str, run_id: int, owner: str, lease_seconds: float
    ) -> Lease | LeaseRefusal:
        for look in range(1, ROW_LOCK_LOOKS + 1):
            with translate_errors():
                row = await self._pool.fetchrow(
                    sql("lease_acquire"), notion_page_id, run_id, owner, lease_seconds
                )
                if row is not None:
                    return Lease(
                        notion_page_id=notion_page_id,
                        run_id=run_id,
                        owner=owner,
                        end_time=row["end_time"],
                        interval_seconds=row["interval_seconds"],
                        handler=row["handler"],
                        integration=row["integration"],
                    )
                state = await self._pool.fetchrow(sql("lease_state"), notion_page_id)
            refusal = _refusal(state, run_id)
            if refusal.detail != ROW_LOCKED or look == ROW_LOCK_LOOKS:
                return refusal
            await asyncio.sleep(ROW_LOCK_PAUSE_SECONDS)
        raise AssertionError("unreachable: the last look returns")

    async def acquire_lease_for_record(
        self, notion_page_id: str, owner: str, lease_seconds: float
    ) -> Lease | LeaseRefusal:
        """Lease an ended batch's page to record what its outbox still holds."""
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("lease_acquire_for_record"), notion_page_id, owner, lease_seconds
            )
        if row is None:
            return LeaseRefusal("stale", "the page runs again, or is leased for recording")
        return Lease(
            notion_page_id=notion_page_id,
            run_id=row["run_id"],
            owner=owner,
            end_time=row["end_time"],
            interval_seconds=row["interval_seconds"],
            integration=row["integration"],
        )

    async def renew_lease(self, lease: Lease, lease_seconds: float) -> bool | None:
        """Extend the lease. ``None``: the lease is lost; ``False``: held, but the batch ended."""
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("lease_renew"), lease.notion_page_id, lease.owner, lease_seconds
            )
        return None if row is None else bool(row["may_continue"])

    # -- the sync from Notion -------------------------------------------------------------

    async def log_block_ids(self, notion_page_id: str) -> list[str]:
        """The page's run logs: blocks of ours that hold no to-dos."""
        with translate_errors():
            rows = await self._pool.fetch(sql("run_log_blocks"), notion_page_id)
        return [str(r["log_block_id"]) for r in rows]

    async def merge_synced(self, notion_page_id: str, todos: Sequence[SyncedTodo]) -> None:
        """Merge the to-dos read from Notion, every one readable now: pending ones not among
        them are skipped (deleted or moved away, or under a block Notion would not list)."""
        ids = [t.block_id for t in todos]
        async with transaction(self._pool) as conn:
            await conn.execute(
                sql("todo_upsert_synced"),
                notion_page_id,
                ids,
                [t.position for t in todos],
                [t.text for t in todos],
                [t.checked for t in todos],
            )
            await conn.execute(sql("todo_skip_vanished"), notion_page_id, ids)

    async def record_warnings(self, run_id: int, warnings: Sequence[NewWarning]) -> int:
        """Record one reading's warnings; how many were new to the run (said for the first
        time). A block met again only has its ``last_seen_at`` and ``seen`` moved."""
        if not warnings:
            return 0
        # One row per block even if a reading reported one twice (ON CONFLICT cannot touch a
        # row twice in one statement).
        unique = list({w.block_id: w for w in warnings}.values())
        with translate_errors():
            rows = await self._pool.fetch(
                sql("warning_record"),
                run_id,
                [w.block_id for w in unique],
                [w.block_type for w in unique],
                [w.status for w in unique],
                [w.code for w in unique],
                [w.message for w in unique],
            )
        return sum(1 for r in rows if r["inserted"])

    # -- working the pending to-dos -------------------------------------------------------

    async def pending(
        self, notion_page_id: str, limit: int, *, after: PendingTodo | None = None
    ) -> list[PendingTodo]:
        """Pending to-dos in page order, starting after ``after``."""
        position, block_id = (after.position, after.block_id) if after else (-1, _MIN_UUID)
        with translate_errors():
            rows = await self._pool.fetch(
                sql("todo_pending"), notion_page_id, position, block_id, limit
            )
        return [
            PendingTodo(
                block_id=str(r["block_id"]),
                text=r["text"],
                attempts=r["attempts"],
                position=r["position"],
            )
            for r in rows
        ]

    async def may_start(self, notion_page_id: str, lease_owner: str) -> bool:
        """Whether ``lease_owner`` holds the page's lease and its batch still runs."""
        with translate_errors():
            return bool(
                await self._pool.fetchval(sql("todo_may_start"), notion_page_id, lease_owner)
            )

    async def record_outcome(
        self,
        block_id: str,
        run_id: int,
        status: Literal["done", "skipped"],
        result: str,
        *,
        holder: Holder | None = None,
    ) -> Recorded:
        """Record a handler's outcome once (``recorded`` is ``False`` if it was recorded
        already): done (to be checked in Notion) or skipped; either is logged."""
        if status not in ("done", "skipped"):
            raise ValueError(f"an outcome is done or skipped, not {status!r}")
        page, owner = (holder.notion_page_id, holder.lease_owner) if holder else (None, None)
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("todo_record_outcome"), block_id, run_id, status, result, page, owner
            )
        assert row is not None
        return Recorded(recorded=bool(row["recorded"]), may_continue=row["may_continue"])

    async def record_failure(
        self,
        block_id: str,
        run_id: int,
        error: str,
        *,
        max_attempts: int,
        holder: Holder | None = None,
    ) -> Recorded:
        """Record a handler's failure: retried later, or skipped after ``max_attempts``."""
        page, owner = (holder.notion_page_id, holder.lease_owner) if holder else (None, None)
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("todo_record_failure"), block_id, run_id, error, max_attempts, page, owner
            )
        assert row is not None
        return Recorded(
            recorded=row["status"] is not None,
            may_continue=row["may_continue"],
            status=row["status"],
            attempts=row["attempts"],
        )

    async def fail_batch(self, notion_page_id: str, run_id: int, reason: str) -> bool:
        """Fail the running batch with ``reason``; ``False`` if it was not running any more."""
        with translate_errors():
            row = await self._pool.fetchrow(sql("fail_batch"), notion_page_id, run_id, reason)
        return row is not None

    # -- recording in Notion: the outbox --------------------------------------------------

    async def outbox(self, notion_page_id: str, limit: int) -> list[OutboxItem]:
        with translate_errors():
            rows = await self._pool.fetch(sql("outbox_pending"), notion_page_id, limit)
        return [
            OutboxItem(
                block_id=str(r["block_id"]),
                text=r["text"],
                status=r["status"],
                result=r["result"] or "",
                check_pending=r["check_pending"],
                log_pending=r["log_pending"],
            )
            for r in rows
        ]

    async def mark_checked(self, block_ids: Sequence[str]) -> None:
        await self._execute("outbox_mark_checked", list(block_ids))

    async def skip_uneditable(self, block_id: str, reason: str, answer: str) -> str | None:
        """A done to-do Notion refuses to check becomes skipped with ``reason`` (its result)
        and Notion's ``answer`` (its last error); its new result, ``None`` if it was not a
        done to-do awaiting its check (recorded already)."""
        with translate_errors():
            result = await self._pool.fetchval(
                sql("outbox_skip_uneditable"), block_id, reason, answer
            )
        return None if result is None else str(result)

    async def mark_logged(
        self, block_ids: Sequence[str], *, reconciled_run: int | None = None
    ) -> None:
        """Clear the to-dos' log flags; with ``reconciled_run``, also that run's read-back flag,
        in the same transaction (the lines are known to be in the log now)."""
        async with transaction(self._pool) as conn:
            await conn.execute(sql("outbox_mark_logged"), list(block_ids))
            if reconciled_run is not None:
                await conn.execute(sql("run_log_set_reconcile"), reconciled_run, None)

    async def run_log_state(self, run_id: int) -> RunLogState:
        with translate_errors():
            row = await self._pool.fetchrow(sql("run_log_state"), run_id)
        block = row["log_block_id"] if row else None
        return RunLogState(
            block_id=str(block) if block else None,
            reconcile_needed=bool(row and row["reconcile_needed"]),
            reconcile_ready=bool(row and row["reconcile_ready"]),
        )

    async def set_log_block(self, run_id: int, block_id: str) -> None:
        await self._execute("run_log_set_block", run_id, block_id)

    async def set_log_reconcile(self, run_id: int, after_seconds: float | None) -> None:
        """Ask for a read-back of the run's log once ``after_seconds`` passed; ``None``: done."""
        await self._execute("run_log_set_reconcile", run_id, after_seconds)

    # -- what the change rule remembers (read at the sync step) ----------------------------

    async def read_state(self, notion_page_id: str) -> ReadState:
        """The page's last full read and the page events since (a page without a row reads
        as never read)."""
        with translate_errors():
            row = await self._pool.fetchrow(sql("read_state"), notion_page_id)
        if row is None:
            return ReadState(None, None, None, False, 0, 0)
        return ReadState(
            run_id=row["read_run_id"],
            read_at=row["read_at"],
            stamp=row["read_stamp"],
            settled=row["read_settled"],
            events_at_read=row["read_events"],
            events=row["notion_events"],
        )

    async def record_read(self, holder: Holder, read: FullRead) -> None:
        """Remember a full read the holder merged (nothing if it lost the lease)."""
        await self._execute(
            "read_record",
            holder.notion_page_id,
            holder.lease_owner,
            read.run_id,
            read.started_at,
            read.stamp,
            read.settled,
            read.events,
        )

    # -- a page event's re-read, and the end of the tick ----------------------------------

    async def take_resync(self, notion_page_id: str, owner: str) -> bool:
        """Clear the page's re-read flag if set, for the worker holding its lease; ``True``
        if it was set (the page changed since this tick read it)."""
        with translate_errors():
            row = await self._pool.fetchrow(sql("resync_take"), notion_page_id, owner)
        return row is not None

    async def finish_tick(self, lease: Lease, message: str) -> None:
        """Release the lease, writing the tick's summary onto the batch; a re-read still owed
        (:meth:`take_resync`) makes the next tick due now."""
        await self._execute("finish_tick", lease.notion_page_id, lease.owner, message)

    async def release_lease(self, lease: Lease) -> None:
        await self._execute("lease_release", lease.notion_page_id, lease.owner)

    async def _execute(self, name: str, *args: object) -> None:
        with translate_errors():
            await self._pool.execute(sql(name), *args)


def _refusal(state: asyncpg.Record | None, run_id: int) -> LeaseRefusal:
    if state is None:
        return LeaseRefusal("stale", "no batch for this page")
    if state["status"] != "running":
        return LeaseRefusal("stale", f"batch is {state['status']}")
    if state["run_id"] != run_id:
        return LeaseRefusal("stale", f"tick of run {run_id}, the page now runs {state['run_id']}")
    if not state["live"]:
        return LeaseRefusal("stale", "batch has expired")
    if state["leased"]:
        return LeaseRefusal("busy", f"leased to {state['lease_owner']}")
    return LeaseRefusal("busy", ROW_LOCKED)
