"""Writes throttled per API key (start, stop, extend…): a token bucket per client.

The buckets live in this process: with several API replicas each allows the rate, which is
enough to stop a runaway script without a shared store. Reads are not limited.
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


def write_throttle_middleware(per_minute: int, burst: int) -> Middleware:
    """429 with ``Retry-After`` once a client's writes outrun its bucket; 0/min: no limit."""
    bucket = TokenBucket(per_minute, burst) if per_minute > 0 else None

    @web.middleware
    async def limit_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
        if bucket is not None and required_scope(request) == "write":
            wait = bucket.take(request[PRINCIPAL].client)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                raise RateLimited(
                    f"too many writes: this client may make {per_minute} per minute "
                    f"(bursts of {burst}); retry in {seconds} s",
                    headers={"Retry-After": str(seconds)},
                    retry_after_seconds=seconds,
                )
        return await handler(request)

    return limit_writes
