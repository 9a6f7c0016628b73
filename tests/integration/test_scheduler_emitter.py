"""The tick emitter against real PostgreSQL and RabbitMQ: when it wakes, what it publishes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest

from notion_batch.common.config import BrokerSettings
from notion_batch.common.db.batches import BatchRepository, NewBatch
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.messages import Tick, decode
from notion_batch.scheduler.emitter import MIN_SLEEP_SECONDS, TickEmitter

#: Far longer than the test: a tick on time cannot be the poll's doing.
POLL_SECONDS = 30.0


@pytest.fixture
async def broker(amqp_url: str, amqp_namespace: str) -> AsyncIterator[Broker]:
    broker = Broker(BrokerSettings(amqp_url, amqp_namespace), service="test")
    await broker.start()
    try:
        yield broker
    finally:
        await broker.close()


async def arrivals(amqp_url: str, broker: Broker) -> tuple[aio_pika.abc.AbstractConnection, list]:
    received: list[tuple[float, Tick]] = []
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    queue = await channel.get_queue(broker.topology.ticks_queue)

    async def arrived(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        tick = decode(message.type, message.body)
        assert isinstance(tick, Tick)
        received.append((time.monotonic(), tick))

    await queue.consume(arrived, no_ack=True)
    return connection, received


async def test_the_loop_wakes_when_the_next_tick_is_due_not_at_the_poll(
    pool: asyncpg.Pool, broker: Broker, amqp_url: str
) -> None:
    batches = BatchRepository(pool)
    started = await batches.start(
        NewBatch(str(uuid.uuid4()), interval_seconds=1, duration_seconds=60, message="running")
    )
    assert started is not None
    emitter = TickEmitter(batches, broker, poll_seconds=POLL_SECONDS, claim_batch_size=500)
    connection, received = await arrivals(amqp_url, broker)
    t0 = time.monotonic()
    loop = asyncio.create_task(emitter.run())
    try:
        for _ in range(100):
            if len(received) >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await connection.close()
    # The first tick at once, then one a second, each within a few tens of ms of its time.
    assert len(received) >= 3, received
    offsets = [at - t0 for at, _ in received[:3]]
    for n, offset in enumerate(offsets):
        assert n - 0.05 <= offset <= n + 0.9, offsets
    assert [t.coalesced for _, t in received[:3]] == [0, 0, 0]


async def test_nothing_due_means_the_poll_bounds_the_sleep(
    pool: asyncpg.Pool, broker: Broker
) -> None:
    emitter = TickEmitter(BatchRepository(pool), broker, poll_seconds=0.7, claim_batch_size=10)
    assert await emitter._until_next_due() == 0.7
    started = await BatchRepository(pool).start(
        NewBatch(str(uuid.uuid4()), interval_seconds=60, duration_seconds=600, message="running")
    )
    assert started is not None
    # Due now (a start): the shortest sleep, never a spin.
    assert await emitter._until_next_due() == MIN_SLEEP_SECONDS
    await pool.execute("UPDATE notion_batch_status SET next_tick_at = now() + interval '0.3 s'")
    assert 0.2 <= await emitter._until_next_due() <= 0.3
