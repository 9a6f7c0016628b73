"""The start command wakes the scheduler even when it arrives before the start is committed.

The API publishes ``batch.start`` inside the start's transaction (a failed publish rolls the
start back), so the scheduler may look before the row is visible: it looks again shortly
after, and the first tick still leaves at once instead of at the next poll.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from notion_batch.common.db.batches import BatchRepository, NewBatch, insert_batch
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.messages import StartBatch
from notion_batch.scheduler.commands import CommandConsumer
from notion_batch.scheduler.emitter import TickEmitter
from tests.integration.test_scheduler_emitter import POLL_SECONDS, arrivals, broker

__all__ = ["broker"]  # the fixture, shared with the emitter's tests


async def test_a_start_command_ahead_of_its_commit_still_ticks_at_once(
    pool: asyncpg.Pool, broker: Broker, amqp_url: str
) -> None:
    emitter = TickEmitter(
        BatchRepository(pool), broker, poll_seconds=POLL_SECONDS, claim_batch_size=500
    )
    await broker.consume(broker.topology.commands_queue, CommandConsumer(emitter).on_message)
    connection, received = await arrivals(amqp_url, broker)
    loop = asyncio.create_task(emitter.run())
    page = str(uuid.uuid4())
    try:
        await asyncio.sleep(0.2)  # the first round found nothing due: asleep for the poll
        async with pool.acquire() as conn, conn.transaction():
            started = await insert_batch(
                conn, NewBatch(page, interval_seconds=600, duration_seconds=900, message="x")
            )
            assert started is not None
            await broker.publish(StartBatch(page, started.run_id))
            # The command is consumed, and the emitter looks, before this commit.
            await asyncio.sleep(0.05)
        for _ in range(60):
            if received:
                break
            await asyncio.sleep(0.05)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await connection.close()
    # Far sooner than the 30-second poll: the command's second look found the committed start.
    assert [t.notion_page_id for _, t in received] == [page]
