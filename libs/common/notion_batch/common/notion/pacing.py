"""Client-side pacing of Notion calls, so that 429s stay the exception.

Notion's limit is per integration, so one limiter should be shared by every gateway that uses
the same token in a process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class RateLimiter(Protocol):
    async def acquire(self) -> None:
        """Wait until one more request may be sent."""


@runtime_checkable
class PausableRateLimiter(RateLimiter, Protocol):
    def penalize(self, seconds: float) -> None:
        """Let no request through for ``seconds`` (Notion answered 429/529)."""


class TokenBucketLimiter:
    """Average ``rate_per_second`` with bursts of ``burst``; waiters are served first come first.

    The waiters queue on an :class:`asyncio.Lock` (FIFO); the one at the head sleeps exactly
    until its token is due, re-checking after each sleep because :meth:`penalize` may have
    pushed the time back.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._rate = rate_per_second
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        #: Time up to which tokens have been counted; in the future while penalized.
        self._updated = clock()
        self._lock = asyncio.Lock()

    @property
    def rate_per_second(self) -> float:
        return self._rate

    @property
    def paused_until(self) -> float | None:
        """The clock's time before which nothing is let through after :meth:`penalize`, while
        that is still ahead; else None."""
        return self._updated if self._updated > self._clock() else None

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now

    def _wait_time(self, now: float) -> float:
        """Seconds until a token is available (0: take one now)."""
        self._refill(now)
        if self._tokens >= 1.0 and now >= self._updated:
            return 0.0
        return max(0.0, self._updated - now) + max(0.0, 1.0 - self._tokens) / self._rate

    async def acquire(self) -> None:
        async with self._lock:
            wait = self._wait_time(self._clock())
            while wait > 0:
                # Sleep exactly until the token is due; penalize() may move that, so look again.
                await asyncio.sleep(wait)
                wait = self._wait_time(self._clock())
            self._tokens -= 1.0

    def penalize(self, seconds: float) -> None:
        """Empty the bucket and start refilling only after ``seconds``."""
        if seconds <= 0:
            return
        now = self._clock()
        self._refill(now)
        self._tokens = 0.0
        self._updated = max(self._updated, now + seconds)
