"""The Broker against a real RabbitMQ: topology, persistence, confirms, outages."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest

from notion_batch.common.config import BrokerSettings
from notion_batch.common.errors import BrokerUnavailable
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.messages import StartBatch, Tick, decode
from notion_batch.common.messaging.topology import DELIVERY_LIMIT, Topology
from tests.support.tcp_proxy import TcpProxy

PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


async def test_ticks_are_persistent_with_deterministic_ids(
    amqp_url: str, amqp_namespace: str
) -> None:
    broker = Broker(BrokerSettings(amqp_url, amqp_namespace), service="test")
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


async def test_an_unroutable_message_raises(amqp_url: str, amqp_namespace: str) -> None:
    broker = Broker(BrokerSettings(amqp_url, amqp_namespace), service="test")
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
    amqp_url: str, amqp_namespace: str
) -> None:
    broker = Broker(BrokerSettings(amqp_url, amqp_namespace), service="test")
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
    amqp_url: str, amqp_namespace: str
) -> None:
    parts = urlsplit(amqp_url)
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672) as proxy:
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
        settings = BrokerSettings(urlunsplit(parts._replace(netloc=netloc)), amqp_namespace)
        broker = Broker(settings, service="test")
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
