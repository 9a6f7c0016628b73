"""Notion's webhook subscriptions, emulated: verification, aggregated signed events, retries.

As Notion does (https://developers.notion.com/reference/webhooks):

- creating a subscription POSTs ``{"verification_token": "secret_…"}``, unsigned, to its URL;
  the subscription sends events only once that token was given back (``verify``: the person
  pasting it into Notion's settings);
- a change to a page shared with the subscription's integration becomes a
  ``page.content_updated`` event; changes to one page within ``aggregation_seconds`` make one
  event, naming every author (``person`` for the control API, ``bot`` for ``/v1`` writes, as
  Notion names the integration) and the blocks changed;
- each event is POSTed with ``X-Notion-Signature: sha256=<hex HMAC-SHA256 of the body, keyed by
  the verification token>``; a delivery answered other than 2xx (or not at all) is sent again
  with the same ``id`` and the next ``attempt_number``, after ``retry_seconds`` doubling each
  time, ``max_attempts`` times in all.

Every POST is kept in the subscription's ``deliveries`` for tests to read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import string
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

from notion_batch.emulator.clock import Clock
from notion_batch.emulator.errors import ApiError, validation_error
from notion_batch.emulator.ids import new_id
from notion_batch.emulator.store import BOT_USER_ID, Page

log = logging.getLogger(__name__)

#: The emulated workspace, as events name it.
WORKSPACE_ID = "3f6e2b1a-9c8d-4e7f-a6b5-c4d3e2f1a0b9"
WORKSPACE_NAME = "Emulated workspace"
#: Notion's API version named in events.
EVENT_API_VERSION = "2025-09-03"
SIGNATURE_HEADER = "X-Notion-Signature"
#: Attempts per delivery, the first included: Notion makes up to 8.
DEFAULT_MAX_ATTEMPTS = 8
_TOKEN_ALPHABET = string.ascii_letters + string.digits


def sign(verification_token: str, body: bytes) -> str:
    """The ``X-Notion-Signature`` of ``body``."""
    digest = hmac.new(verification_token.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _author_type(user_id: str) -> str:
    return "bot" if user_id == BOT_USER_ID else "person"


@dataclass
class Delivery:
    """One POST to a subscription's URL: ``verification`` or an event."""

    kind: str
    event_id: str | None
    type: str | None
    page_id: str | None
    attempt_number: int
    #: The answer's status; ``None`` when there was none (``error`` says why).
    status: int | None
    error: str | None
    #: The event's authors' types (``person``, ``bot``).
    authors: list[str]
    wall: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Subscription:
    id: str
    url: str
    #: The integration (by token) whose shared pages produce events.
    integration_token: str
    verification_token: str
    aggregation_seconds: float
    retry_seconds: float
    max_attempts: int
    verified: bool = False
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def integration_id(self) -> str:
        """A stable id for the integration, never its token."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "notion-emulator:" + self.integration_token))

    def to_json(self, *, deliveries: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "integration_id": self.integration_id,
            "status": "verified" if self.verified else "pending_verification",
            "aggregation_seconds": self.aggregation_seconds,
            "retry_seconds": self.retry_seconds,
            "max_attempts": self.max_attempts,
        }
        if deliveries:
            body["deliveries"] = [d.to_json() for d in self.deliveries]
        return body


@dataclass
class _Pending:
    """Changes to one page for one subscription, waiting out the aggregation window."""

    event_id: str
    timestamp: str
    page_id: str
    authors: dict[str, str] = field(default_factory=dict)
    blocks: list[str] = field(default_factory=list)


class WebhookHub:
    """The subscriptions of one emulator, and the deliveries in flight."""

    def __init__(self, *, aggregation_seconds: float, retry_seconds: float, clock: Clock) -> None:
        self.aggregation_seconds = aggregation_seconds
        self.retry_seconds = retry_seconds
        #: Events' ``timestamp`` (milliseconds, as Notion's) is the emulator's time.
        self.clock = clock
        self.subscriptions: dict[str, Subscription] = {}
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    # -- the control API -------------------------------------------------------------------

    def subscribe(
        self,
        url: str,
        integration_token: str,
        *,
        aggregation_seconds: float | None = None,
        retry_seconds: float | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        verification_token: str | None = None,
    ) -> Subscription:
        """Create a subscription and send its verification request (in the background).
        ``verification_token``: the one to send instead of a random one (demos, where the API
        is configured before the subscription exists)."""
        token = verification_token or "secret_" + "".join(
            secrets.choice(_TOKEN_ALPHABET) for _ in range(43)
        )
        subscription = Subscription(
            id=new_id(),
            url=url,
            integration_token=integration_token,
            verification_token=token,
            aggregation_seconds=(
                self.aggregation_seconds if aggregation_seconds is None else aggregation_seconds
            ),
            retry_seconds=self.retry_seconds if retry_seconds is None else retry_seconds,
            max_attempts=max_attempts,
        )
        self.subscriptions[subscription.id] = subscription
        self._spawn(self._deliver(subscription, "verification", {"verification_token": token}))
        return subscription

    def get(self, subscription_id: str) -> Subscription:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            raise ApiError(404, "object_not_found", f"no webhook subscription {subscription_id}")
        return subscription

    def verify(self, subscription_id: str, verification_token: str) -> Subscription:
        """The person pastes the token into Notion: only the one Notion sent is accepted."""
        subscription = self.get(subscription_id)
        if not hmac.compare_digest(
            verification_token.encode(), subscription.verification_token.encode()
        ):
            raise validation_error("verification_token does not match the one Notion sent.")
        subscription.verified = True
        return subscription

    def remove(self, subscription_id: str) -> None:
        self.get(subscription_id)
        del self.subscriptions[subscription_id]

    # -- changes to pages ------------------------------------------------------------------

    def changed(self, page: Page, block_ids: list[str], author: str) -> None:
        """A page changed (blocks added, edited, archived): each verified subscription whose
        integration sees the page gets a ``page.content_updated`` event after its window."""
        for subscription in self.subscriptions.values():
            if not subscription.verified or not page.visible_to(subscription.integration_token):
                continue
            key = (subscription.id, page.id)
            pending = self._pending.get(key)
            if pending is None:
                pending = _Pending(event_id=new_id(), timestamp=self.clock.iso(), page_id=page.id)
                self._pending[key] = pending
                self._spawn(self._flush_after(subscription, key))
            pending.authors.setdefault(author, _author_type(author))
            for block_id in block_ids:
                if block_id not in pending.blocks:
                    pending.blocks.append(block_id)

    async def _flush_after(self, subscription: Subscription, key: tuple[str, str]) -> None:
        await asyncio.sleep(subscription.aggregation_seconds)
        pending = self._pending.pop(key, None)
        if pending is None or subscription.id not in self.subscriptions:
            return
        event = {
            "id": pending.event_id,
            "timestamp": pending.timestamp,
            "workspace_id": WORKSPACE_ID,
            "workspace_name": WORKSPACE_NAME,
            "subscription_id": subscription.id,
            "integration_id": subscription.integration_id,
            "type": "page.content_updated",
            "authors": [{"id": a, "type": t} for a, t in pending.authors.items()],
            "attempt_number": 1,
            "api_version": EVENT_API_VERSION,
            "entity": {"id": pending.page_id, "type": "page"},
            "data": {
                "parent": {"id": WORKSPACE_ID, "type": "space"},
                "updated_blocks": [{"id": b, "type": "block"} for b in pending.blocks],
            },
        }
        await self._deliver(subscription, "event", event)

    # -- delivery --------------------------------------------------------------------------

    async def _deliver(
        self, subscription: Subscription, kind: str, payload: dict[str, Any]
    ) -> None:
        for attempt in range(1, subscription.max_attempts + 1):
            if kind == "event":
                payload["attempt_number"] = attempt
            body = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json", "User-Agent": "notion-api-emulator"}
            if kind == "event":
                headers[SIGNATURE_HEADER] = sign(subscription.verification_token, body)
            status, error = await self._post(subscription.url, body, headers)
            entity = payload.get("entity") or {}
            subscription.deliveries.append(
                Delivery(
                    kind=kind,
                    event_id=payload.get("id"),
                    type=payload.get("type"),
                    page_id=entity.get("id"),
                    attempt_number=attempt,
                    status=status,
                    error=error,
                    authors=[a["type"] for a in payload.get("authors", [])],
                    wall=time.time(),
                )
            )
            if status is not None and 200 <= status < 300:
                return
            if attempt < subscription.max_attempts:
                delay = subscription.retry_seconds * 2 ** (attempt - 1)
                log.info(
                    "webhook %s to %s failed (%s); attempt %d in %.1fs",
                    kind,
                    subscription.url,
                    error or status,
                    attempt + 1,
                    delay,
                )
                await asyncio.sleep(delay)
        log.warning("webhook %s to %s given up", kind, subscription.url)

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- lifecycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every subscription; deliveries in flight are cancelled."""
        for task in self._tasks:
            task.cancel()
        self.subscriptions.clear()
        self._pending.clear()

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
