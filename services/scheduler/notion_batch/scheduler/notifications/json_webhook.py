"""The generic JSON webhook: ``POST NOTIFY_WEBHOOK_URL`` with a versioned ``batch.ended`` body.

Headers: ``X-Notion-Batch-Event: batch.ended``; ``X-Notion-Batch-Delivery: <run id>``, the
same on every retry of one summary, so a receiver that already has it can ignore a repeat
(delivery is at least once); with ``NOTIFY_WEBHOOK_SECRET``, ``X-Notion-Batch-Signature:
sha256=<hex HMAC-SHA256 of the raw body>`` — as GitHub and Notion sign theirs. A receiver
recomputes the HMAC over the bytes it got and compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp

from notion_batch.common.db.notifications import BatchSummary
from notion_batch.scheduler.notifications.http import post

EVENT = "batch.ended"
#: The body's version: fields are only added within a version, never renamed or removed.
VERSION = 1
SIGNATURE_HEADER = "X-Notion-Batch-Signature"


def _time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def body(summary: BatchSummary) -> dict[str, Any]:
    """The JSON body of a ``batch.ended`` event, version 1."""
    return {
        "event": EVENT,
        "v": VERSION,
        "notion_page_id": summary.notion_page_id,
        "notion_url": summary.notion_url,
        "run_id": summary.run_id,
        "status": summary.status,
        "end_reason": summary.end_reason,
        "message": summary.message,
        "started_at": _time(summary.started_at),
        "scheduled_end_at": _time(summary.scheduled_end_at),
        "ended_at": _time(summary.ended_at),
        "duration_seconds": round(summary.duration_seconds, 3),
        "interval_seconds": summary.interval_seconds,
        "handler": summary.handler,
        "integration": summary.integration,
        "ticks": summary.ticks,
        "ticks_coalesced": summary.ticks_coalesced,
        "todos": {
            "done": summary.todos_done,
            "skipped": summary.todos_skipped,
            "failed": summary.todos_failed,
            "pending": summary.todos_pending,
        },
    }


def encode(summary: BatchSummary) -> bytes:
    return json.dumps(body(summary), separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, raw: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of the exact bytes sent, keyed by the secret."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def headers(summary: BatchSummary, raw: bytes, secret: str | None) -> dict[str, str]:
    sent = {
        "Content-Type": "application/json",
        "X-Notion-Batch-Event": EVENT,
        "X-Notion-Batch-Delivery": str(summary.run_id),
    }
    if secret is not None:
        sent[SIGNATURE_HEADER] = signature(secret, raw)
    return sent


class WebhookChannel:
    name = "webhook"

    def __init__(self, session: aiohttp.ClientSession, url: str, *, secret: str | None) -> None:
        self._session = session
        self._url = url
        self._secret = secret

    async def send(self, summary: BatchSummary) -> str:
        raw = encode(summary)
        return await post(self._session, self._url, raw, headers(summary, raw, self._secret))
