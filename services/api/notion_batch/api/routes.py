"""URL → view, and the scope each endpoint needs. Endpoints without a scope are public."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from notion_batch.api import docs, reports, views
from notion_batch.api.context import ROUTE_SCOPES
from notion_batch.api.notion_webhooks import endpoints as notion_webhooks
from notion_batch.common.config import Scope

#: Where the vendored docs assets are served from.
STATIC_PREFIX = "/api/docs/static"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    scope: Scope | None


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "/api/v1/batch/start", views.start_batch, "write"),
    Endpoint("POST", "/api/v1/batch/stop/{notion_page_id}", views.stop_batch, "write"),
    Endpoint("POST", "/api/v1/batch/extend/{notion_page_id}", views.extend_batch, "write"),
    Endpoint("GET", "/api/v1/batch/status/{notion_page_id}", views.batch_status, "read"),
    Endpoint("GET", "/api/v1/batch/status", views.all_status, "read"),
    Endpoint("GET", "/api/v1/batch/history/{notion_page_id}", reports.history, "read"),
    Endpoint("GET", "/api/v1/batch/todos/{notion_page_id}", reports.todos, "read"),
    # Notion cannot send an API key: its requests are authenticated by their signature.
    Endpoint("POST", "/api/v1/notion/webhook", notion_webhooks.receive, None),
    Endpoint("POST", "/api/v1/notion/webhook/{integration}", notion_webhooks.receive, None),
    # The verification token is a secret an operator pastes into Notion: write keys only.
    Endpoint("GET", "/api/v1/notion/webhook-verification", notion_webhooks.verification, "write"),
    Endpoint("GET", "/api/v1/openapi.json", docs.openapi_document, None),
    Endpoint("GET", "/api/docs", docs.docs_page, None),
    Endpoint("GET", "/healthz", views.healthz, None),
    Endpoint("GET", "/readyz", views.readyz, None),
)


def setup_routes(app: web.Application) -> None:
    scopes: dict[tuple[str, str], Scope] = {}
    for endpoint in ENDPOINTS:
        if endpoint.method == "GET":
            app.router.add_get(endpoint.path, endpoint.handler)  # answers HEAD as well
        else:
            app.router.add_route(endpoint.method, endpoint.path, endpoint.handler)
        if endpoint.scope is not None:
            scopes[(endpoint.method, endpoint.path)] = endpoint.scope
    app.router.add_get(STATIC_PREFIX + "/{name:.+}", docs.static_asset)
    app[ROUTE_SCOPES] = scopes
