"""CORS, off unless ``API_CORS_ORIGINS`` names the browser origins allowed to call the API.

Off means no CORS header at all: browsers then refuse cross-origin reads, which is the safe
default for an API that changes things. Credentials are bearer keys, never cookies, so
``Access-Control-Allow-Credentials`` is never sent.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

_ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
_EXPOSE_HEADERS = "Retry-After, X-Request-Id, Idempotent-Replayed, WWW-Authenticate"
_PREFLIGHT_MAX_AGE = "600"


def cors_middleware(origins: tuple[str, ...]) -> Middleware | None:
    """The CORS middleware for ``origins``, or ``None`` when CORS is off."""
    if not origins:
        return None
    any_origin = "*" in origins
    allowed = frozenset(origins)

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None or not (any_origin or origin in allowed):
            return await handler(request)
        headers = {"Access-Control-Allow-Origin": "*" if any_origin else origin, "Vary": "Origin"}
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            # A preflight carries no credentials: it is answered here, before authentication.
            return web.Response(
                status=204,
                headers={
                    **headers,
                    "Access-Control-Allow-Methods": "GET, POST",
                    "Access-Control-Allow-Headers": _ALLOW_HEADERS,
                    "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE,
                },
            )
        response = await handler(request)
        response.headers.update(headers)
        response.headers["Access-Control-Expose-Headers"] = _EXPOSE_HEADERS
        return response

    return cors
