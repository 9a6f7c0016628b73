"""URL → view. The four endpoints of the original guide under /api/v1, and probes."""

from __future__ import annotations

from aiohttp import web

from notion_batch.api import views


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/batch/start", views.start_batch)
    app.router.add_post("/api/v1/batch/stop/{notion_page_id}", views.stop_batch)
    app.router.add_get("/api/v1/batch/status/{notion_page_id}", views.batch_status)
    app.router.add_get("/api/v1/batch/status", views.all_status)
    app.router.add_get("/healthz", views.healthz)
    app.router.add_get("/readyz", views.readyz)
