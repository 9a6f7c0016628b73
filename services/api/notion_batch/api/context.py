"""What the API's handlers reach through ``request.app``: typed keys, filled at startup."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from notion_batch.common.config import BatchDefaults, Scope
from notion_batch.common.db.batches import BatchRepository
from notion_batch.common.db.console_sessions import RevokedSessions
from notion_batch.common.db.notion_calls import NotionCallRepository
from notion_batch.common.db.notion_events import NotionEventRepository
from notion_batch.common.db.reports import ReportRepository
from notion_batch.common.db.starts import IdempotentStarts
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.metrics import Metrics
from notion_batch.common.readiness import ServiceReadiness

BATCHES = web.AppKey("batches", BatchRepository)
REPORTS = web.AppKey("reports", ReportRepository)
IDEMPOTENT_STARTS = web.AppKey("idempotent_starts", IdempotentStarts)
WEBHOOKS = web.AppKey("webhooks", NotionEventRepository)
#: The console's: the fleet's Notion calls per minute, and sessions ended by signing out.
NOTION_CALLS = web.AppKey("notion_calls", NotionCallRepository)
REVOKED_SESSIONS = web.AppKey("revoked_sessions", RevokedSessions)
BROKER = web.AppKey("broker", Broker)
#: ``/readyz``: the database and the broker reachable; given both once they are open.
READINESS = web.AppKey("readiness", ServiceReadiness)
DEFAULTS = web.AppKey("batch_defaults", BatchDefaults)
METRICS = web.AppKey("metrics", Metrics)
#: (method, route pattern) → the scope a key needs; routes not listed are public.
ROUTE_SCOPES = web.AppKey("route_scopes", dict[tuple[str, str], Scope])
#: The installed handlers' names a batch may choose, discovered once at startup.
HANDLER_NAMES = web.AppKey("handler_names", tuple[str, ...])
#: The Notion integrations a batch may name (``NOTION_INTEGRATIONS``, ``default`` first).
INTEGRATIONS = web.AppKey("integrations", tuple[str, ...])
#: Integration → the verification token its Notion webhook events are signed with (secrets).
WEBHOOK_TOKENS = web.AppKey("webhook_tokens", dict[str, str])
#: The OpenAPI document, built once at startup.
OPENAPI = web.AppKey("openapi", dict[str, Any])


def hold_resources(
    app: web.Application, pool: asyncpg.Pool, broker: Broker, *, stall_seconds: float
) -> None:
    """Fill the keys of what the open pool and broker serve: the repositories, the broker,
    and readiness. ``stall_seconds``: what a status calls stalled (BATCH_STALL_SECONDS)."""
    app[BATCHES] = BatchRepository(pool, stall_seconds=stall_seconds)
    app[REPORTS] = ReportRepository(pool)
    app[IDEMPOTENT_STARTS] = IdempotentStarts(pool)
    app[WEBHOOKS] = NotionEventRepository(pool)
    app[NOTION_CALLS] = NotionCallRepository(pool)
    app[REVOKED_SESSIONS] = RevokedSessions(pool)
    app[BROKER] = broker
    app[READINESS].pool = pool
    app[READINESS].broker = broker
