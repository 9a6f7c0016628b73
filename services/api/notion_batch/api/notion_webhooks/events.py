"""What Notion's webhook requests say, and whether Notion sent them: pure functions, no I/O.

Notion POSTs two kinds of requests to a subscription's URL
(https://developers.notion.com/reference/webhooks):

- once, when the subscription is created, a *verification request* ``{"verification_token":
  "secret_…"}``, unsigned; a person pastes the token into Notion to verify the subscription;
- then *events*, signed: ``X-Notion-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed
  by that verification token>``, with a body such as ``{"id", "timestamp", "workspace_id",
  "subscription_id", "integration_id", "type": "page.content_updated", "authors": [{"id",
  "type": "person" | "bot" | "agent"}], "attempt_number", "entity": {"id", "type": "page"},
  "data": {…}}``. Events are signals without content; a delivery answered other than 2xx is
  retried, with the same ``id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

from notion_batch.api.requests import RequestInvalid, parse_json_object

SIGNATURE_HEADER = "X-Notion-Signature"
_SIGNATURE_PREFIX = "sha256="
#: Longest verification token kept; Notion's are ``secret_`` and 43 more characters.
MAX_VERIFICATION_TOKEN_LENGTH = 500
#: Longest event id taken; Notion's are UUIDs.
MAX_EVENT_ID_LENGTH = 200

#: Page events after which a running page is worked at once: its content changed (a to-do
#: added, checked or edited), or it went to the trash or came back from it (the tick then
#: notices: a page gone fails the batch with the reason).
TRIGGERING_EVENTS = frozenset({"page.content_updated", "page.deleted", "page.undeleted"})


def signature(token: str, body: bytes) -> str:
    """The ``X-Notion-Signature`` value Notion sends with ``body``, signed with ``token``."""
    digest = hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _SIGNATURE_PREFIX + digest


def signature_valid(token: str, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` with ``token``, compared in constant
    time (the time taken says nothing about how much of a forged signature was right)."""
    expected = signature(token, body).encode("ascii")
    given = header.strip().lower().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected, given)


def verification_token(body: bytes) -> str | None:
    """The token of a verification request (a JSON object holding ``verification_token`` and
    nothing else); ``None`` for anything else."""
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or set(data) != {"verification_token"}:
        return None
    token = data["verification_token"]
    if (
        not isinstance(token, str)
        or not 0 < len(token) <= MAX_VERIFICATION_TOKEN_LENGTH
        or not token.isprintable()
        or any(c.isspace() for c in token)
    ):
        return None
    return token


@dataclass(frozen=True)
class Author:
    id: str
    #: ``person``, ``bot`` (an integration: ours too) or ``agent``.
    type: str


@dataclass(frozen=True)
class NotionEvent:
    """A signed event, as far as we read it."""

    event_id: str
    type: str
    #: The entity the event is about: ``page``, ``block``, ``database``…
    entity_type: str
    #: The entity's id, canonical (a page's id when ``entity_type`` is ``page``).
    entity_id: str
    authors: tuple[Author, ...]
    attempt_number: int | None

    @property
    def page_id(self) -> str | None:
        return self.entity_id if self.entity_type == "page" else None

    @property
    def by_integrations_only(self) -> bool:
        """Every author is an integration (a bot): our own checks and log appends come back so,
        and must not cause ticks (no feedback loop). An event without authors is a person's,
        to be safe: a change is never missed, at worst worked once more."""
        return bool(self.authors) and all(a.type == "bot" for a in self.authors)


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RequestInvalid(f"event field {name!r} must be a {kind.__name__}", field=name)
    return value


def parse_event(body: bytes) -> NotionEvent:
    """A signed event's body; :class:`RequestInvalid` (400) when it is not one."""
    data = parse_json_object(body)
    event_id = _field(data, "id", str)
    if not 0 < len(event_id) <= MAX_EVENT_ID_LENGTH:
        raise RequestInvalid(
            f"event field 'id' must be 1 to {MAX_EVENT_ID_LENGTH} characters", field="id"
        )
    kind = _field(data, "type", str)
    entity = _field(data, "entity", dict)
    entity_type = _field(entity, "type", str)
    try:
        entity_id = str(uuid.UUID(_field(entity, "id", str)))
    except ValueError:
        raise RequestInvalid("event field 'entity.id' must be a UUID", field="entity") from None
    authors = []
    for author in data.get("authors") or []:
        if not isinstance(author, dict):
            raise RequestInvalid("event field 'authors' must hold objects", field="authors")
        authors.append(Author(id=str(author.get("id", "")), type=str(author.get("type", ""))))
    attempt = data.get("attempt_number")
    if not isinstance(attempt, int) or isinstance(attempt, bool):
        attempt = None
    return NotionEvent(
        event_id=event_id,
        type=kind[:100],
        entity_type=entity_type[:100],
        entity_id=entity_id,
        authors=tuple(authors),
        attempt_number=attempt,
    )
