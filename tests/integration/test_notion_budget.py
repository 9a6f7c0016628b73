"""The fleet-wide Notion rate limit, against a real PostgreSQL."""

import asyncio
import itertools
import time

import asyncpg

from notion_batch.common.config import DatabaseSettings
from notion_batch.common.db.notion_budget import SharedRateLimiter, integration_key
from notion_batch.common.db.pool import pool_context

TOKEN = "secret_rate0123456789"


async def test_many_limiters_of_one_integration_share_one_rate(pool: asyncpg.Pool) -> None:
    # Four "workers", each with its own limiter object, as separate processes would have.
    limiters = [SharedRateLimiter(pool, token=TOKEN, rate_per_second=20) for _ in range(4)]
    stamps: list[float] = []

    async def send(limiter: SharedRateLimiter) -> None:
        for _ in range(10):
            await limiter.acquire()
            stamps.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(send(lim) for lim in limiters))
    elapsed = time.monotonic() - started
    # 40 requests at 20/s with a burst of 1: the 40th may leave ~1.95 s after the first.
    assert elapsed >= 1.9, f"{len(stamps)} requests in {elapsed:.2f}s exceed the shared rate"
    stamps.sort()
    # Spaced out (1/20 s), never a burst from several workers at once: the i-th request never
    # leaves before its slot, i/20 s on. Two sharing a slot would make every later one a whole
    # slot early; an event loop waking late (a busy machine) only makes one late, which the
    # gap between wake-ups could not tell from a burst.
    early = [
        (i, round(t - started, 3)) for i, t in enumerate(stamps) if t - started < (i - 0.5) / 20
    ]
    assert not early, f"requests left before their slot: {early}"


async def test_integrations_do_not_share_a_bucket(pool: asyncpg.Pool) -> None:
    a = SharedRateLimiter(pool, token="secret_aaaaaaaaaaaa", rate_per_second=5)
    b = SharedRateLimiter(pool, token="secret_bbbbbbbbbbbb", rate_per_second=5)
    started = time.monotonic()
    await asyncio.gather(a.acquire(), b.acquire())
    assert time.monotonic() - started < 0.15  # each took its own first token at once
    keys = {
        r["integration"] for r in await pool.fetch("SELECT integration FROM notion_rate_limits")
    }
    assert keys == {integration_key("secret_aaaaaaaaaaaa"), integration_key("secret_bbbbbbbbbbbb")}
    assert not any("secret" in key for key in keys)  # the token itself is never stored


async def test_a_429_pauses_every_worker(pool: asyncpg.Pool) -> None:
    first = SharedRateLimiter(pool, token=TOKEN, rate_per_second=100)
    other = SharedRateLimiter(pool, token=TOKEN, rate_per_second=100)
    await first.acquire()
    first.penalize(0.5)
    await asyncio.sleep(0.05)  # the pause is written in the background
    started = time.monotonic()
    await other.acquire()
    assert time.monotonic() - started >= 0.4


async def test_at_a_high_rate_slots_are_reserved_ahead_without_exceeding_it(
    database_url: str,
) -> None:
    # 1,000/s: a statement reserves the next 10 ms of slots (10); two "workers" share the rate.
    settings = DatabaseSettings(database_url, pool_min_size=1, pool_max_size=1)
    async with pool_context(settings) as pool:
        statements: list[str] = []
        async with pool.acquire() as conn:  # the pool's one connection: every statement
            conn.add_query_logger(lambda record: statements.append(record.query))
        limiters = [SharedRateLimiter(pool, token=TOKEN, rate_per_second=1000) for _ in range(2)]
        stamps: list[float] = []

        async def send(limiter: SharedRateLimiter) -> None:
            for _ in range(200):
                await limiter.acquire()
                stamps.append(time.monotonic())

        started = time.monotonic()
        await asyncio.gather(*(send(lim) for lim in limiters))
        elapsed = time.monotonic() - started
    # 400 requests at 1,000/s with a burst of 1 take at least 0.399 s, however reserved.
    assert elapsed >= 0.39, f"400 requests in {elapsed:.3f}s exceed the shared rate"
    stamps.sort()
    # No 50 of them faster than the rate allows. The stamps are taken when each sleeper wakes,
    # and a busy machine wakes one late now and then: that can only shorten a gap, by the
    # wake-up delay, so the bound allows 5 ms of it.
    for first, last in itertools.pairwise(stamps[::50]):
        assert last - first >= 0.045
    # About ten slots a statement, never one per request; reservations that lapse on a busy
    # machine (their slots passed before use) cost a statement more each.
    assert 40 <= len(statements) <= 100
