"""Slack: an incoming-webhook message (``text`` for notifications, ``blocks`` for the channel).

Slack answers 200 ``ok``; a revoked or archived webhook answers 403/404/410, which is given
up at once (see ``http.py``). Text in ``mrkdwn`` escapes ``&``, ``<`` and ``>`` as Slack asks.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from notion_batch.common.db.notifications import BatchSummary
from notion_batch.scheduler.notifications import text
from notion_batch.scheduler.notifications.http import post

#: Slack's limits: a header's plain text, a section's text.
HEADER_CHARS = 150
SECTION_CHARS = 3000


def escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def message(summary: BatchSummary) -> dict[str, Any]:
    """The incoming-webhook payload for ``summary``."""
    page = f"<{summary.notion_url}|Notion page {summary.notion_page_id}>"
    fields = [
        ("Status", f"{summary.status} ({summary.end_reason})"),
        ("Run", str(summary.run_id)),
        ("To-dos", text.counts(summary)),
        ("Ticks", text.ticks(summary)),
        ("Started", text.moment(summary.started_at)),
        (
            "Ended",
            f"{text.moment(summary.ended_at)} (after {text.duration(summary.duration_seconds)})",
        ),
        ("Handler", text.handler(summary)),
        ("Integration", summary.integration),
    ]
    detail = escape(summary.message) if summary.message else "—"
    return {
        # What notifications and clients without blocks show.
        "text": escape(f"{text.title(summary)} — {text.sentence(summary)}"),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _clip(text.title(summary), HEADER_CHARS)},
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _clip(f"*{page}*\n{detail}", SECTION_CHARS),
                },
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{label}*\n{escape(value)}"}
                    for label, value in fields
                ],
            },
        ],
    }


class SlackChannel:
    name = "slack"

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url

    async def send(self, summary: BatchSummary) -> str:
        raw = json.dumps(message(summary), ensure_ascii=False).encode()
        return await post(self._session, self._url, raw, {"Content-Type": "application/json"})
