"""Page leases: the row lock that lets one worker, and one only, work a page at a time.

A lease is taken with ``FOR UPDATE SKIP LOCKED`` on the page's row (never waiting on another
worker) and recorded on the row with an expiry, so the row is not held locked — and no
connection is held — while a tick talks to Notion for seconds or minutes. A worker renews
its lease while it works; one that dies simply stops renewing, and the page is free again
once the lease expires.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from notion_batch.common.config import DEFAULT_INTEGRATION
from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql

#: Why a lease is refused while no worker holds it: a transaction has the row locked.
ROW_LOCKED = "page row is locked by another transaction"
#: Such a lock lasts milliseconds — most often the scheduler's claim of this very tick, which
#: commits only once the tick is published, so a quick worker can meet it — so a tick waits it
#: out (this many looks, this far apart) rather than be dropped as busy: a tick dropped so was
#: lost until the next interval.
ROW_LOCK_LOOKS = 20
ROW_LOCK_PAUSE_SECONDS = 0.05


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


class LeaseRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def acquire(
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

    async def acquire_for_record(
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

    async def renew(self, lease: Lease, lease_seconds: float) -> bool | None:
        """Extend the lease. ``None``: the lease is lost; ``False``: held, but the batch ended."""
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("lease_renew"), lease.notion_page_id, lease.owner, lease_seconds
            )
        return None if row is None else bool(row["may_continue"])

    async def finish(self, lease: Lease, message: str) -> None:
        """Release the lease, writing the tick's summary onto the batch."""
        with translate_errors():
            await self._pool.execute(sql("finish_tick"), lease.notion_page_id, lease.owner, message)

    async def release(self, lease: Lease) -> None:
        with translate_errors():
            await self._pool.execute(sql("lease_release"), lease.notion_page_id, lease.owner)


def _refusal(state: asyncpg.Record | None, run_id: int) -> LeaseRefusal:
    if state is None:
        return LeaseRefusal("stale", "no batch for this page")
    if state["status"] != "running":
        return LeaseRefusal("stale", f"batch is {state['status']}")
    if state["run_id"] != run_id:
        return LeaseRefusal("stale", f"tick of run {run_id}, the page now runs {state['run_id']}")
    if state["end_time"] <= state["now"]:
        return LeaseRefusal("stale", "batch has expired")
    if state["lease_owner"] is not None and state["lease_expires_at"] >= state["now"]:
        return LeaseRefusal("busy", f"leased to {state['lease_owner']}")
    return LeaseRefusal("busy", ROW_LOCKED)
