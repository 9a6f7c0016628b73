"""Crash loops: how many ticks of a batch's run crashed in a row, counted by every worker.

A crashing tick is redelivered to any worker, and the page's next ticks too, so the count
lives on the run's row, not in a worker's memory. Failing the batch is not done here: that
is :meth:`TickRepository.fail_batch` (db/ticks.py), the one way a worker fails a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql


@dataclass(frozen=True)
class CrashCount:
    """A run's crashes in a row, this one included."""

    crashes: int
    #: Whether the run is still running (a record-only tick of an ended run can crash too).
    running: bool


class CrashRepository:
    """The crash counts of runs; every method is one statement."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(
        self, notion_page_id: str, run_id: int, error: str, *, crashes: int = 1
    ) -> CrashCount | None:
        """Count ``crashes`` more crashes of the run's ticks (``error``: the latest one).

        ``None`` when the run is not the page's (a tick naming a run that never existed).
        """
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("record_tick_crash"), notion_page_id, run_id, error, crashes
            )
        if row is None:
            return None
        return CrashCount(crashes=row["tick_crashes"], running=row["status"] == "running")

    async def reset(self, run_id: int) -> None:
        """A tick of the run was worked without crashing: the next crash counts from 1."""
        with translate_errors():
            await self._pool.execute(sql("reset_tick_crashes"), run_id)

    async def stop_record_ticks(self, notion_page_id: str, run_id: int) -> bool:
        """No more record-only ticks for the ended run; ``False`` if none was due anyway."""
        with translate_errors():
            row = await self._pool.fetchrow(sql("stop_record_ticks"), notion_page_id, run_id)
        return row is not None
