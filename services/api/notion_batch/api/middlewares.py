"""Request context, access events, and the one place errors become JSON answers."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from notion_batch.api.requests import RequestInvalid
from notion_batch.common.errors import BatchConflict, BatchNotFound, UnavailableError

log = structlog.get_logger(__name__)

#: Seconds a client should wait before retrying a 503.
RETRY_AFTER_SECONDS = 5
#: Largest request body accepted; ours are a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    return {"success": False, "message": message, **extra}


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    started = time.perf_counter()
    status = 500
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        try:
            response = await handler(request)
            status = response.status
            response.headers["X-Request-Id"] = request_id
            return response
        finally:
            route = request.match_info.route.resource
            log.info(
                "http_request",
                method=request.method,
                route=route.canonical if route is not None else "unmatched",
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )


@web.middleware
async def json_errors(  # noqa: PLR0911 - one answer per kind of failure, in one place
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Answer every failure with JSON and the right status: never HTML, never a bare 500."""
    try:
        return await handler(request)
    except RequestInvalid as exc:
        extra = {"field": exc.field} if exc.field else {}
        return web.json_response(error_body(str(exc), **extra), status=400)
    except BatchNotFound as exc:
        return web.json_response(
            error_body(str(exc), notion_page_id=exc.notion_page_id), status=404
        )
    except BatchConflict as exc:
        return web.json_response(
            error_body(str(exc), notion_page_id=exc.notion_page_id), status=409
        )
    except UnavailableError as exc:
        log.warning("service_unavailable", dependency=exc.service, error=str(exc))
        return web.json_response(
            error_body(f"the {exc.service} is unavailable right now; retry shortly"),
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 413:
            message = f"request body too large (limit {MAX_BODY_BYTES} bytes)"
        elif exc.status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"method {request.method} is not allowed on {request.path}"
        return web.json_response(error_body(message), status=exc.status, headers=_allow(exc))
    except Exception:
        log.exception("http_unhandled_error", method=request.method, path=request.path)
        return web.json_response(error_body("internal error; it has been logged"), status=500)


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}
