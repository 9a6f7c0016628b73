"""What the API reports on a page, read-only: its past runs and its to-dos.

Both lists are paginated by keyset cursors (the API's ``next_cursor``); each read is one
statement of ``queries/reports.sql``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from notion_batch.common.config import DEFAULT_INTEGRATION
from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql
from notion_batch.common.db.warnings import RunWarning

_MIN_UUID = "00000000-0000-0000-0000-000000000000"


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


@dataclass(frozen=True)
class Overview:
    """Every page's batch at a glance (the console's overview)."""

    #: Pages by batch state (``idle``, ``running``, ``completed``, ``failed``; each present).
    states: dict[str, int]
    #: Running batches that are stalled (see ``notion_batch_stalled_since``).
    stalled: int
    #: Pages whose tick's work was recorded in the last minute.
    pages_worked_last_minute: int
    todos_done_last_minute: int
    todos_skipped_last_minute: int
    #: Integration (its token's hash) → the shared Notion rate limiter's tokens as last
    #: written (negative: slots were reserved ahead for waiting requests), and when.
    rate_limiter: dict[str, tuple[float, datetime]]


class ReportRepository:
    """Reads a page's runs and to-dos."""

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

    async def overview(self, *, stall_seconds: float) -> Overview:
        """Counts over every page: states, the last minute's work, the rate limiter."""
        with translate_errors():
            async with self._pool.acquire() as conn:
                states = await conn.fetch(sql("batch_state_counts"), stall_seconds)
                activity = await conn.fetchrow(sql("activity_last_minute"))
                limiter = await conn.fetch(sql("rate_limiter_state"))
        assert activity is not None  # one row, always
        counts = {"idle": 0, "running": 0, "completed": 0, "failed": 0}
        counts.update({r["status"]: r["n"] for r in states})
        return Overview(
            states=counts,
            stalled=sum(r["stalled"] for r in states),
            pages_worked_last_minute=activity["pages_worked"],
            todos_done_last_minute=activity["todos_done"],
            todos_skipped_last_minute=activity["todos_skipped"],
            rate_limiter={r["integration"]: (float(r["tokens"]), r["updated_at"]) for r in limiter},
        )

    async def todo_counts(self, notion_page_id: str) -> dict[str, int]:
        """How many of the page's to-dos are in each status (every status present, maybe 0)."""
        with translate_errors():
            rows = await self._pool.fetch(sql("page_todo_counts"), notion_page_id)
        counts = {"pending": 0, "done": 0, "skipped": 0}
        counts.update({r["status"]: r["n"] for r in rows})
        return counts
