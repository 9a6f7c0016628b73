import json

import pytest

from notion_batch.common.errors import MessageError
from notion_batch.common.messaging.messages import (
    PageChanged,
    StartBatch,
    StopBatch,
    Tick,
    decode,
    encode,
)

PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


@pytest.mark.parametrize(
    "message",
    [
        StartBatch(PAGE, 7),
        StopBatch(PAGE, 7),
        PageChanged(PAGE, 7),
        Tick(PAGE, 7, "2026-01-01T10:00:00+00:00", coalesced=2),
        Tick(PAGE, 7, "2026-01-01T10:00:00+00:00", record_only=True),
    ],
)
def test_round_trip(message: StartBatch | StopBatch | PageChanged | Tick) -> None:
    assert decode(message.kind, encode(message)) == message


def test_tick_identity_is_deterministic() -> None:
    a = Tick(PAGE, 7, "2026-01-01T10:00:00+00:00")
    b = Tick(PAGE, 7, "2026-01-01T10:00:00+00:00", coalesced=3)
    assert a.tick_id == b.tick_id == a.message_id
    assert a.tick_id != Tick(PAGE, 7, "2026-01-01T10:01:00+00:00").tick_id
    assert a.tick_id != Tick(PAGE, 7, "2026-01-01T10:00:00+00:00", record_only=True).tick_id


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("tick", b"not json"),
        ("tick", b"[]"),
        ("tick", json.dumps({"v": 2, "notion_page_id": PAGE, "run_id": 1}).encode()),
        ("tick", json.dumps({"v": 1, "notion_page_id": PAGE, "run_id": 1}).encode()),
        (
            "tick",
            json.dumps(
                {
                    "v": 1,
                    "notion_page_id": "nope",
                    "run_id": 1,
                    "scheduled_at": "2026-01-01T10:00:00+00:00",
                }
            ).encode(),
        ),
        (
            "tick",
            json.dumps(
                {
                    "v": 1,
                    "notion_page_id": PAGE,
                    "run_id": "1",
                    "scheduled_at": "2026-01-01T10:00:00+00:00",
                }
            ).encode(),
        ),
        (
            "tick",
            json.dumps(
                {"v": 1, "notion_page_id": PAGE, "run_id": 1, "scheduled_at": "2026-01-01T10:00:00"}
            ).encode(),
        ),
        ("batch.start", json.dumps({"v": 1, "run_id": 1}).encode()),
        ("mystery", b"{}"),
        (None, b"{}"),
    ],
)
def test_malformed_messages_are_refused(kind: str | None, body: bytes) -> None:
    with pytest.raises(MessageError):
        decode(kind, body)


_COMMAND_BODY = b'{"v":1,"notion_page_id":"0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f","run_id":7}'


@pytest.mark.parametrize(
    ("message", "kind", "message_id", "body"),
    [
        (StartBatch(PAGE, 7), "batch.start", f"start:{PAGE}:7", _COMMAND_BODY),
        (StopBatch(PAGE, 7), "batch.stop", f"stop:{PAGE}:7", _COMMAND_BODY),
        (PageChanged(PAGE, 7), "page.changed", f"changed:{PAGE}:7", _COMMAND_BODY),
        (
            Tick(PAGE, 7, "2026-01-01T10:00:00+00:00", coalesced=2),
            "tick",
            f"{PAGE}:7:1767261600000",
            b'{"v":1,"notion_page_id":"0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f","run_id":7,'
            b'"scheduled_at":"2026-01-01T10:00:00+00:00","coalesced":2,"record_only":false}',
        ),
    ],
)
def test_the_wire_format_is_pinned(
    message: StartBatch | StopBatch | PageChanged | Tick, kind: str, message_id: str, body: bytes
) -> None:
    # The bytes, type and id that services already running publish and expect: a change of
    # the classes must never change them (old and new services share the queues in a deploy).
    assert (message.kind, message.routing_key, message.message_id) == (kind, kind, message_id)
    assert encode(message) == body
    assert decode(kind, body) == message
    assert type(decode(kind, body)) is type(message)
