"""A run's warnings: what a worker met on the page and skipped without failing the batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql


@dataclass(frozen=True)
class NewWarning:
    block_id: str
    block_type: str
    status: int | None
    code: str
    message: str


@dataclass(frozen=True)
class RunWarning:
    block_id: str
    block_type: str
    status: int | None
    code: str
    message: str
    first_seen_at: datetime
    last_seen_at: datetime
    #: Readings of the page that met it.
    seen: int


class WarningRepository:
    """Writes and reads ``notion_batch_run_warnings``: one row per run and block."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, run_id: int, warnings: Sequence[NewWarning]) -> int:
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

    async def list(self, run_id: int, *, limit: int = 100) -> list[RunWarning]:
        """The run's warnings, oldest first."""
        with translate_errors():
            rows = await self._pool.fetch(sql("warning_list"), run_id, limit)
        return [
            RunWarning(
                block_id=str(r["block_id"]),
                block_type=r["block_type"],
                status=r["status"],
                code=r["code"],
                message=r["message"],
                first_seen_at=r["first_seen_at"],
                last_seen_at=r["last_seen_at"],
                seen=r["seen"],
            )
            for r in rows
        ]
