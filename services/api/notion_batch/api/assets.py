"""Serving a fixed set of files the product ships (Swagger UI, the console's script and
style): only the files named, never a listing, never a path outside the folder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from pathlib import Path

from aiohttp import web


def asset_handler(
    directory: Path, names: Collection[str], *, max_age_seconds: int
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler serving ``{name}`` from ``directory`` when it is one of ``names`` (else 404)."""
    allowed = frozenset(names)
    headers = {
        "Cache-Control": f"public, max-age={max_age_seconds}",
        "X-Content-Type-Options": "nosniff",
    }

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in allowed:
            raise web.HTTPNotFound()
        return web.FileResponse(directory / name, headers=headers)

    return serve
