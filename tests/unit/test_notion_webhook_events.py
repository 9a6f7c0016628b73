"""Reading Notion's webhook requests: the signature, verification requests, events."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from notion_batch.api.notion_webhooks.events import (
    NotionEvent,
    parse_event,
    signature,
    signature_valid,
    verification_token,
)
from notion_batch.api.requests import RequestInvalid

TOKEN = "secret_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


def event(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "b2a6f0c4-1d7e-4b8a-9c3f-5e6d7a8b9c0d",
        "timestamp": "2026-01-02T03:04:05.678Z",
        "workspace_id": "3f6e2b1a-9c8d-4e7f-a6b5-c4d3e2f1a0b9",
        "workspace_name": "Acme",
        "subscription_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "integration_id": "9f8e7d6c-5b4a-4c3d-2e1f-0a9b8c7d6e5f",
        "type": "page.content_updated",
        "authors": [{"id": "6e5d4c3b-2a19-4f8e-7d6c-5b4a39281706", "type": "person"}],
        "attempt_number": 1,
        "entity": {"id": PAGE.replace("-", ""), "type": "page"},
        "data": {"parent": {"id": "x", "type": "space"}, "updated_blocks": []},
    }
    return {**body, **changes}


def test_the_signature_is_notions_hmac_sha256_of_the_raw_body() -> None:
    body = json.dumps(event()).encode()
    expected = "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    assert signature(TOKEN, body) == expected
    assert signature_valid(TOKEN, body, expected)
    assert signature_valid(TOKEN, body, f"  {expected.upper().replace('SHA256', 'sha256')} ")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "sha256=",
        "sha256=00",
        "sha1=abc",
        "sha256=" + "0" * 64,
        "sha256=héllo\udcff",
    ],
)
def test_any_other_signature_is_refused(header: str) -> None:
    body = json.dumps(event()).encode()
    assert not signature_valid(TOKEN, body, header)


def test_a_signature_covers_every_byte_and_the_right_token() -> None:
    body = json.dumps(event()).encode()
    good = signature(TOKEN, body)
    assert not signature_valid(TOKEN, body + b" ", good)
    assert not signature_valid(TOKEN + "x", body, good)


def test_a_verification_request_is_an_object_with_its_token_only() -> None:
    assert verification_token(json.dumps({"verification_token": TOKEN}).encode()) == TOKEN
    for body in (
        b"",
        b"not json",
        b"[]",
        json.dumps({"verification_token": TOKEN, "type": "x"}).encode(),
        json.dumps({"verification_token": 5}).encode(),
        json.dumps({"verification_token": ""}).encode(),
        json.dumps({"verification_token": "with space"}).encode(),
        json.dumps({"verification_token": "x" * 501}).encode(),
        json.dumps(event()).encode(),
        b"\xff\xfe",
    ):
        assert verification_token(body) is None, body


def test_an_event_is_read_with_its_page_and_authors() -> None:
    parsed = parse_event(json.dumps(event()).encode())
    assert parsed == NotionEvent(
        event_id="b2a6f0c4-1d7e-4b8a-9c3f-5e6d7a8b9c0d",
        type="page.content_updated",
        entity_type="page",
        entity_id=PAGE,
        authors=parsed.authors,
        attempt_number=1,
    )
    assert parsed.page_id == PAGE
    assert not parsed.by_integrations_only


@pytest.mark.parametrize(
    ("authors", "bots_only"),
    [
        ([{"id": "a", "type": "bot"}], True),
        ([{"id": "a", "type": "bot"}, {"id": "b", "type": "bot"}], True),
        ([{"id": "a", "type": "bot"}, {"id": "b", "type": "person"}], False),
        ([{"id": "a", "type": "agent"}], False),
        ([], False),
    ],
)
def test_only_events_made_by_integrations_alone_are_ours_to_ignore(
    authors: list[dict[str, str]], bots_only: bool
) -> None:
    parsed = parse_event(json.dumps(event(authors=authors)).encode())
    assert parsed.by_integrations_only is bots_only


def test_a_block_or_database_event_has_no_page() -> None:
    parsed = parse_event(
        json.dumps(event(entity={"id": PAGE, "type": "database"}, attempt_number=True)).encode()
    )
    assert parsed.page_id is None
    assert parsed.attempt_number is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{", None),
        (b"[1]", None),
        (json.dumps(event(id=5)).encode(), "id"),
        (json.dumps(event(id="")).encode(), "id"),
        (json.dumps(event(type=None)).encode(), "type"),
        (json.dumps(event(entity="x")).encode(), "entity"),
        (json.dumps(event(entity={"id": "nope", "type": "page"})).encode(), "entity"),
        (json.dumps(event(authors=["x"])).encode(), "authors"),
    ],
)
def test_a_signed_body_that_is_not_an_event_is_a_400(body: bytes, field: str | None) -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_event(body)
    assert caught.value.field == field
