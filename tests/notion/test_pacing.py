"""TokenBucketLimiter: pace, burst, first-come-first-served order, penalties."""

from __future__ import annotations

import asyncio
import time

import pytest

from notion_batch.common.notion import PausableRateLimiter, RateLimiter, TokenBucketLimiter


async def test_paces_at_the_rate_after_the_burst() -> None:
    limiter = TokenBucketLimiter(50.0, burst=3)
    started = time.monotonic()

    for _ in range(3):
        await limiter.acquire()
    burst_done = time.monotonic()
    for _ in range(10):
        await limiter.acquire()
    elapsed = time.monotonic() - started

    assert burst_done - started < 0.05
    assert elapsed >= 10 / 50.0 * 0.95


async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = TokenBucketLimiter(100.0)
    served: list[int] = []

    async def take(index: int) -> None:
        await limiter.acquire()
        served.append(index)

    await asyncio.gather(*(take(i) for i in range(15)))

    assert served == list(range(15))


async def test_penalize_pauses_everyone() -> None:
    limiter = TokenBucketLimiter(100.0, burst=5)
    await limiter.acquire()

    limiter.penalize(0.3)
    started = time.monotonic()
    await asyncio.gather(limiter.acquire(), limiter.acquire())

    assert time.monotonic() - started >= 0.3


async def test_cancelled_waiter_does_not_block_the_queue() -> None:
    limiter = TokenBucketLimiter(5.0)
    await limiter.acquire()
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    await asyncio.wait_for(limiter.acquire(), 1.0)


def test_protocols_and_validation() -> None:
    limiter = TokenBucketLimiter(3.0)
    assert isinstance(limiter, RateLimiter)
    assert isinstance(limiter, PausableRateLimiter)
    with pytest.raises(ValueError, match="rate"):
        TokenBucketLimiter(0)
    with pytest.raises(ValueError, match="burst"):
        TokenBucketLimiter(1.0, burst=0)
