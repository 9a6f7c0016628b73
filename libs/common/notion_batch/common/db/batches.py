"""Batch state: starting, stopping, reading, ticking and ending the batch of a page.

A worker's failing a batch is ``TickRepository.fail_batch`` (db/ticks.py), with the rest of
a tick's statements.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import KW_ONLY, asdict, dataclass
from datetime import UTC, datetime

import asyncpg

from notion_batch.common.config import DEFAULT_INTEGRATION
from notion_batch.common.db.pool import transaction, translate_errors
from notion_batch.common.db.sql import sql
from notion_batch.common.errors import BatchTooLong

_HEX = re.compile(r"[0-9a-f]{1,32}")
#: Where the console's list puts a page never started (its ``start_time`` is NULL).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class NewBatch:
    """What a start asks for."""

    notion_page_id: str
    interval_seconds: int
    duration_seconds: int
    #: The batch's message until its first tick reports.
    message: str
    #: The handler the run uses; ``None``: the worker's default.
    handler: str | None = None
    #: The Notion integration the run works through.
    integration: str = DEFAULT_INTEGRATION


@dataclass(frozen=True)
class StartedBatch(NewBatch):
    """A start that took: what it asked for, and the run it opened."""

    _: KW_ONLY
    run_id: int
    start_time: datetime
    end_time: datetime


@dataclass(frozen=True)
class StoppedBatch:
    notion_page_id: str
    run_id: int
    end_time: datetime


@dataclass(frozen=True)
class BatchStatus:
    notion_page_id: str
    status: str
    message: str
    last_run_at: datetime | None
    run_id: int | None
    start_time: datetime | None
    end_time: datetime | None
    interval_seconds: int | None
    #: The handler the current run chose; ``None``: the worker's default.
    handler: str | None
    #: The integration of the current run; ``None`` for a page never started.
    integration: str | None
    ticks: int
    todos_done: int
    todos_skipped: int
    todos_pending: int
    #: The last progress of a stalled batch (see ``notion_batch_stalled_since``); ``None``:
    #: not stalled.
    stalled_since: datetime | None = None

    @property
    def is_running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class RunningCursor:
    """Where a page of the running list ended: the next page starts after this batch (the
    list is in start order, page id breaking ties)."""

    start_time: datetime
    notion_page_id: str


@dataclass(frozen=True)
class RunningBatch:
    notion_page_id: str
    status: str
    start_time: datetime
    end_time: datetime

    @property
    def cursor(self) -> RunningCursor:
        return RunningCursor(self.start_time, self.notion_page_id)


@dataclass(frozen=True)
class ListedBatch:
    """A page's batch as the console's list shows it, its to-dos counted by status."""

    notion_page_id: str
    status: str
    message: str
    start_time: datetime | None
    end_time: datetime | None
    last_run_at: datetime | None
    stalled_since: datetime | None
    todos_done: int
    todos_pending: int
    todos_skipped: int

    @property
    def cursor(self) -> RunningCursor:
        """Where a page of the list that ends here ends (a batch never started sorts as if
        started at the epoch)."""
        return RunningCursor(self.start_time or _EPOCH, self.notion_page_id)


@dataclass(frozen=True)
class DueTick:
    notion_page_id: str
    run_id: int
    scheduled_at: datetime
    interval_seconds: int
    #: Ticks that fell due while nothing emitted them, coalesced into this one.
    missed: int


@dataclass(frozen=True)
class EndedBatch:
    notion_page_id: str
    run_id: int
    message: str


def _page(record: asyncpg.Record) -> str:
    return str(record["notion_page_id"])


async def insert_batch(
    conn: asyncpg.pool.PoolConnectionProxy, new: NewBatch
) -> StartedBatch | None:
    """Start the page's batch on ``conn`` (inside the caller's transaction); ``None`` if it is
    already running. The one place a start is written, with or without an Idempotency-Key."""
    row = await conn.fetchrow(
        sql("start_batch"),
        new.notion_page_id,
        new.interval_seconds,
        new.duration_seconds,
        new.message,
        new.handler,
        new.integration,
    )
    if row is None:
        return None
    return StartedBatch(
        **{**asdict(new), "notion_page_id": _page(row)},
        run_id=row["run_id"],
        start_time=row["start_time"],
        end_time=row["end_time"],
    )


def _due_ticks(rows: list[asyncpg.Record]) -> list[DueTick]:
    return [
        DueTick(
            notion_page_id=_page(r),
            run_id=r["run_id"],
            scheduled_at=r["scheduled_at"],
            interval_seconds=r["interval_seconds"],
            missed=r["missed"],
        )
        for r in rows
    ]


class BatchRepository:
    """The page's batch row and its runs; every method is one transaction."""

    def __init__(self, pool: asyncpg.Pool, *, stall_seconds: float = 180) -> None:
        self._pool = pool
        #: What ``status`` calls stalled (``BATCH_STALL_SECONDS``).
        self._stall_seconds = stall_seconds

    @asynccontextmanager
    async def starting(self, new: NewBatch) -> AsyncIterator[StartedBatch | None]:
        """Start the page's batch in a transaction that commits when the block exits cleanly;
        ``None`` if a batch is already running for the page.

        The API publishes the start command inside the block: if that raises, the start is
        rolled back and nothing half-happened.
        """
        async with transaction(self._pool) as conn:
            yield await insert_batch(conn, new)

    async def start(self, new: NewBatch) -> StartedBatch | None:
        """Start the page's batch; ``None`` if it is already running."""
        async with self.starting(new) as started:
            return started

    @asynccontextmanager
    async def stopping(
        self, notion_page_id: str, *, message: str
    ) -> AsyncIterator[StoppedBatch | None]:
        """Stop the page's running batch in a transaction that commits when the block exits
        cleanly (a raise inside rolls the stop back); ``None`` if it is not running."""
        async with transaction(self._pool) as conn:
            row = await conn.fetchrow(sql("stop_batch"), notion_page_id, message)
            yield (
                None
                if row is None
                else StoppedBatch(
                    notion_page_id=_page(row), run_id=row["run_id"], end_time=row["end_time"]
                )
            )

    async def stop(self, notion_page_id: str, *, message: str) -> StoppedBatch | None:
        """Stop the page's running batch; ``None`` if it is not running."""
        async with self.stopping(notion_page_id, message=message) as stopped:
            return stopped

    async def status(self, notion_page_id: str) -> BatchStatus | None:
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("batch_status"), notion_page_id, self._stall_seconds
            )
        if row is None:
            return None
        return BatchStatus(
            notion_page_id=_page(row),
            status=row["status"],
            message=row["message"],
            last_run_at=row["last_run_at"],
            run_id=row["run_id"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            interval_seconds=row["interval_seconds"],
            handler=row["handler"],
            integration=row["integration"],
            ticks=row["ticks"] or 0,
            todos_done=row["todos_done"] or 0,
            todos_skipped=row["todos_skipped"] or 0,
            todos_pending=row["todos_pending"],
            stalled_since=row["stalled_since"],
        )

    async def running(self, *, after: RunningCursor | None, limit: int) -> list[RunningBatch]:
        """Up to ``limit`` running batches in start order, after ``after``."""
        start, page = (after.start_time, after.notion_page_id) if after else (None, None)
        with translate_errors():
            rows = await self._pool.fetch(sql("running_batches"), start, page, limit)
        return [
            RunningBatch(
                notion_page_id=_page(r),
                status=r["status"],
                start_time=r["start_time"],
                end_time=r["end_time"],
            )
            for r in rows
        ]

    async def listing(
        self,
        *,
        state: str | None,
        id_fragment: str | None,
        limit: int,
        after: RunningCursor | None = None,
    ) -> list[ListedBatch]:
        """Up to ``limit`` batches, newest start first (never started: last), after ``after``
        (a :attr:`ListedBatch.cursor`); only those in ``state`` and whose page id (hex digits,
        no dashes) contains ``id_fragment``, when given."""
        if id_fragment is not None and not _HEX.fullmatch(id_fragment):
            raise ValueError(f"a page id fragment is hex digits only, got {id_fragment!r}")
        start, page = (after.start_time, after.notion_page_id) if after else (None, None)
        with translate_errors():
            rows = await self._pool.fetch(
                sql("batch_list"), state, id_fragment, self._stall_seconds, limit, start, page
            )
        return [
            ListedBatch(
                notion_page_id=_page(r),
                status=r["status"],
                message=r["message"],
                start_time=r["start_time"],
                end_time=r["end_time"],
                last_run_at=r["last_run_at"],
                stalled_since=r["stalled_since"],
                todos_done=r["todos_done"],
                todos_pending=r["todos_pending"],
                todos_skipped=r["todos_skipped"],
            )
            for r in rows
        ]

    async def running_count(self) -> int:
        with translate_errors():
            return int(await self._pool.fetchval(sql("running_count")))

    @asynccontextmanager
    async def claim_due_ticks(self, limit: int) -> AsyncIterator[list[DueTick]]:
        """Claim due ticks inside a transaction that commits when the block exits cleanly.

        The scheduler publishes the ticks inside the block: a failed publish rolls the claim
        back and the ticks stay due, so a broker hiccup loses no tick.
        """
        async with transaction(self._pool) as conn:
            yield _due_ticks(await conn.fetch(sql("claim_due_ticks"), limit))

    @asynccontextmanager
    async def claim_due_flushes(self, limit: int) -> AsyncIterator[list[DueTick]]:
        """Like :meth:`claim_due_ticks`, for the record-only ticks of ended batches."""
        async with transaction(self._pool) as conn:
            yield _due_ticks(await conn.fetch(sql("claim_due_flushes"), limit))

    async def next_due_in(self) -> float | None:
        """Seconds until the next tick, record-only tick or expiry falls due; ``None``: none."""
        with translate_errors():
            seconds = await self._pool.fetchval(sql("next_due_in"))
        return None if seconds is None else float(seconds)

    async def complete_expired(self, limit: int) -> list[EndedBatch]:
        with translate_errors():
            rows = await self._pool.fetch(sql("complete_expired"), limit)
        return [
            EndedBatch(notion_page_id=_page(r), run_id=r["run_id"], message=r["message"])
            for r in rows
        ]

    async def extend(
        self, notion_page_id: str, seconds: int, *, max_total_seconds: int
    ) -> ExtendedBatch | None:
        """Move the running batch's end (and its run's) ``seconds`` later, atomically.

        ``None`` when no batch is running for the page, or it has already reached its end.
        Raises :class:`BatchTooLong` when the batch would then last over ``max_total_seconds``.
        """
        async with transaction(self._pool) as conn:
            state = await conn.fetchrow(sql("extend_lock"), notion_page_id)
            if state is None or state["status"] != "running" or not state["live"]:
                return None
            total = (state["end_time"] - state["start_time"]).total_seconds() + seconds
            if total > max_total_seconds:
                raise BatchTooLong(total_seconds=round(total), max_seconds=max_total_seconds)
            row = await conn.fetchrow(sql("extend_batch"), notion_page_id, state["run_id"], seconds)
            # The row is locked since extend_lock: it is still the same running batch.
            assert row is not None
            return ExtendedBatch(
                notion_page_id=_page(row),
                run_id=row["run_id"],
                start_time=row["start_time"],
                end_time=row["end_time"],
                previous_end_time=state["end_time"],
                interval_seconds=row["interval_seconds"],
            )


@dataclass(frozen=True)
class ExtendedBatch:
    notion_page_id: str
    run_id: int
    start_time: datetime
    end_time: datetime
    previous_end_time: datetime
    interval_seconds: int
