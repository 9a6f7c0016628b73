"""The Broker against a real RabbitMQ: topology, persistence, confirms, outages.

Every test runs on both publish paths (:mod:`notion_batch.common.messaging.fast_publish`):
the fast one through aiormq's internals and aio-pika's public ``exchange.publish``.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
import structlog

from notion_batch.common.config import BrokerSettings
from notion_batch.common.errors import BrokerUnavailable
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.fast_publish import (
    BatchPublisher,
    _channel_refusal,
    fast_path_refusal,
)
from notion_batch.common.messaging.messages import StartBatch, Tick, decode
from notion_batch.common.messaging.topology import DELIVERY_LIMIT, Topology
from tests.support.tcp_proxy import TcpProxy

PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


@pytest.fixture(params=[True, False], ids=["fast", "public"])
def fast_publish(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def _broker(amqp_url: str, amqp_namespace: str, fast_publish: bool) -> Broker:
    return Broker(
        BrokerSettings(amqp_url, amqp_namespace), service="test", fast_publish=fast_publish
    )


async def test_ticks_are_persistent_with_deterministic_ids(
    amqp_url: str, amqp_namespace: str, fast_publish: bool
) -> None:
    broker = _broker(amqp_url, amqp_namespace, fast_publish)
    await broker.start()
    try:
        tick = Tick(PAGE, 3, "2026-01-01T10:00:00+00:00")
        await broker.publish_many([tick, StartBatch(PAGE, 3)])
    finally:
        await broker.close()
    topology = Topology(amqp_namespace)
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        ticks = await channel.get_queue(topology.ticks_queue)
        message = await ticks.get(timeout=5)
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.message_id == tick.tick_id
        assert (message.type, message.content_type, message.app_id) == (
            "tick",
            "application/json",
            "notion-batch-test",
        )
        assert decode(message.type, message.body) == tick
        await message.ack()
        commands = await channel.get_queue(topology.commands_queue)
        command = await commands.get(timeout=5)
        assert isinstance(decode(command.type, command.body), StartBatch)
        await command.ack()


async def test_an_unroutable_message_raises(
    amqp_url: str, amqp_namespace: str, fast_publish: bool
) -> None:
    broker = _broker(amqp_url, amqp_namespace, fast_publish)
    await broker.start()
    try:
        async with await aio_pika.connect(amqp_url) as connection:
            channel = await connection.channel()
            await channel.queue_delete(Topology(amqp_namespace).ticks_queue)  # nothing bound
        with pytest.raises(BrokerUnavailable):
            await broker.publish_many([Tick(PAGE, 1, "2026-01-01T10:00:00+00:00")])
    finally:
        await broker.close()


async def test_a_message_that_keeps_failing_is_dead_lettered(
    amqp_url: str, amqp_namespace: str, fast_publish: bool
) -> None:
    broker = _broker(amqp_url, amqp_namespace, fast_publish)
    await broker.start()
    try:
        await broker.publish(Tick(PAGE, 1, "2026-01-01T10:00:00+00:00"))
    finally:
        await broker.close()
    topology = Topology(amqp_namespace)
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        ticks = await channel.get_queue(topology.ticks_queue)
        for _ in range(DELIVERY_LIMIT + 1):
            message = await ticks.get(timeout=5)
            await message.nack(requeue=True)  # a consumer that crashes on it every time
        dead = await channel.get_queue(topology.dead_queue)
        for _ in range(50):
            if (letter := await dead.get(fail=False)) is not None:
                break
            await asyncio.sleep(0.1)
        assert letter is not None, "the poison tick was not dead-lettered"
        assert letter.message_id is not None and letter.message_id.startswith(PAGE)
        await letter.ack()
        assert await ticks.get(fail=False) is None


async def test_publishing_while_the_broker_is_away_fails_fast_then_recovers(
    amqp_url: str, amqp_namespace: str, fast_publish: bool
) -> None:
    parts = urlsplit(amqp_url)
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672) as proxy:
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
        settings = BrokerSettings(urlunsplit(parts._replace(netloc=netloc)), amqp_namespace)
        broker = Broker(settings, service="test", fast_publish=fast_publish)
        received: list[str] = []

        async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            received.append(message.message_id or "")
            await message.ack()

        await broker.start()
        try:
            await broker.consume(broker.topology.ticks_queue, consume)
            proxy.cut()
            await asyncio.sleep(0.2)
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable):
                await broker.publish(Tick(PAGE, 1, "2026-01-01T10:00:00+00:00"))
            assert time.monotonic() - started < 3, (
                "a publish must not hang while the broker is away"
            )
            assert broker.is_connected is False

            proxy.restore()
            tick = Tick(PAGE, 1, "2026-01-01T10:01:00+00:00")
            for _ in range(100):  # the robust connection comes back by itself
                try:
                    await broker.publish(tick)
                    break
                except BrokerUnavailable:
                    await asyncio.sleep(0.2)
            for _ in range(100):  # and so does the consumer (aio-pika restores it)
                if tick.tick_id in received:
                    break
                await asyncio.sleep(0.1)
            assert tick.tick_id in received
            assert broker.has_consumers()
        finally:
            await broker.close()


async def test_a_batch_is_confirmed_whole(
    amqp_url: str, amqp_namespace: str, fast_publish: bool
) -> None:
    broker = _broker(amqp_url, amqp_namespace, fast_publish)
    await broker.start()
    ticks = [Tick(PAGE, 1, f"2026-01-01T10:{m // 60:02d}:{m % 60:02d}+00:00") for m in range(300)]
    try:
        await broker.publish_many(list(ticks))
        assert (await broker.queue_depths())["ticks"] == len(ticks)
    finally:
        await broker.close()


async def test_the_fast_path_fits_the_installed_aiormq(amqp_url: str) -> None:
    # What would make it fall back in production: a newer aiormq, or a channel opened
    # without what its confirms and returns rely on.
    assert fast_path_refusal() is None
    assert fast_path_refusal("7.3.0") is not None
    async with await aio_pika.connect(amqp_url) as connection:
        fit = await connection.channel(publisher_confirms=True, on_return_raises=True)
        assert _channel_refusal(await fit.get_underlay_channel()) is None
        unfit = await connection.channel(publisher_confirms=True, on_return_raises=False)
        assert "on_return_raises" in (_channel_refusal(await unfit.get_underlay_channel()) or "")


async def test_a_channel_the_probe_refuses_publishes_through_aio_pika(
    amqp_url: str, amqp_namespace: str
) -> None:
    broker = Broker(BrokerSettings(amqp_url, amqp_namespace), service="test")
    await broker.start()  # declares the topology
    await broker.close()
    publisher = BatchPublisher(app_id="notion-batch-test")
    assert publisher.fast
    tick = Tick(PAGE, 1, "2026-01-01T10:00:00+00:00")
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=False)
        exchange = await channel.get_exchange(amqp_namespace)
        with structlog.testing.capture_logs() as logs:
            for _ in range(2):
                await publisher.publish(await channel.get_underlay_channel(), exchange, [tick])
        (refused,) = [e for e in logs if e["event"] == "fast_publish_unavailable"]
        assert "on_return_raises" in refused["reason"]
        ticks = await channel.get_queue(Topology(amqp_namespace).ticks_queue)
        for _ in range(2):
            message = await ticks.get(timeout=5)
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            assert (message.message_id, message.type) == (tick.message_id, "tick")
            await message.ack()
