"""The fleet-wide Notion budget: one token bucket per integration, kept in PostgreSQL.

Each Notion request first reserves a slot in the integration's token bucket (one short UPDATE
on one row) and sleeps until the slot is due. Reservations are served in arrival order, so the
fleet as a whole sends at the configured average rate however many workers there are, and
fairness across pages follows from each tick keeping only two requests in flight (see
``worker/recorder.py``): a large page holds at most two slots of the queue at a time, between
everyone else's, so no page starves behind a larger one.

At high rates a process reserves the slots of the next ``RESERVE_AHEAD_SECONDS`` in one
statement (ten at 1,000 requests/s) and hands them to its requests in order; a slot not used
within that time lapses, so reserving ahead never makes a burst. At Notion's 3 requests/s
every request reserves its own slot, exactly as above.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque

import asyncpg
import structlog

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.sql import sql
from notion_batch.common.errors import UnavailableError

log = structlog.get_logger(__name__)

#: Slots reserved per round trip: as many as the rate hands out in this long (at least one).
RESERVE_AHEAD_SECONDS = 0.01


def integration_key(token: str) -> str:
    """Identifies an integration without storing its token."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


class SharedRateLimiter:
    """Token bucket in PostgreSQL; satisfies the Notion port's ``PausableRateLimiter``."""

    def __init__(
        self, pool: asyncpg.Pool, *, token: str, rate_per_second: float, burst: int = 1
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate_per_second must be positive and burst at least 1")
        self._pool = pool
        self._key = integration_key(token)
        self._rate = rate_per_second
        self._burst = burst
        self._ahead = max(1, int(rate_per_second * RESERVE_AHEAD_SECONDS))
        #: Due times (event loop clock) of slots reserved ahead and not yet handed out.
        self._slots: deque[float] = deque()
        self._reserving = asyncio.Lock()
        self._pauses: set[asyncio.Task[None]] = set()

    @property
    def rate_per_second(self) -> float:
        return self._rate

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        if self._ahead == 1:
            (due,) = await self._reserve(1)
        else:
            # One caller at a time takes a slot, so the process's callers keep arrival order.
            async with self._reserving:
                # A slot unused past its time lapses: sent late, it would make a burst.
                while self._slots and self._slots[0] < loop.time() - RESERVE_AHEAD_SECONDS:
                    self._slots.popleft()
                if not self._slots:
                    self._slots.extend(await self._reserve(self._ahead))
                due = self._slots.popleft()
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _reserve(self, slots: int) -> list[float]:
        """Reserve ``slots`` slots; their due times on the event loop's clock, in order."""
        with translate_errors():
            row = await self._pool.fetchrow(
                sql("rate_reserve"), self._key, self._rate, self._burst, slots
            )
        assert row is not None
        now = asyncio.get_running_loop().time()
        pause, tokens = float(row["pause_seconds"]), float(row["tokens"])
        return [
            now + pause + max(0.0, -(tokens + slots - k)) / self._rate for k in range(1, slots + 1)
        ]

    def penalize(self, seconds: float) -> None:
        """Tell the whole fleet to hold off (Notion answered 429/529); does not block."""
        if seconds <= 0:
            return
        self._slots.clear()  # reserved before Notion said to wait: not to be used
        task = asyncio.get_running_loop().create_task(self._pause(seconds))
        self._pauses.add(task)
        task.add_done_callback(self._pauses.discard)

    async def _pause(self, seconds: float) -> None:
        try:
            with translate_errors():
                await self._pool.execute(sql("rate_pause"), self._key, seconds)
        except UnavailableError as exc:
            # The caller waits out its own Retry-After anyway; the others learn at their 429.
            log.warning("rate_limit_pause_failed", error=str(exc))
