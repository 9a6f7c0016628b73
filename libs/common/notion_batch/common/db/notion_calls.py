"""The fleet's Notion calls and 429 answers per minute, where the API can read them.

Each worker counts its calls in memory (:class:`NotionCallTally`, which the Notion gateway
feeds) and a :class:`NotionCallFlusher` adds the counts to ``notion_call_minutes`` every few
seconds in one statement: a few writes a minute per worker, never one per call. The
Prometheus counters (``notion_batch_notion_requests_total``, ``…_rate_limited_total``) count
the same attempts per process; this table is their sum over the fleet, by minute, for the
console's overview.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import asyncpg
import structlog

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql
from notion_batch.common.errors import DatabaseUnavailable

log = structlog.get_logger(__name__)

#: How long minutes are kept: the console reads two, a day leaves room to look back.
KEEP_SECONDS = 24 * 3600
#: How often a worker adds its counts.
FLUSH_SECONDS = 5.0
#: Flushes between two prunes of old minutes (about every ten minutes at the default).
_PRUNE_EVERY = 120
#: Minutes of counts kept in memory while the database is away; older ones are dropped
#: (counted in the log event) rather than kept without bound.
_MAX_PENDING_MINUTES = 60


@dataclass(frozen=True)
class CallCount:
    """Calls of one integration in one minute (UTC, whole minutes)."""

    integration: str
    minute: datetime
    calls: int
    rate_limited: int


@dataclass(frozen=True)
class RecentCalls:
    """One integration's calls in the last full minute and so far in the current one."""

    integration: str
    last_minute_calls: int
    last_minute_rate_limited: int
    this_minute_calls: int
    this_minute_rate_limited: int


class NotionCallTally:
    """Counts Notion calls in memory by integration and minute; the gateway's call counter."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, int], list[int]] = {}

    def count(self, integration: str, *, rate_limited: bool) -> None:
        """One attempt sent to Notion (answered, refused or lost on the way)."""
        key = (integration, int(self._clock() // 60))
        counts = self._counts.setdefault(key, [0, 0])
        counts[0] += 1
        counts[1] += rate_limited

    def take(self) -> list[CallCount]:
        """The counts so far, which the tally then forgets."""
        counts, self._counts = self._counts, {}
        return [
            CallCount(name, datetime.fromtimestamp(minute * 60, UTC), calls, limited)
            for (name, minute), (calls, limited) in sorted(counts.items())
        ]

    def give_back(self, counts: list[CallCount]) -> int:
        """Put back counts that could not be written, for the next flush; the number of
        minutes dropped because too many are pending already."""
        for count in counts:
            key = (count.integration, int(count.minute.timestamp()) // 60)
            kept = self._counts.setdefault(key, [0, 0])
            kept[0] += count.calls
            kept[1] += count.rate_limited
        dropped = 0
        while len(self._counts) > _MAX_PENDING_MINUTES:
            del self._counts[min(self._counts, key=lambda k: k[1])]
            dropped += 1
        return dropped


class NotionCallRepository:
    """Writes and reads ``notion_call_minutes``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, counts: list[CallCount]) -> None:
        """Add ``counts`` to their minutes, in one statement."""
        if not counts:
            return
        with translate_errors():
            await self._pool.execute(
                sql("notion_calls_add"),
                [c.integration for c in counts],
                [c.minute for c in counts],
                [c.calls for c in counts],
                [c.rate_limited for c in counts],
            )

    async def prune(self, keep_seconds: float = KEEP_SECONDS) -> None:
        """Delete the minutes older than ``keep_seconds``."""
        with translate_errors():
            await self._pool.execute(sql("notion_calls_prune"), keep_seconds)

    async def recent(self) -> list[RecentCalls]:
        """Each integration's calls in the last full minute and the current one (the
        database's clock), by integration name; integrations without any are left out."""
        with translate_errors():
            rows = await self._pool.fetch(sql("notion_calls_recent"))
        return [
            RecentCalls(
                integration=r["integration"],
                last_minute_calls=r["last_minute_calls"],
                last_minute_rate_limited=r["last_minute_rate_limited"],
                this_minute_calls=r["this_minute_calls"],
                this_minute_rate_limited=r["this_minute_rate_limited"],
            )
            for r in rows
        ]


class NotionCallFlusher:
    """Adds a tally's counts to the database every ``every_seconds`` while open, and once
    more when closed; a flush that fails keeps its counts for the next one."""

    def __init__(
        self,
        tally: NotionCallTally,
        repository: NotionCallRepository,
        *,
        every_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._tally = tally
        self._repository = repository
        self._every = every_seconds
        self._task: asyncio.Task[None] | None = None
        self._flushes = 0

    async def flush(self) -> bool:
        """Write what was counted since the last flush; whether it was written."""
        counts = self._tally.take()
        try:
            await self._repository.add(counts)
            self._flushes += 1
            if self._flushes % _PRUNE_EVERY == 1:
                await self._repository.prune()
        except DatabaseUnavailable as exc:
            dropped = self._tally.give_back(counts)
            log.warning("notion_calls_flush_failed", error=str(exc), minutes_dropped=dropped)
            return False
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            await self.flush()

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="notion-call-flusher")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # The last seconds' counts too: a worker stopping mid-minute still adds them.
        await self.flush()
