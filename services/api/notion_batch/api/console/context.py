"""What the console's handlers reach through ``request.app``, beside the API's own keys."""

from __future__ import annotations

from aiohttp import web

from notion_batch.api.console.sessions import Sessions

SESSIONS = web.AppKey("console_sessions", Sessions)
