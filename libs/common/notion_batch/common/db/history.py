"""What the API reports and changes beyond start and stop.

A page's past runs and its to-dos (read, paginated by keyset cursors), extending a running
batch, and starting a batch under an ``Idempotency-Key`` so that a retried start gets the
first answer back. Every method is one transaction.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from notion_batch.common.config import DEFAULT_INTEGRATION
from notion_batch.common.db.batches import NewBatch, StartedBatch, insert_batch
from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql
from notion_batch.common.db.warnings import RunWarning
from notion_batch.common.errors import NotionBatchError

_MIN_UUID = "00000000-0000-0000-0000-000000000000"
#: Expired idempotency answers deleted by each claim: enough to keep up with any real load.
_PURGE_PER_CLAIM = 20


class IdempotencyKeyReused(NotionBatchError):
    """An ``Idempotency-Key`` came back with a different request than the one it was used for."""

    def __init__(self, key: str) -> None:
        super().__init__(
            "this Idempotency-Key was already used for a different request; "
            "send a new key for a new request"
        )
        self.key = key


class BatchTooLong(NotionBatchError):
    """Extending the batch would make it last longer than the longest batch allowed."""

    def __init__(self, *, total_seconds: int, max_seconds: int) -> None:
        super().__init__(
            f"the batch would last {total_seconds} seconds in all, "
            f"more than the maximum of {max_seconds}"
        )
        self.total_seconds = total_seconds
        self.max_seconds = max_seconds


@dataclass(frozen=True)
class RunRecord:
    """One run (one start) of a page's batch."""

    run_id: int
    #: ``running``, ``completed`` or ``failed``.
    status: str
    #: ``expired``, ``stopped`` or ``failed``; ``None`` while running.
    end_reason: str | None
    message: str
    interval_seconds: int
    started_at: datetime
    #: When the run is (or was) planned to end; moved by an extension.
    ends_at: datetime
    #: When it really ended; ``None`` while running.
    ended_at: datetime | None
    ticks: int
    ticks_coalesced: int
    todos_done: int
    todos_skipped: int
    #: The handler the run chose; ``None``: the workers' default.
    handler: str | None = None
    integration: str = DEFAULT_INTEGRATION
    #: What the run met on the page and skipped (unreadable blocks), oldest first, ≤ 100.
    warnings: tuple[RunWarning, ...] = ()
    #: Times the run was seen stalled (no progress while ticks fell due), and the last time.
    stalls: int = 0
    last_stalled_at: datetime | None = None


@dataclass(frozen=True)
class TodoCursor:
    """Where a page of to-dos ended: the next page starts after this to-do."""

    position: int
    block_id: str


@dataclass(frozen=True)
class TodoRecord:
    block_id: str
    position: int
    text: str
    status: str
    attempts: int
    last_error: str | None
    result: str | None
    run_id: int | None
    processed_at: datetime | None
    checked_in_notion_at: datetime | None
    first_seen_at: datetime

    @property
    def cursor(self) -> TodoCursor:
        return TodoCursor(self.position, self.block_id)


@dataclass(frozen=True)
class ExtendedBatch:
    notion_page_id: str
    run_id: int
    start_time: datetime
    end_time: datetime
    previous_end_time: datetime
    interval_seconds: int


@dataclass(frozen=True)
class IdempotentAnswer:
    """The answer to a start made with an ``Idempotency-Key``: now, or kept from the first time."""

    status: int
    #: The JSON body, exactly as first sent.
    body: str
    replayed: bool


#: Builds the answer to keep for a start: ``None`` means the page was already running.
AnswerBuilder = Callable[[StartedBatch | None], tuple[int, str]]


def _warnings(raw: str | None) -> tuple[RunWarning, ...]:
    """The warnings ``run_history`` aggregates as JSON text (asyncpg returns json as text)."""
    return tuple(
        RunWarning(
            block_id=str(w["block_id"]),
            block_type=str(w["block_type"]),
            status=w["status"],
            code=str(w["code"]),
            message=str(w["message"]),
            first_seen_at=datetime.fromisoformat(w["first_seen_at"]),
            last_seen_at=datetime.fromisoformat(w["last_seen_at"]),
            seen=int(w["seen"]),
        )
        for w in json.loads(raw or "[]")
    )


class HistoryRepository:
    """Reads a page's runs and to-dos, and extends its running batch."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page_known(self, notion_page_id: str) -> bool:
        """Whether a batch was ever started for the page."""
        with translate_errors():
            return bool(await self._pool.fetchval(sql("page_known"), notion_page_id))

    async def runs(self, notion_page_id: str, *, before: int | None, limit: int) -> list[RunRecord]:
        """Up to ``limit`` runs of the page, newest first, older than run ``before``."""
        with translate_errors():
            rows = await self._pool.fetch(sql("run_history"), notion_page_id, before, limit)
        return [
            RunRecord(
                run_id=r["run_id"],
                status=r["status"],
                end_reason=r["end_reason"],
                message=r["message"],
                interval_seconds=r["interval_seconds"],
                started_at=r["started_at"],
                ends_at=r["ends_at"],
                ended_at=r["ended_at"],
                ticks=r["ticks"],
                ticks_coalesced=r["ticks_coalesced"],
                todos_done=r["todos_done"],
                todos_skipped=r["todos_skipped"],
                handler=r["handler"],
                integration=r["integration"],
                warnings=_warnings(r["warnings"]),
                stalls=r["stalls"],
                last_stalled_at=r["last_stalled_at"],
            )
            for r in rows
        ]

    async def todos(
        self,
        notion_page_id: str,
        *,
        statuses: Sequence[str] | None,
        after: TodoCursor | None,
        limit: int,
    ) -> list[TodoRecord]:
        """Up to ``limit`` of the page's to-dos in page order, after ``after``."""
        position, block_id = (after.position, after.block_id) if after else (-1, _MIN_UUID)
        wanted = list(statuses) if statuses else None
        with translate_errors():
            rows = await self._pool.fetch(
                sql("page_todos"), notion_page_id, wanted, position, block_id, limit
            )
        return [
            TodoRecord(
                block_id=str(r["block_id"]),
                position=r["position"],
                text=r["text"],
                status=r["status"],
                attempts=r["attempts"],
                last_error=r["last_error"],
                result=r["result"],
                run_id=r["run_id"],
                processed_at=r["processed_at"],
                checked_in_notion_at=r["checked_in_notion_at"],
                first_seen_at=r["first_seen_at"],
            )
            for r in rows
        ]

    async def todo_counts(self, notion_page_id: str) -> dict[str, int]:
        """How many of the page's to-dos are in each status (every status present, maybe 0)."""
        with translate_errors():
            rows = await self._pool.fetch(sql("page_todo_counts"), notion_page_id)
        counts = {"pending": 0, "done": 0, "skipped": 0}
        counts.update({r["status"]: r["n"] for r in rows})
        return counts

    async def extend(
        self, notion_page_id: str, seconds: int, *, max_total_seconds: int
    ) -> ExtendedBatch | None:
        """Move the running batch's end (and its run's) ``seconds`` later, atomically.

        ``None`` when no batch is running for the page, or it has already reached its end.
        Raises :class:`BatchTooLong` when the batch would then last over ``max_total_seconds``.
        """
        async with self._transaction() as conn:
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
                notion_page_id=str(row["notion_page_id"]),
                run_id=row["run_id"],
                start_time=row["start_time"],
                end_time=row["end_time"],
                previous_end_time=state["end_time"],
                interval_seconds=row["interval_seconds"],
            )

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
        with translate_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                yield conn


class IdempotentStarts:
    """Starts a batch at most once per ``Idempotency-Key`` of a client.

    The key's claim, the start itself (with its command published before commit) and the
    answer kept for later retries are one transaction: a start that failed (database or
    broker away) leaves no trace, so its retry runs again; one that succeeded or conflicted
    is answered from the kept answer, byte for byte.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def start(
        self,
        *,
        client: str,
        key: str,
        request_hash: str,
        ttl_seconds: int,
        batch: NewBatch,
        before_commit: Callable[[StartedBatch], Awaitable[Any]],
        answer: AnswerBuilder,
    ) -> IdempotentAnswer:
        """Start the page's batch unless ``key`` was seen; raises :class:`IdempotencyKeyReused`."""
        with translate_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                claimed = await conn.fetchval(
                    sql("idempotency_claim"), client, key, request_hash, ttl_seconds
                )
                if not claimed:
                    return await self._kept_answer(conn, client, key, request_hash)
                await conn.execute(sql("idempotency_purge"), _PURGE_PER_CLAIM)
                started = await insert_batch(conn, batch)
                if started is not None:
                    await before_commit(started)
                status, body = answer(started)
                await conn.execute(sql("idempotency_store"), client, key, status, body)
                return IdempotentAnswer(status=status, body=body, replayed=False)

    @staticmethod
    async def _kept_answer(
        conn: asyncpg.pool.PoolConnectionProxy, client: str, key: str, request_hash: str
    ) -> IdempotentAnswer:
        row = await conn.fetchrow(sql("idempotency_answer"), client, key)
        # The claim locked the row (ON CONFLICT locks the row it conflicts with even when its
        # WHERE fails), so no purge removed it since; and answers are committed with claims.
        assert row is not None
        assert row["status_code"] is not None
        if row["request_hash"] != request_hash:
            raise IdempotencyKeyReused(key)
        return IdempotentAnswer(status=row["status_code"], body=row["response"], replayed=True)
