"""A Notion rate limit shared by the whole fleet, kept in PostgreSQL.

Each Notion request first reserves a slot in the integration's token bucket (one short UPDATE
on one row) and sleeps until the slot is due. Reservations are served in arrival order, so the
fleet as a whole sends at the configured average rate however many workers there are, and
fairness across pages follows from each tick keeping only two requests in flight (see
``worker/recorder.py``): a large page holds at most two slots of the queue at a time, between
everyone else's, so no page starves behind a larger one.
"""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg
import structlog

from notion_batch.common.db.pool import translate_errors
from notion_batch.common.db.queries import sql
from notion_batch.common.errors import UnavailableError

log = structlog.get_logger(__name__)


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
        self._pauses: set[asyncio.Task[None]] = set()

    @property
    def rate_per_second(self) -> float:
        return self._rate

    async def acquire(self) -> None:
        with translate_errors():
            wait = await self._pool.fetchval(
                sql("rate_reserve"), self._key, self._rate, self._burst
            )
        if wait and wait > 0:
            await asyncio.sleep(float(wait))

    def penalize(self, seconds: float) -> None:
        """Tell the whole fleet to hold off (Notion answered 429/529); does not block."""
        if seconds <= 0:
            return
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
