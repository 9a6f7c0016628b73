"""The API's contract, for tools (``/api/v1/openapi.json``) and for people (``/api/docs``).

The docs page is Swagger UI, served from files vendored under ``static/`` (see its README
for version and licence): it works offline and loads nothing from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from notion_batch.api.assets import asset_handler
from notion_batch.api.context import OPENAPI

STATIC_DIR = Path(__file__).parent / "static"
#: The only files served from ``STATIC_DIR`` (anything else is a JSON 404, never a listing).
ASSETS = frozenset(
    {
        "docs-init.js",
        "swagger-ui/swagger-ui-bundle.js",
        "swagger-ui/swagger-ui.css",
        "swagger-ui/favicon-32x32.png",
        "swagger-ui/LICENSE",
        "swagger-ui/swagger-ui-bundle.js.LICENSE.txt",
    }
)

# Paths are relative to /api/docs, so the page also works under a proxy's path prefix.
_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>notion-batch API</title>
  <link rel="icon" type="image/png" href="docs/static/swagger-ui/favicon-32x32.png">
  <link rel="stylesheet" href="docs/static/swagger-ui/swagger-ui.css">
</head>
<body>
  <noscript>This page needs JavaScript; the raw contract is at
    <a href="v1/openapi.json">/api/v1/openapi.json</a>.</noscript>
  <div id="swagger-ui"></div>
  <script src="docs/static/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="docs/static/docs-init.js"></script>
</body>
</html>
"""

# Everything the page needs comes from this server; Swagger UI styles elements inline.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def docs_page(_: web.Request) -> web.Response:
    return web.Response(
        text=_PAGE,
        content_type="text/html",
        headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"},
    )


static_asset = asset_handler(STATIC_DIR, ASSETS, max_age_seconds=3600)
