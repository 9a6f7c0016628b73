"""The built-in ``webhook`` handler: POST each to-do as JSON to ``TODO_WEBHOOK_URL``.

The receiver decides: 2xx → done (the result text is the answer's JSON ``"result"`` when
there is one, else ``HTTP <status>``); 4xx → skipped, with the status and the start of the
answer as the reason (the receiver refused it: sending it again will not help); anything
else, a timeout or a connection error → raised, so the to-do is retried on later ticks up
to ``TODO_MAX_ATTEMPTS``. The to-do's idempotency key is sent as ``Idempotency-Key`` too,
so a receiver can ignore a repeat of the same attempt.

One HTTP session per worker, opened at start and closed at shutdown (a handler factory).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from notion_batch.common.errors import ConfigError
from notion_batch.common.handlers import Handler, HandlerContext, Outcome, Todo
from notion_batch.worker.errors import WebhookFailed
from notion_batch.worker.settings import WebhookSettings

#: Characters of a receiver's answer kept in a skip reason or an error.
EXCERPT_CHARS = 200
#: Characters of a receiver's ``"result"`` kept as the to-do's result text.
RESULT_CHARS = 1000
#: Bytes of an answer read at most: enough for a result, bounded against a runaway receiver.
MAX_ANSWER_BYTES = 64 * 1024


def _described(status: int, body: str) -> str:
    """``HTTP <status>``, followed by the start of the answer when there is one."""
    flat = " ".join(body.split())
    if len(flat) > EXCERPT_CHARS:
        flat = flat[: EXCERPT_CHARS - 1] + "…"
    return f"HTTP {status}: {flat}" if flat else f"HTTP {status}"


def _result(body: str, status: int) -> str:
    try:
        answer: Any = json.loads(body)
    except ValueError:
        answer = None
    result = answer.get("result") if isinstance(answer, dict) else None
    if isinstance(result, str) and result.strip():
        return result[:RESULT_CHARS]
    return f"HTTP {status}"


class WebhookHandler:
    """Posts a to-do to one URL through the worker's session."""

    def __init__(self, session: aiohttp.ClientSession, url: str, timeout_seconds: float) -> None:
        self._session = session
        self._url = url
        self._timeout_seconds = timeout_seconds

    async def __call__(self, todo: Todo) -> Outcome:
        payload = {
            "id": todo.block_id,
            "text": todo.text,
            "notion_page_id": todo.notion_page_id,
            "attempt": todo.attempt,
            "idempotency_key": todo.idempotency_key,
            "batch_run_id": todo.batch_run_id,
        }
        try:
            async with self._session.post(
                self._url, json=payload, headers={"Idempotency-Key": todo.idempotency_key}
            ) as response:
                raw = await response.content.read(MAX_ANSWER_BYTES)
                body = raw.decode("utf-8", errors="replace")
                status = response.status
        # Our own timeout, turned into a failure of ours: a bare TimeoutError would read as
        # the whole handler having run out of TODO_HANDLER_TIMEOUT_SECONDS.
        except TimeoutError:
            raise WebhookFailed(
                f"the webhook did not answer within {self._timeout_seconds:g}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise WebhookFailed(
                f"the webhook is unreachable: {type(exc).__name__}: {exc}"
            ) from None
        if 200 <= status < 300:
            return Outcome.done(_result(body, status))
        if 400 <= status < 500:
            return Outcome.skip(f"webhook refused it: {_described(status, body)}")
        raise WebhookFailed(f"the webhook answered {_described(status, body)}")


@asynccontextmanager
async def webhook(ctx: HandlerContext) -> AsyncIterator[Handler]:
    """The ``webhook`` handler factory: one session for the worker's life."""
    settings: WebhookSettings = ctx.settings.webhook
    if settings.url is None:
        raise ConfigError("TODO_WEBHOOK_URL", "is not set, so the webhook handler is off")
    timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
    async with aiohttp.ClientSession(
        timeout=timeout, headers={"User-Agent": "notion-batch-webhook"}
    ) as session:
        yield WebhookHandler(session, settings.url, settings.timeout_seconds)
