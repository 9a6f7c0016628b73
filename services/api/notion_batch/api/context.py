"""What the API's handlers reach through ``request.app``: typed keys, filled at startup."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from notion_batch.common.config import BatchDefaults, Scope
from notion_batch.common.db.batches import BatchRepository
from notion_batch.common.db.history import HistoryRepository, IdempotentStarts
from notion_batch.common.db.notion_events import NotionEventRepository
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.metrics import Metrics

POOL = web.AppKey("pool", asyncpg.Pool)
BATCHES = web.AppKey("batches", BatchRepository)
HISTORY = web.AppKey("history", HistoryRepository)
IDEMPOTENT_STARTS = web.AppKey("idempotent_starts", IdempotentStarts)
WEBHOOKS = web.AppKey("webhooks", NotionEventRepository)
BROKER = web.AppKey("broker", Broker)
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
