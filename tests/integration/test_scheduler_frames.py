"""The scheduler's hand-built AMQP frames (``fast_publish.content_frames``) are pamqp's, byte
for byte, for the ticks it publishes — and a broker takes them: properties, body and id
arrive as written (tests/integration/test_broker.py runs the rest on both paths)."""

from __future__ import annotations

import uuid

import aio_pika
from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from notion_batch.common.config import BrokerSettings
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.messaging.fast_publish import PERSISTENT, content_frames
from notion_batch.common.messaging.messages import Tick, decode, encode


def _pamqp(channel: int, body: bytes, message_id: str, kind: str, app_id: str) -> bytes:
    header = ContentHeader(
        properties=commands.Basic.Properties(
            content_type="application/json",
            delivery_mode=PERSISTENT,
            message_id=message_id,
            message_type=kind,
            app_id=app_id,
        ),
        body_size=len(body),
    )
    return frame.marshal(header, channel) + frame.marshal(ContentBody(body), channel)


def test_content_frames_are_pamqps_for_ticks() -> None:
    for channel, coalesced, record_only in ((1, 0, False), (7, 3, True), (65_535, 0, False)):
        tick = Tick(
            str(uuid.uuid4()),
            12_345_678,
            "2026-12-04T19:19:11.123456+00:00",
            coalesced=coalesced,
            record_only=record_only,
        )
        body = encode(tick)
        ours = content_frames(
            channel, body, message_id=tick.message_id, message_type=tick.kind, app_id="scheduler"
        )
        assert ours == _pamqp(channel, body, tick.message_id, tick.kind, "scheduler")


async def test_a_broker_delivers_ticks_as_published(amqp_url: str, amqp_namespace: str) -> None:
    broker = Broker(BrokerSettings(amqp_url, amqp_namespace), service="scheduler")
    await broker.start()
    try:
        ticks = [
            Tick(str(uuid.uuid4()), n + 1, f"2026-12-04T19:19:{n:02}.500000+00:00", coalesced=n)
            for n in range(50)
        ]
        await broker.publish_many(list(ticks))
        async with await aio_pika.connect(amqp_url) as connection:
            channel = await connection.channel()
            queue = await channel.get_queue(broker.topology.ticks_queue)
            for tick in ticks:
                message = await queue.get(timeout=10)
                assert message is not None
                await message.ack()
                assert message.message_id == tick.message_id
                assert message.type == "tick"
                assert message.content_type == "application/json"
                assert message.app_id == "notion-batch-scheduler"
                assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
                assert decode(message.type, message.body) == tick
    finally:
        await broker.close()
