"""A page's to-dos: syncing them from Notion, recording outcomes, and the outbox to Notion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql


@dataclass(frozen=True)
class SyncedTodo:
    block_id: str
    position: int
    text: str
    checked: bool


@dataclass(frozen=True)
class PendingTodo:
    block_id: str
    text: str
    #: Failed attempts recorded so far.
    attempts: int
    position: int


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
class Holder:
    """Who works the page (its lease), for the outcome's commit to answer ``may_start``."""

    notion_page_id: str
    lease_owner: str


_MIN_UUID = "00000000-0000-0000-0000-000000000000"


class TodoRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def merge_synced(
        self, notion_page_id: str, todos: Sequence[SyncedTodo], *, complete: bool
    ) -> None:
        """Merge to-dos read from Notion; with ``complete``, pending ones not seen are skipped."""
        ids = [t.block_id for t in todos]
        with translate_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    sql("todo_upsert_synced"),
                    notion_page_id,
                    ids,
                    [t.position for t in todos],
                    [t.text for t in todos],
                    [t.checked for t in todos],
                )
                if complete:
                    await conn.execute(sql("todo_skip_vanished"), notion_page_id, ids)

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
        with translate_errors():
            return bool(
                await self._pool.fetchval(sql("todo_may_start"), notion_page_id, lease_owner)
            )

    async def record_done(
        self, block_id: str, run_id: int, result: str, *, log: bool, holder: Holder | None = None
    ) -> Recorded:
        """Record success once (``recorded`` is ``False`` if it was recorded already)."""
        return await self._record(
            "todo_record_done", block_id, run_id, result, log=log, holder=holder
        )

    async def record_skipped(
        self, block_id: str, run_id: int, reason: str, *, log: bool, holder: Holder | None = None
    ) -> Recorded:
        return await self._record(
            "todo_record_skipped", block_id, run_id, reason, log=log, holder=holder
        )

    async def record_failure(
        self,
        block_id: str,
        run_id: int,
        error: str,
        *,
        max_attempts: int,
        log: bool,
        holder: Holder | None = None,
    ) -> Recorded:
        page, owner = (holder.notion_page_id, holder.lease_owner) if holder else (None, None)
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("todo_record_failure"), block_id, run_id, error, max_attempts, log, page, owner
            )
        assert row is not None
        return Recorded(
            recorded=row["status"] is not None,
            may_continue=row["may_continue"],
            status=row["status"],
            attempts=row["attempts"],
        )

    async def _record(
        self, query: str, block_id: str, run_id: int, text: str, *, log: bool, holder: Holder | None
    ) -> Recorded:
        page, owner = (holder.notion_page_id, holder.lease_owner) if holder else (None, None)
        with translate_errors():
            row = await self._pool.fetchrow(sql(query), block_id, run_id, text, log, page, owner)
        assert row is not None
        return Recorded(recorded=bool(row["recorded"]), may_continue=row["may_continue"])

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

    async def drop_check(self, block_ids: Sequence[str]) -> None:
        await self._execute("outbox_drop_check", list(block_ids))

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
        with translate_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(sql("outbox_mark_logged"), list(block_ids))
                if reconciled_run is not None:
                    await conn.execute(sql("run_log_set_reconcile"), reconciled_run, None)

    async def log_block_ids(self, notion_page_id: str) -> list[str]:
        with translate_errors():
            rows = await self._pool.fetch(sql("run_log_blocks"), notion_page_id)
        return [str(r["log_block_id"]) for r in rows]

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

    async def _execute(self, name: str, *args: object) -> None:
        with translate_errors():
            await self._pool.execute(sql(name), *args)
