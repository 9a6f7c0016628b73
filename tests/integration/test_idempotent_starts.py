"""IdempotentStarts against a real PostgreSQL database: what a claim finds, and that the
claim, the start and the kept answer commit or roll back together."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager

import asyncpg
import pytest

from notion_batch.common.db.batches import BatchRepository, NewBatch
from notion_batch.common.db.starts import ClaimedStart, IdempotentStarts
from notion_batch.common.errors import BrokerUnavailable, IdempotencyKeyReused


def batch(page: str) -> NewBatch:
    return NewBatch(page, interval_seconds=60, duration_seconds=900, message="running")


def claim(
    starts: IdempotentStarts, page: str, key: str, request_hash: str = "h1"
) -> AbstractAsyncContextManager[ClaimedStart]:
    return starts.claim(
        client="a", key=key, request_hash=request_hash, ttl_seconds=3600, batch=batch(page)
    )


async def runs(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM notion_batch_runs"))


async def test_a_new_key_starts_and_its_retry_replays_the_kept_answer(pool: asyncpg.Pool) -> None:
    starts, page, key = IdempotentStarts(pool), str(uuid.uuid4()), str(uuid.uuid4())
    async with claim(starts, page, key) as first:
        assert first.started is not None and first.replayed is None
        kept = await first.keep(200, '{"first": true}')
    async with claim(starts, page, key) as again:
        assert again.started is None
        assert again.replayed == kept
    assert await runs(pool) == 1


async def test_a_new_key_on_a_running_page_is_a_conflict_kept_too(pool: asyncpg.Pool) -> None:
    starts, page, key = IdempotentStarts(pool), str(uuid.uuid4()), str(uuid.uuid4())
    assert await BatchRepository(pool).start(batch(page)) is not None
    async with claim(starts, page, key) as first:
        assert first.started is None and first.replayed is None
        await first.keep(409, '{"success": false}')
    async with claim(starts, page, key) as again:
        assert again.replayed is not None and again.replayed.status == 409


async def publish_fails(starts: IdempotentStarts, page: str, key: str) -> None:
    async with claim(starts, page, key) as first:
        assert first.started is not None
        raise BrokerUnavailable("broker down")


async def test_a_failed_publish_in_the_block_leaves_no_trace(pool: asyncpg.Pool) -> None:
    starts, page, key = IdempotentStarts(pool), str(uuid.uuid4()), str(uuid.uuid4())
    with pytest.raises(BrokerUnavailable):
        await publish_fails(starts, page, key)
    assert await runs(pool) == 0
    assert await pool.fetchval("SELECT count(*) FROM api_idempotency_keys") == 0
    # The retry runs for real.
    async with claim(starts, page, key) as retry:
        assert retry.started is not None and retry.replayed is None
        await retry.keep(200, "{}")
    assert await runs(pool) == 1


async def test_a_claim_that_keeps_no_answer_rolls_back(pool: asyncpg.Pool) -> None:
    starts, page, key = IdempotentStarts(pool), str(uuid.uuid4()), str(uuid.uuid4())
    found: list[ClaimedStart] = []
    with pytest.raises(RuntimeError, match="keep its answer"):
        async with claim(starts, page, key) as first:
            found.append(first)
    assert found[0].started is not None
    assert await runs(pool) == 0


async def test_the_key_with_another_request_is_refused(pool: asyncpg.Pool) -> None:
    starts, page, key = IdempotentStarts(pool), str(uuid.uuid4()), str(uuid.uuid4())
    async with claim(starts, page, key) as first:
        await first.keep(200, "{}")
    with pytest.raises(IdempotencyKeyReused):
        async with claim(starts, page, key, request_hash="h2"):
            pytest.fail("a reused key must not enter the block")
