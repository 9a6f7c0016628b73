"""Stalled batches: running, ticks falling due, and no progress for longer than a bound.

The rule is a database function (``notion_batch_stalled_since``, migration 0009), so the API's
status and the scheduler's stall watch cannot disagree about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql


@dataclass(frozen=True)
class Stalled:
    notion_page_id: str
    run_id: int
    #: The last progress: the end of its last finished tick, or its start.
    since: datetime


@dataclass(frozen=True)
class Recovered:
    notion_page_id: str
    run_id: int
    status: str
    stalled_for_seconds: float


class StallRepository:
    """Marks, counts and clears stalls; every method is one statement."""

    def __init__(self, pool: asyncpg.Pool, *, bound_seconds: float) -> None:
        self._pool = pool
        self._bound_seconds = bound_seconds

    async def mark(self, limit: int) -> list[Stalled]:
        """Note batches newly seen stalled, count it on their run, make their tick due now and
        clear the expired lease a worker may have left behind."""
        with translate_errors():
            rows = await self._pool.fetch(sql("stall_mark"), self._bound_seconds, limit)
        return [Stalled(str(r["notion_page_id"]), r["run_id"], r["since"]) for r in rows]

    async def clear(self, limit: int) -> list[Recovered]:
        """Forget the stalls of batches that moved again or ended."""
        with translate_errors():
            rows = await self._pool.fetch(sql("stall_clear"), limit)
        return [
            Recovered(str(r["notion_page_id"]), r["run_id"], r["status"], r["stalled_for"])
            for r in rows
        ]

    async def count(self) -> int:
        with translate_errors():
            return int(await self._pool.fetchval(sql("stall_count")))
