"""The API service: ``create_app(settings)`` builds it, ``main()`` runs it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

from aiohttp import web

from notion_batch.api.context import BATCHES, BROKER, DEFAULTS, POOL
from notion_batch.api.middlewares import MAX_BODY_BYTES, json_errors, request_context
from notion_batch.api.routes import setup_routes
from notion_batch.common.config import ApiSettings
from notion_batch.common.db.batches import BatchRepository
from notion_batch.common.db.pool import create_pool
from notion_batch.common.errors import ConfigError, UnavailableError
from notion_batch.common.logging import configure_logging
from notion_batch.common.messaging.broker import Broker


def create_app(settings: ApiSettings) -> web.Application:
    app = web.Application(
        middlewares=[request_context, json_errors], client_max_size=MAX_BODY_BYTES
    )
    app[DEFAULTS] = settings.batch

    async def resources(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(settings.database)
        # The API answers (503) while the broker is away, so it does not wait for it here.
        broker = Broker(settings.broker, service="api")
        await broker.start(wait=False)
        app[POOL] = pool
        app[BATCHES] = BatchRepository(pool)
        app[BROKER] = broker
        try:
            yield
        finally:
            await broker.close()
            await pool.close()

    app.cleanup_ctx.append(resources)
    setup_routes(app)
    return app


def main() -> None:
    try:
        settings = ApiSettings.from_env()
    except ConfigError as exc:
        print(f"notion-batch-api: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log, service="api")
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            print=None,
            access_log=None,
            shutdown_timeout=10,
        )
    except UnavailableError as exc:
        print(f"notion-batch-api: {exc}", file=sys.stderr)
        sys.exit(1)
