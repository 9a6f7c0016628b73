"""Writes throttled per API key (start, stop, extend…): a token bucket per client.

The buckets live in this process: with several API replicas each allows the rate, which is
enough to stop a runaway script without a shared store. Reads are not limited. The REST
API's write routes take from them in the middleware below; the console's actions (start,
stop, extend) take from the same buckets (``app[WRITE_THROTTLE]``), under the same client.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from notion_batch.api.auth import PRINCIPAL, required_scope
from notion_batch.api.errors import RateLimited

#: Buckets kept before full (idle) ones are dropped; bounds memory with many clients.
_MAX_BUCKETS = 10_000


class TokenBucket:
    """``burst`` writes at once, refilled at ``per_minute`` per minute, per client."""

    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> float:
        """Take one token: 0 if granted, else the seconds until one will be there."""
        now = self._clock()
        tokens, updated = self._buckets.get(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - updated) * self._rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            self._prune(now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self._rate

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= _MAX_BUCKETS:
            return
        full_after = self._burst / self._rate
        self._buckets = {
            client: (tokens, updated)
            for client, (tokens, updated) in self._buckets.items()
            if now - updated < full_after
        }


class WriteThrottle:
    """Every client's write bucket (``API_WRITE_RATE_PER_MINUTE``, ``API_WRITE_BURST``);
    0 per minute: no limit."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self._per_minute = per_minute
        self._burst = burst
        self._bucket = TokenBucket(per_minute, burst) if per_minute > 0 else None

    def take(self, client: str) -> None:
        """One write of ``client``; :class:`RateLimited` (429, ``Retry-After``) once its
        writes outrun its bucket."""
        if self._bucket is None:
            return
        wait = self._bucket.take(client)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise RateLimited(
                f"too many writes: this client may make {self._per_minute} per minute "
                f"(bursts of {self._burst}); retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
                retry_after_seconds=seconds,
            )


WRITE_THROTTLE = web.AppKey("write_throttle", WriteThrottle)


def write_throttle_middleware(throttle: WriteThrottle) -> Middleware:
    """The REST API's write routes (scope ``write``) take from ``throttle``."""

    @web.middleware
    async def limit_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
        if required_scope(request) == "write":
            throttle.take(request[PRINCIPAL].client)
        return await handler(request)

    return limit_writes
