"""The tick emitter against real PostgreSQL and RabbitMQ: when it wakes, what it publishes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest
import structlog

from notion_batch.common.config import BrokerSettings, DatabaseSettings
from notion_batch.common.db.batches import BatchRepository, NewBatch
from notion_batch.common.db.pool import create_pool
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.messages import Tick, decode
from notion_batch.scheduler.emitter import MIN_SLEEP_SECONDS, TickEmitter
from tests.support.tcp_proxy import TcpProxy

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
    # The schedule is the start's: tick n falls due n intervals after it, however long the
    # consumer below takes to connect (on a busy machine, a third of a second).
    t0 = time.monotonic()
    started = await batches.start(
        NewBatch(str(uuid.uuid4()), interval_seconds=1, duration_seconds=60, message="running")
    )
    assert started is not None
    emitter = TickEmitter(batches, broker, poll_seconds=POLL_SECONDS, claim_batch_size=500)
    connection, received = await arrivals(amqp_url, broker)
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
    # The first tick once the emitter runs, then one a second after the start, each within a
    # few tens of ms of its time.
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


async def _until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_round_that_raises_something_unforeseen_is_logged_and_the_loop_goes_on(
    pool: asyncpg.Pool, broker: Broker, amqp_url: str
) -> None:
    # Not an outage: a statement the database refuses (here, a column gone) — the kind of
    # error that used to end the emitter's task silently, and every batch's ticking with it.
    batches = BatchRepository(pool)
    await batches.start(
        NewBatch(str(uuid.uuid4()), interval_seconds=1, duration_seconds=60, message="running")
    )
    await pool.execute("ALTER TABLE notion_batch_runs RENAME COLUMN ticks TO ticks_gone")
    emitter = TickEmitter(batches, broker, poll_seconds=0.2, claim_batch_size=10)
    connection, received = await arrivals(amqp_url, broker)
    with structlog.testing.capture_logs() as logs:
        loop = asyncio.create_task(emitter.run())
        try:
            await _until(
                lambda: sum(e["event"] == "scheduler_round_crashed" for e in logs) >= 2,
                timeout=10,
                what="the failing rounds to be logged",
            )
            assert not received and not loop.done()
            await pool.execute("ALTER TABLE notion_batch_runs RENAME COLUMN ticks_gone TO ticks")
            await _until(lambda: bool(received), timeout=15, what="a tick once the error is gone")
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
            await connection.close()
    crashed = next(e for e in logs if e["event"] == "scheduler_round_crashed")
    assert crashed["error"].startswith("UndefinedColumnError"), crashed
    assert crashed["log_level"] == "error" and crashed["exc_info"]
    assert emitter.stuck() is None


async def test_a_database_that_stops_answering_cuts_the_step_and_the_loop_goes_on(
    database_url: str, broker: Broker, amqp_url: str
) -> None:
    # A black hole, not a reset: the socket stays open and no answer ever comes, so without
    # a deadline a step would wait for the 30 s command timeout and then, possibly forever,
    # in asyncpg's release of the connection (MagicStack/asyncpg#431).
    parts = urlsplit(database_url)
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        pool = await create_pool(DatabaseSettings(proxied, pool_min_size=1, pool_max_size=4))
        try:
            batches = BatchRepository(pool)
            await batches.start(
                NewBatch(str(uuid.uuid4()), interval_seconds=1, duration_seconds=60, message="r")
            )
            emitter = TickEmitter(
                batches, broker, poll_seconds=0.2, claim_batch_size=10, step_timeout=1.0
            )
            connection, received = await arrivals(amqp_url, broker)
            with structlog.testing.capture_logs() as logs:
                loop = asyncio.create_task(emitter.run())
                try:
                    await _until(lambda: bool(received), timeout=10, what="the first tick")
                    proxy.freeze()
                    await _until(
                        lambda: any(e["event"] == "scheduler_round_timed_out" for e in logs),
                        timeout=15,
                        what=f"a step to be cut at its deadline: {[e['event'] for e in logs]}",
                    )
                    seen = len(received)
                    proxy.restore()
                    await _until(
                        lambda: len(received) > seen, timeout=20, what="a tick after the freeze"
                    )
                    assert not loop.done()
                finally:
                    loop.cancel()
                    await asyncio.gather(loop, return_exceptions=True)
                    await connection.close()
        finally:
            pool.terminate()
