"""Publishing a batch of messages, fast through aiormq's internals when they are as we know them.

Why a fast path at all: aio-pika's ``exchange.publish`` costs, per message, a lock, a write to
the socket and a task; at a claim of ticks per round that was three quarters of the
scheduler's CPU per tick. The fast path does what aiormq's ``Channel.basic_publish`` does for
one message, for the whole batch, and writes every frame at once. It writes into aiormq's
channel state (delivery tags, confirmation futures, the returned-message map, the write
queue), which is private, so it is fenced here and only here:

- :func:`fast_path_refusal` checks, once per process, the aiormq version it was written
  against (7.2, pinned in constraints.txt), the classes' shape it uses, and that the frames it
  builds by hand (:func:`content_frames`) are pamqp's to the byte;
- :meth:`BatchPublisher.publish` checks each new underlying channel's attributes once, and
  that it was opened with publisher confirms and ``on_return_raises`` (what the fast path's
  confirms and returns rely on).

If anything differs the publisher logs ``fast_publish_unavailable`` once and falls back to
aio-pika's public ``exchange.publish``, one message after another (pipelined: all sent, then
all confirms awaited). Both paths publish the same way: persistent, ``mandatory`` (so an
unroutable message fails its publish: the channel has ``on_return_raises``), the message's
deterministic id, each confirm awaited. tests/integration/test_broker.py runs on both paths.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import inspect
import struct
from collections.abc import MutableMapping, Sequence
from functools import cache, partial
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractExchange
from aiormq import spec
from aiormq.abc import ChannelFrame
from pamqp import frame as pamqp_frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from notion_batch.common.messaging.messages import BatchMessage, encode

log = structlog.get_logger(__name__)

#: The aiormq release (major.minor) whose channel internals the fast path is written against.
AIORMQ_SERIES = "7.2"
#: AMQP delivery mode 2: the broker writes the message to disk (aio-pika's default is 1).
PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)
_CONTENT_TYPE = "application/json"

# A message's frames, written here rather than by pamqp (AMQP 0-9-1, sections 2.3.5 and
# 4.2.6): pamqp builds each frame through generic, per-field Python, which was half of the
# scheduler's CPU per tick; a tick's frames differ only in message id, type and body, so the
# method frame is built once (by pamqp) and the header by one struct.pack. fast_path_refusal
# checks once per process that these bytes are pamqp's to the byte.
_FRAME_HEADER = 2
_FRAME_BODY = 3
_FRAME_END = b"\xce"
_BASIC_CLASS = 60
#: Property flags (0-9-1 §4.2.6.1, bit 15 first): content-type, delivery-mode, message-id,
#: type, app-id — the properties both paths set.
_PROPERTY_FLAGS = 0x8000 | 0x1000 | 0x0080 | 0x0020 | 0x0008
_FRAME_START = struct.Struct(">BHI")
_HEADER_START = struct.Struct(">HHQH")


def _shortstr(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:
        raise ValueError(f"{value[:40]!r}… is longer than an AMQP short string")
    return bytes((len(raw),)) + raw


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return _FRAME_START.pack(kind, channel, len(payload)) + payload + _FRAME_END


def content_frames(
    channel: int, body: bytes, *, message_id: str, message_type: str, app_id: str
) -> bytes:
    """The content header and body frames of one persistent JSON message (a body of at most
    one frame: the caller checks its size)."""
    properties = (
        _shortstr(_CONTENT_TYPE)
        + bytes((PERSISTENT,))
        + _shortstr(message_id)
        + _shortstr(message_type)
        + _shortstr(app_id)
    )
    header = _HEADER_START.pack(_BASIC_CLASS, 0, len(body), _PROPERTY_FLAGS) + properties
    return _frame(_FRAME_HEADER, channel, header) + _frame(_FRAME_BODY, channel, body)


@cache
def publish_frame(channel: int, exchange: str, routing_key: str) -> bytes:
    """The ``Basic.Publish`` method frame (``mandatory``) for one exchange and routing key."""
    method = spec.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True)
    return pamqp_frame.marshal(method, channel)


def _frames_refusal() -> str | None:
    """Why the hand-built frames would not be pamqp's, or ``None`` if they are."""
    sample = {"message_id": "page:1:1700000000000", "message_type": "tick", "app_id": "x"}
    body = b'{"v":1}'
    theirs = pamqp_frame.marshal(
        ContentHeader(
            properties=spec.Basic.Properties(
                content_type=_CONTENT_TYPE,
                delivery_mode=PERSISTENT,
                message_id=sample["message_id"],
                message_type=sample["message_type"],
                app_id=sample["app_id"],
            ),
            body_size=len(body),
        ),
        7,
    ) + pamqp_frame.marshal(ContentBody(body), 7)
    if content_frames(7, body, **sample) != theirs:
        return "the hand-built content frames differ from pamqp's"
    return None


@cache
def fast_path_refusal(aiormq_version: str | None = None) -> str | None:
    """Why the fast path may not be used with the installed aiormq, or ``None`` if it may.

    ``aiormq_version`` stands in for the installed one (tests).
    """
    version = aiormq_version or importlib.metadata.version("aiormq")
    if version != AIORMQ_SERIES and not version.startswith(f"{AIORMQ_SERIES}."):
        return f"aiormq {version} is not the {AIORMQ_SERIES} the fast path is written against"
    lock = inspect.getattr_static(aiormq.Channel, "lock", None)
    if not isinstance(lock, property) or not callable(
        getattr(aiormq.Channel, "create_future", None)
    ):
        return "aiormq.Channel has no lock property or create_future"
    if not dataclasses.is_dataclass(ChannelFrame) or {
        f.name for f in dataclasses.fields(ChannelFrame)
    } != {"payload", "should_close", "drain_future"}:
        return "aiormq.abc.ChannelFrame has other fields than payload, should_close, drain_future"
    return _frames_refusal()


def _channel_refusal(channel: object) -> str | None:
    """Why this underlying channel does not have the state the fast path writes into."""
    if not isinstance(channel, aiormq.Channel):
        return f"the underlying channel is a {type(channel).__name__}"
    shape: dict[str, type | tuple[type, ...]] = {
        "delivery_tag": int,
        "number": int,
        "max_content_size": int,
        "confirmations": MutableMapping,
        "message_id_delivery_tag": dict,
        "write_queue": asyncio.Queue,
    }
    for name, kind in shape.items():
        if not isinstance(getattr(channel, name, None), kind):
            return f"aiormq.Channel.{name} is not a {getattr(kind, '__name__', kind)}"
    if not (channel.publisher_confirms and channel.on_return_raises):
        return "the channel lacks publisher confirms or on_return_raises"
    return None


def _forget_message_id(
    channel: aiormq.Channel, message_id: str, tag: int, _: asyncio.Future[Any]
) -> None:
    if channel.message_id_delivery_tag.get(message_id) == tag:
        channel.message_id_delivery_tag.pop(message_id)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class BatchPublisher:
    """Publishes batches on a broker's channel and waits for their confirms."""

    def __init__(self, *, app_id: str, fast: bool = True) -> None:
        """``fast=False`` always takes aio-pika's public path (tests of that path)."""
        self._app_id = app_id
        self._refusal = fast_path_refusal() if fast else "turned off"
        self._logged = not fast
        #: The last underlying channel checked, and what the check said (one per reconnect).
        self._checked: tuple[object, str | None] | None = None

    @property
    def fast(self) -> bool:
        """Whether the fast path is in use (so far: a channel may still turn it down)."""
        return self._refusal is None

    async def publish(
        self, underlay: object, exchange: AbstractExchange, messages: Sequence[BatchMessage]
    ) -> None:
        """Publish every message on ``exchange`` (whose underlying channel is ``underlay``)
        and wait until the broker confirmed each; raises what aiormq/aio-pika raise if not."""
        refusal = self._refusal or self._check(underlay)
        if refusal is None:
            assert isinstance(underlay, aiormq.Channel)
            # One after another rather than gather(): the confirms come back in order, an
            # await of a settled future is nearly free, and gather adds a callback and its
            # bookkeeping per future. The first failure raises, as gather's would; the
            # others' outcomes are retrieved when they come (as gather does).
            confirmations = await self._send(underlay, exchange.name, messages)
            try:
                for confirmation in confirmations:
                    await confirmation
            except BaseException:
                for confirmation in confirmations:
                    confirmation.add_done_callback(_retrieve)
                raise
            return
        if not self._logged:
            self._logged = True
            log.warning("fast_publish_unavailable", reason=refusal)
        await self._publish_each(exchange, messages)

    def _check(self, underlay: object) -> str | None:
        if self._checked is None or self._checked[0] is not underlay:
            self._checked = (underlay, _channel_refusal(underlay))
        return self._checked[1]

    async def _publish_each(
        self, exchange: AbstractExchange, messages: Sequence[BatchMessage]
    ) -> None:
        """aio-pika's public path: one ``exchange.publish`` per message, all under way at once
        (the channel's lock keeps them in order); every one ends before a failure is raised."""
        sent = await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        encode(m),
                        content_type=_CONTENT_TYPE,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=m.message_id,
                        type=m.kind,
                        app_id=self._app_id,
                    ),
                    routing_key=m.routing_key,
                    mandatory=True,
                )
                for m in messages
            ),
            return_exceptions=True,
        )
        for result in sent:
            if isinstance(result, BaseException):
                raise result

    async def _send(
        self, channel: aiormq.Channel, exchange: str, messages: Sequence[BatchMessage]
    ) -> list[asyncio.Future[Any]]:
        """Write every message's frames to the socket at once; their confirms, to await.

        What aiormq's ``basic_publish`` does for one message, done for the batch: a delivery
        tag and a confirm future each (futures of the channel, so a closing channel fails
        them), the message id mapped to its tag (so a returned message fails its future:
        the channel has ``on_return_raises``), then one write of all the frames instead of a
        write, a lock and a task per message.
        """
        chunks: list[bytes] = []
        confirmations: list[asyncio.Future[Any]] = []
        async with channel.lock:  # the channel's publish lock: tags in the order written
            first_tag = channel.delivery_tag + 1
            sent = False
            try:
                for m in messages:
                    body = encode(m)
                    if len(body) >= channel.max_content_size:  # ours are a few hundred bytes
                        raise ValueError(f"{m.kind} body of {len(body)} bytes needs splitting")
                    message_id = m.message_id
                    chunks.append(publish_frame(channel.number, exchange, m.routing_key))
                    chunks.append(
                        content_frames(
                            channel.number,
                            body,
                            message_id=message_id,
                            message_type=m.kind,
                            app_id=self._app_id,
                        )
                    )
                    channel.delivery_tag += 1
                    confirmation = channel.create_future()
                    channel.confirmations[channel.delivery_tag] = confirmation
                    channel.message_id_delivery_tag[message_id] = channel.delivery_tag
                    confirmation.add_done_callback(
                        partial(_forget_message_id, channel, message_id, channel.delivery_tag)
                    )
                    confirmations.append(confirmation)
                drain = channel.create_future()
                await channel.write_queue.put(
                    ChannelFrame(payload=b"".join(chunks), should_close=False, drain_future=drain)
                )
                sent = True
                await drain
            except BaseException:
                if not sent:
                    # The broker saw none of them: give the tags back, under the same lock.
                    for tag in range(first_tag, channel.delivery_tag + 1):
                        channel.confirmations.pop(tag, None)
                    channel.delivery_tag = first_tag - 1
                for confirmation in confirmations:
                    confirmation.cancel()
                raise
        return confirmations
