"""Commands from the API, consumed by the scheduler: start, stop, page changed.

The API has already written the new state to PostgreSQL; a start command, and a page changed
in Notion (a webhook event made its tick due now), only wake the emitter so that the tick
leaves at once rather than at the next poll.
"""

from __future__ import annotations

import asyncio

import structlog
from aio_pika.abc import AbstractIncomingMessage

from notion_batch.common.errors import MessageError
from notion_batch.common.messaging.messages import PageChanged, StartBatch, decode
from notion_batch.scheduler.emitter import TickEmitter

log = structlog.get_logger(__name__)

#: The API publishes a start command inside the start's transaction (a failed publish rolls
#: the start back), so the command can arrive just before the commit, when the first look
#: finds nothing due yet: look once more this much later, well before the next poll.
START_REWAKE_SECONDS = 0.1


class CommandConsumer:
    def __init__(self, emitter: TickEmitter) -> None:
        self._emitter = emitter

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            command = decode(message.type, message.body)
        except MessageError as exc:
            log.error("message_rejected", message_id=message.message_id, reason=str(exc))
            await message.reject(requeue=False)  # dead-lettered for a person to look at
            return
        log.info(
            "command_received",
            command=command.kind,
            notion_page_id=command.notion_page_id,
            batch_run_id=command.run_id,
        )
        if isinstance(command, StartBatch | PageChanged):
            self._emitter.wake()
            asyncio.get_running_loop().call_later(START_REWAKE_SECONDS, self._emitter.wake)
        await message.ack()
