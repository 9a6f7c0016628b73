"""What the API's handlers reach through ``request.app``: typed keys, filled at startup."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from notion_batch.common.config import BatchDefaults
from notion_batch.common.db.batches import BatchRepository
from notion_batch.common.messaging.broker import Broker

POOL = web.AppKey("pool", asyncpg.Pool)
BATCHES = web.AppKey("batches", BatchRepository)
BROKER = web.AppKey("broker", Broker)
DEFAULTS = web.AppKey("batch_defaults", BatchDefaults)
