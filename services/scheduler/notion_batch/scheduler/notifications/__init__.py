"""Batch-end notification channels: each turns a :class:`BatchSummary` into one message and
sends it — a JSON webhook (``webhook.py``), a Slack incoming webhook (``slack.py``), e-mail
over SMTP (``email.py``). The notifier (``scheduler/notifier.py``) decides when, retries and
gives up; a channel only sends once and says how it went.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Protocol

import aiohttp

from notion_batch.common.config import NotifySettings
from notion_batch.common.db.notifications import BatchSummary
from notion_batch.common.errors import NotionBatchError


class DeliveryFailed(NotionBatchError):
    """A channel could not deliver a summary this time.

    ``permanent``: the receiver refused it for good (a 4xx, an SMTP 5xx): sending it again
    will not help, so it is given up at once. ``retry_after``: the receiver asked us to wait
    this many seconds (``Retry-After``).
    """

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Channel(Protocol):
    """One way of sending a summary."""

    #: ``webhook``, ``slack`` or ``email`` (the ``channel`` of deliveries, logs and metrics).
    name: str

    async def send(self, summary: BatchSummary) -> str:
        """Send ``summary`` once; returns what the receiver said (``HTTP 200``, ``250 OK``).

        Raises :class:`DeliveryFailed`, or ``TimeoutError`` when it takes too long.
        """
        ...


@asynccontextmanager
async def open_channels(settings: NotifySettings) -> AsyncIterator[dict[str, Channel]]:
    """The channels ``settings`` turn on, by name; one HTTP session for both webhooks."""
    # Imported here: each module is a channel, and this function is their only assembler.
    from notion_batch.scheduler.notifications.email import EmailChannel  # noqa: PLC0415
    from notion_batch.scheduler.notifications.slack import SlackChannel  # noqa: PLC0415
    from notion_batch.scheduler.notifications.webhook import WebhookChannel  # noqa: PLC0415

    channels: dict[str, Channel] = {}
    async with AsyncExitStack() as stack:
        if settings.webhook_url is not None or settings.slack_webhook_url is not None:
            session = await stack.enter_async_context(
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=settings.timeout_seconds),
                    headers={"User-Agent": "notion-batch-notifier"},
                )
            )
            if settings.webhook_url is not None:
                channels["webhook"] = WebhookChannel(
                    session, settings.webhook_url, secret=settings.webhook_secret
                )
            if settings.slack_webhook_url is not None:
                channels["slack"] = SlackChannel(session, settings.slack_webhook_url)
        if settings.email is not None:
            channels["email"] = EmailChannel(settings.email, settings.timeout_seconds)
        yield channels
