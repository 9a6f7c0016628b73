"""The one AMQP connection of a service: robust, confirmed, persistent, named.

What aio-pika leaves to us (see FACTS.md) is settled here once: messages are persistent,
publishes wait for the broker's confirm and raise on an unroutable message, queues are
declared on a channel that lives as long as the service (so the robust connection restores
them and their consumers after a broker restart), and aio-pika/aiormq errors become
:class:`BrokerUnavailable`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.connection import make_url

from notion_batch.common.config import BrokerSettings
from notion_batch.common.errors import BrokerUnavailable
from notion_batch.common.messaging.fast_publish import BatchPublisher
from notion_batch.common.messaging.messages import BatchMessage
from notion_batch.common.messaging.topology import Topology

log = structlog.get_logger(__name__)

MessageCallback = Callable[[AbstractIncomingMessage], Awaitable[None]]

#: How long a publish waits for a connection being re-established before giving up.
CONNECT_WAIT_SECONDS = 1.0
#: Longest a close waits for aio-pika's close-callback tasks to finish.
CLOSE_CALLBACKS_WAIT_SECONDS = 1.0

_AMQP_ERRORS: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPException,
    aiormq.exceptions.AMQPError,
    ConnectionError,
    OSError,
    RuntimeError,  # aio-pika raises it for a channel or connection being closed or reopened
    asyncio.TimeoutError,
)


class Broker:
    """A service's connection to RabbitMQ, with our topology declared on it."""

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        service: str,
        prefetch_count: int = 0,
        publish_timeout: float = 5.0,
        fast_publish: bool = True,
    ) -> None:
        """``fast_publish=False`` publishes through aio-pika's public path only (see
        :mod:`.fast_publish`; tests of that path)."""
        self.topology = Topology(settings.namespace)
        self._settings = settings
        self._service = service
        self._publisher = BatchPublisher(app_id=f"notion-batch-{service}", fast=fast_publish)
        self._prefetch_count = prefetch_count
        self._publish_timeout = publish_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._queues: dict[str, AbstractQueue] = {}
        self._consumers: dict[str, str] = {}
        self._ready = asyncio.Event()
        self._connect_task: asyncio.Task[None] | None = None

    async def start(self, *, wait: bool = True) -> None:
        """Connect and declare the topology; with ``wait=False`` keep trying in the background.

        Either way the connection then reconnects by itself for as long as the service runs.
        """
        self._connect_task = asyncio.create_task(self._connect_forever(), name="amqp-connect")
        if wait:
            await self._ready.wait()

    async def _connect_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._connect()
            except _AMQP_ERRORS as exc:
                log.warning("broker_connect_failed", error=str(exc), retry_in_s=delay)
                await self._close_connection()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                self._ready.set()
                log.info("broker_connected", namespace=self.topology.namespace)
                return

    async def _connect(self) -> None:
        # What connect_robust does, with the connection held before it connects: a close
        # meanwhile (a shutdown, a short test) then closes it too, instead of leaving its
        # callbacks to fire after the event loop is gone.
        connection = aio_pika.RobustConnection(
            make_url(self._settings.url, reconnect_interval=1),
            client_properties={"connection_name": f"notion-batch-{self._service}"},
            reconnect_interval=1,
        )
        self._connection = connection
        await connection.connect(timeout=10)
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        assert isinstance(channel, AbstractRobustChannel)
        if self._prefetch_count:
            await channel.set_qos(prefetch_count=self._prefetch_count)
        topo = self.topology
        self._exchange = await channel.declare_exchange(
            topo.exchange, aio_pika.ExchangeType.DIRECT, durable=True
        )
        dead = await channel.declare_exchange(
            topo.dead_exchange, aio_pika.ExchangeType.FANOUT, durable=True
        )
        dead_queue = await channel.declare_queue(
            topo.dead_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead_queue.bind(dead)
        self._queues = {topo.dead_queue: dead_queue}
        for name, keys in topo.bindings().items():
            queue = await channel.declare_queue(
                name, durable=True, arguments=topo.work_queue_arguments()
            )
            for key in keys:
                await queue.bind(self._exchange, routing_key=key)
            self._queues[name] = queue
        self._channel = channel

    @property
    def is_connected(self) -> bool:
        connection = self._connection
        return (
            self._ready.is_set()
            and connection is not None
            and not connection.is_closed
            and connection.connected.is_set()
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def publish(self, message: BatchMessage) -> None:
        """Publish persistently and wait for the broker's confirm.

        Raises :class:`BrokerUnavailable` if the broker is unreachable or does not confirm in
        time — the caller's transaction then rolls back and nothing is half-done.
        """
        await self.publish_many([message])

    async def publish_many(self, messages: list[BatchMessage]) -> None:
        """Publish a batch with pipelined confirms: all are sent, then all confirms awaited.

        Raises :class:`BrokerUnavailable` unless the broker confirmed every message.
        """
        if not messages:
            return
        try:
            # A reconnect in progress gets a moment; a broker that is away fails fast, so an
            # API request answers 503 at once instead of hanging.
            async with asyncio.timeout(CONNECT_WAIT_SECONDS):
                await self._ready.wait()
                connection = self._connection
                assert connection is not None
                await connection.connected.wait()
                channel, exchange = self._channel, self._exchange
                assert channel is not None
                assert exchange is not None
                if channel.is_closed:
                    raise aiormq.exceptions.ChannelInvalidStateError(f"{channel!r} closed")
                underlay = await channel.get_underlay_channel()
            async with asyncio.timeout(self._publish_timeout):
                await self._publisher.publish(underlay, exchange, messages)
        except _AMQP_ERRORS as exc:
            raise BrokerUnavailable(
                f"message broker unavailable: {type(exc).__name__}: {exc}".rstrip(": ")
            ) from exc

    async def consume(self, queue_name: str, callback: MessageCallback) -> None:
        """Attach a consumer (manual acks) that the robust channel restores after reconnects."""
        await self._ready.wait()
        queue = self._queues[queue_name]
        self._consumers[queue_name] = await queue.consume(callback, no_ack=False)

    async def stop_consuming(self) -> None:
        """Stop taking new deliveries; unacked ones stay with us until acked or the close."""
        for queue_name, tag in list(self._consumers.items()):
            try:
                await self._queues[queue_name].cancel(tag)
            except _AMQP_ERRORS as exc:
                log.warning("broker_cancel_failed", queue=queue_name, error=str(exc))
        self._consumers.clear()

    async def queue_depths(self) -> dict[str, int]:
        """Messages ready in each of our queues (short names: ticks, commands, dead)."""
        connection = self._connection
        if not self.is_connected or connection is None:
            raise BrokerUnavailable("message broker unavailable: not connected")
        depths: dict[str, int] = {}
        try:
            # A channel of its own: a failed passive declare closes its channel, and that must
            # never be the one our consumers live on.
            async with connection.channel(publisher_confirms=False) as channel:
                for name in self._queues:
                    declared = await channel.declare_queue(name, passive=True)
                    count = declared.declaration_result.message_count
                    depths[name.removeprefix(f"{self.topology.namespace}.")] = count or 0
        except _AMQP_ERRORS as exc:
            raise BrokerUnavailable(f"message broker unavailable: {exc}") from exc
        return depths

    def has_consumers(self) -> bool:
        return bool(self._consumers) and self.is_connected

    async def close(self) -> None:
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
            await asyncio.gather(self._connect_task, return_exceptions=True)
        await self._close_connection()

    async def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        channel, self._channel = self._channel, None
        try:
            if channel is not None and not channel.is_closed:
                await channel.close()
            if connection is not None:
                await connection.close()
        except _AMQP_ERRORS as exc:
            log.warning("broker_close_failed", error=str(exc))
        # aio-pika runs each close callback (channel, connection) in a task of its own; let
        # those finish now, or one may still be pending when the event loop closes (a few
        # loop turns were not always enough on a busy machine). Bounded: a stuck one is left.
        for _ in range(3):
            await asyncio.sleep(0)
        callbacks = [
            task
            for task in asyncio.all_tasks()
            if "OneShotCallback" in getattr(task.get_coro(), "__qualname__", "")
        ]
        if callbacks:
            await asyncio.wait(callbacks, timeout=CLOSE_CALLBACKS_WAIT_SECONDS)
