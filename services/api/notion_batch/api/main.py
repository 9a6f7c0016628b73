"""The API service: ``create_app(settings)`` builds it, ``main()`` runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from notion_batch.api.auth import auth_middleware
from notion_batch.api.console import setup_console
from notion_batch.api.context import (
    DEFAULTS,
    HANDLER_NAMES,
    INTEGRATIONS,
    METRICS,
    OPENAPI,
    READINESS,
    WEBHOOK_TOKENS,
    hold_resources,
)
from notion_batch.api.cors import cors_middleware
from notion_batch.api.middlewares import MAX_BODY_BYTES, body_limit, json_errors, request_context
from notion_batch.api.openapi import build_document
from notion_batch.api.routes import setup_routes
from notion_batch.api.settings import ApiSettings
from notion_batch.api.write_throttle import (
    WRITE_THROTTLE,
    WriteThrottle,
    write_throttle_middleware,
)
from notion_batch.common.command_line import parse_service_command_line, port_in_use_is_config_error
from notion_batch.common.db.pool import create_pool
from notion_batch.common.errors import ConfigError
from notion_batch.common.handlers import handler_names
from notion_batch.common.lifecycle import exit_on_error
from notion_batch.common.logging import configure_logging
from notion_batch.common.messaging.broker import Broker
from notion_batch.common.metrics import Metrics, get_metrics
from notion_batch.common.readiness import ServiceReadiness

log = structlog.get_logger(__name__)

#: Longest request line (method, path, query) read: a page URL of 2048 characters, each
#: percent-encoded as up to 12 bytes, still fits.
MAX_REQUEST_LINE_BYTES = 32 * 1024


def _version() -> str:
    try:
        return version("notion-batch-api")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0.0.0"


def create_app(settings: ApiSettings, *, registry: CollectorRegistry = REGISTRY) -> web.Application:
    """Build the API. Raises :class:`ConfigError` when authentication is on without keys.

    Metrics go to ``registry``, served at ``/metrics``: the process's default one, or a
    test's own.
    """
    if settings.auth.missing_keys:
        raise ConfigError(
            "API_KEYS",
            "no API key is configured: set API_KEYS or API_KEYS_FILE "
            "(or API_AUTH=disabled to run without authentication)",
        )
    cors = cors_middleware(settings.cors_origins)
    # One set of write buckets for the REST API and the console's actions alike.
    throttle = WriteThrottle(settings.write_rate_per_minute, settings.write_burst)
    middlewares: list[Middleware] = [
        request_context,
        *([cors] if cors is not None else []),
        json_errors,
        body_limit,
        auth_middleware(settings.auth),
        write_throttle_middleware(throttle),
    ]
    app = web.Application(
        middlewares=middlewares,
        client_max_size=MAX_BODY_BYTES,
        # A page id in a path may be a percent-encoded Notion URL: let even the longest one
        # reach the API (and get a JSON answer) instead of being cut by the HTTP parser's
        # default 8 KiB request line, which answers a plain-text 400.
        handler_args={"max_line_size": MAX_REQUEST_LINE_BYTES},
    )
    app[DEFAULTS] = settings.batch
    app[WRITE_THROTTLE] = throttle
    # The same registry the workers open their handlers from (names only, nothing imported).
    app[HANDLER_NAMES] = handler_names()
    app[INTEGRATIONS] = settings.integrations
    app[WEBHOOK_TOKENS] = dict(settings.notion_webhook_tokens)
    app[OPENAPI] = build_document(
        _version(), handlers=app[HANDLER_NAMES], integrations=settings.integrations
    )
    metrics = get_metrics() if registry is REGISTRY else Metrics(registry)
    app[METRICS] = metrics
    # No outer limit on this probe (unlike the ops port's): the database may take 2 s.
    app[READINESS] = ServiceReadiness(needs_consumers=False, database_timeout=2)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        if not settings.auth.enabled:
            log.warning(
                "api_auth_disabled",
                detail="API_AUTH=disabled: every request is allowed without an API key",
            )
        pool = await create_pool(settings.database)
        metrics.watch_pool(pool)
        # The API answers (503) while the broker is away, so it does not wait for it here.
        broker = Broker(settings.broker, service="api")
        await broker.start(wait=False)
        hold_resources(app, pool, broker, stall_seconds=settings.batch.stall_seconds)
        try:
            yield
        finally:
            await broker.close()
            await pool.close()

    app.cleanup_ctx.append(resources)
    setup_routes(app)
    setup_console(app, settings)
    app.router.add_get("/metrics", make_aiohttp_handler(registry))
    return app


def main() -> None:
    parse_service_command_line(
        "notion-batch-api",
        "The REST API: starts, stops and extends batches, and reports their state.",
    )
    with exit_on_error("api"):
        settings = ApiSettings.from_env()
        app = create_app(settings)
    configure_logging(settings.log, service="api", secrets=settings.notion_webhook_tokens.values())
    log.info(
        "api_starting",
        host=settings.host,
        port=settings.port,
        auth="enabled" if settings.auth.enabled else "disabled",
        api_keys=[key.name for key in settings.auth.keys],
        write_rate_per_minute=settings.write_rate_per_minute,
        cors_origins=list(settings.cors_origins),
        # Names only: which integrations accept Notion webhook events (a token is configured).
        notion_webhooks=sorted(settings.notion_webhook_tokens),
    )
    with exit_on_error("api"), port_in_use_is_config_error("API_HOST", "API_PORT"):
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            print=None,
            access_log=None,
            shutdown_timeout=10,
        )
