"""The web console at ``/console``: server-rendered pages over the API's own repositories
and actions, for the people who run batches.

Served by the API process itself, on its port, signed in with the same API keys: a ``read``
key sees, a ``write`` key acts. Its routes are not part of the REST contract (OpenAPI) and
not in the API's route scopes: the console checks its own sessions (``sessions.py``).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web

from notion_batch.api.assets import asset_handler
from notion_batch.api.console import views
from notion_batch.api.console.context import SESSIONS
from notion_batch.api.console.sessions import Sessions
from notion_batch.api.settings import ApiSettings

log = structlog.get_logger(__name__)

PREFIX = "/console"
_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
#: The only files served from ``STATIC_DIR``.
ASSETS = frozenset({"console.css", "console.js"})


static_asset = asset_handler(STATIC_DIR, ASSETS, max_age_seconds=300)


def setup_console(app: web.Application, settings: ApiSettings) -> None:
    """Add the console's routes, templates and sessions to the API ``app``."""
    secret = settings.console.session_secret
    if secret is None:
        # Sessions then end with this process and are refused by any other replica.
        secret = secrets.token_bytes(32)
        app.on_startup.append(_warn_ephemeral_secret)
    app[SESSIONS] = Sessions(
        secret, settings.auth, lifetime_seconds=settings.console.session_hours * 3600
    )
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        # Every template, whatever its name: Notion's text is shown, never interpreted.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        default_helpers=False,
    )
    add = app.router.add_route
    app.router.add_get(PREFIX, views.overview)
    app.router.add_get(PREFIX + "/login", views.login_form)
    add("POST", PREFIX + "/login", views.login)
    add("POST", PREFIX + "/logout", views.logout)
    app.router.add_get(PREFIX + "/batches", views.batch_list)
    add("POST", PREFIX + "/batches", views.start)
    app.router.add_get(PREFIX + "/pages/{notion_page_id}", views.page_view)
    add("POST", PREFIX + "/pages/{notion_page_id}/stop", views.stop)
    add("POST", PREFIX + "/pages/{notion_page_id}/extend", views.extend)
    app.router.add_get(PREFIX + "/live/overview", views.overview_live)
    app.router.add_get(PREFIX + "/live/batches", views.batch_list_live)
    app.router.add_get(PREFIX + "/live/pages/{notion_page_id}", views.page_live)
    app.router.add_get(PREFIX + "/static/{name}", static_asset)


async def _warn_ephemeral_secret(_: web.Application) -> None:
    log.warning(
        "console_session_secret_unset",
        detail="CONSOLE_SESSION_SECRET is unset: console sessions end with this process and "
        "only this replica accepts them",
    )
