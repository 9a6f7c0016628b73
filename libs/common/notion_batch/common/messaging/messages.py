"""The messages that cross the broker, as versioned types.

Wire format: a JSON object with ``"v"`` (schema version) and the fields below; the AMQP
``type`` property names the message kind. Decoding validates every field, so a malformed
message is refused at the door (and dead-lettered), never half-processed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from notion_batch.common.errors import MessageError
from notion_batch.common.messaging.topology import (
    ROUTING_PAGE_CHANGED,
    ROUTING_START,
    ROUTING_STOP,
    ROUTING_TICK,
)

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class PageCommand:
    """A command from the API about one run of a page's batch.

    The three commands share one shape (page and run); only their kind, routing key and the
    prefix of their deterministic message id tell them apart.
    """

    kind: ClassVar[str]
    routing_key: ClassVar[str]
    id_prefix: ClassVar[str]
    notion_page_id: str
    run_id: int

    @property
    def message_id(self) -> str:
        return f"{self.id_prefix}:{self.notion_page_id}:{self.run_id}"


@dataclass(frozen=True)
class StartBatch(PageCommand):
    """The API started a page's batch; the scheduler emits its first tick at once."""

    kind = "batch.start"
    routing_key = ROUTING_START
    id_prefix = "start"


@dataclass(frozen=True)
class StopBatch(PageCommand):
    """The API stopped a page's batch (the database already says so)."""

    kind = "batch.stop"
    routing_key = ROUTING_STOP
    id_prefix = "stop"


@dataclass(frozen=True)
class PageChanged(PageCommand):
    """A person changed a running page in Notion (a webhook event): the API made its tick due
    now in the database; the scheduler wakes to emit it rather than wait for its next poll."""

    kind = "page.changed"
    routing_key = ROUTING_PAGE_CHANGED
    id_prefix = "changed"


@dataclass(frozen=True)
class Tick:
    """Work the page now: one per running page per interval."""

    kind: ClassVar[str] = "tick"
    routing_key: ClassVar[str] = ROUTING_TICK
    notion_page_id: str
    run_id: int
    #: When this tick was due (ISO 8601, UTC); with page and run it makes the tick's identity.
    scheduled_at: str
    #: Earlier ticks that fell due unemitted and were coalesced into this one.
    coalesced: int = 0
    #: The batch has ended: only record in Notion what is still unrecorded, start nothing.
    record_only: bool = False

    @property
    def tick_id(self) -> str:
        stamp = datetime.fromisoformat(self.scheduled_at)
        suffix = ":record" if self.record_only else ""
        return f"{self.notion_page_id}:{self.run_id}:{int(stamp.timestamp() * 1000)}{suffix}"

    @property
    def message_id(self) -> str:
        # Deterministic, so a re-published tick is recognisably the same tick.
        return self.tick_id


BatchMessage = StartBatch | StopBatch | PageChanged | Tick
_COMMANDS: dict[str, type[StartBatch] | type[StopBatch] | type[PageChanged]] = {
    cls.kind: cls for cls in (StartBatch, StopBatch, PageChanged)
}


_COMPACT = json.JSONEncoder(separators=(",", ":"))


def encode(message: BatchMessage) -> bytes:
    # vars() rather than dataclasses.asdict(): the fields are flat, and asdict's deep copy
    # was most of the cost of a tick's body.
    return _COMPACT.encode({"v": SCHEMA_VERSION, **vars(message)}).encode()


def decode(kind: str | None, body: bytes) -> BatchMessage:
    """Parse a message body of the given kind; raises :class:`MessageError` if it is not one."""
    command = _COMMANDS.get(kind or "")
    if command is None and kind != Tick.kind:
        raise MessageError(f"unknown message type {kind!r}")
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"{kind} body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError(f"{kind} body is not a JSON object")
    if data.get("v") != SCHEMA_VERSION:
        raise MessageError(
            f"{kind} has schema version {data.get('v')!r}, expected {SCHEMA_VERSION}"
        )
    try:
        page = str(uuid.UUID(str(data["notion_page_id"])))
        run_id = data["run_id"]
        if not isinstance(run_id, int) or isinstance(run_id, bool) or run_id < 1:
            raise MessageError(f"{kind}.run_id must be a positive integer")
        if command is None:  # a tick
            scheduled = datetime.fromisoformat(str(data["scheduled_at"]))
            if scheduled.tzinfo is None:
                raise MessageError("tick.scheduled_at must carry a UTC offset")
            coalesced = data.get("coalesced", 0)
            if not isinstance(coalesced, int) or isinstance(coalesced, bool) or coalesced < 0:
                raise MessageError("tick.coalesced must be a non-negative integer")
            record_only = data.get("record_only", False)
            if not isinstance(record_only, bool):
                raise MessageError("tick.record_only must be a boolean")
            return Tick(page, run_id, scheduled.isoformat(), coalesced, record_only)
        return command(page, run_id)
    except KeyError as exc:
        raise MessageError(f"{kind} lacks field {exc.args[0]!r}") from None
    except ValueError as exc:
        raise MessageError(f"{kind} has an invalid field: {exc}") from None
