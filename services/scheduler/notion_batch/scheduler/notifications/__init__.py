"""Batch-end notification channels: each turns a :class:`BatchSummary` into one message and
sends it — a JSON webhook (``json_webhook.py``), a Slack incoming webhook (``slack.py``),
e-mail over SMTP (``email.py``); what a channel is, in ``channel.py``. The notifier
(``scheduler/notifier.py``) decides when, retries and gives up; a channel only sends once and
says how it went. This module opens the channels the settings turn on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp

from notion_batch.scheduler.notifications.channel import Channel
from notion_batch.scheduler.notifications.email import EmailChannel
from notion_batch.scheduler.notifications.json_webhook import WebhookChannel
from notion_batch.scheduler.notifications.slack import SlackChannel
from notion_batch.scheduler.settings import NotifySettings


@asynccontextmanager
async def open_channels(settings: NotifySettings) -> AsyncIterator[dict[str, Channel]]:
    """The channels ``settings`` turn on, by name; one HTTP session for both webhooks."""
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
