"""Notion's request rate limit, one token bucket per integration token."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Average ``rate`` requests/s per token, bursts up to ``burst``; ``rate=None`` is off."""

    def __init__(self, rate: float | None, burst: int = 3) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive or None")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def reset(self) -> None:
        self._buckets.clear()

    def check(self, token: str, now: float) -> int | None:
        """Take one token; ``None`` if the request may pass, else the ``Retry-After`` seconds."""
        if self.rate is None:
            return None
        bucket = self._buckets.get(token)
        if bucket is None:
            bucket = self._buckets[token] = _Bucket(tokens=float(self.burst), updated=now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        # Notion sends whole seconds; never 0, which would invite an immediate retry.
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
