"""Request context, access events, body limit, and the one place errors become JSON answers."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from notion_batch.api.auth import PRINCIPAL
from notion_batch.api.context import METRICS
from notion_batch.api.errors import ApiError, PayloadTooLarge
from notion_batch.common.errors import (
    BatchConflict,
    BatchNotFound,
    BatchTooLong,
    IdempotencyKeyReused,
    UnavailableError,
)
from notion_batch.common.metrics import http_method_label, http_status_label

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
    # A client's id is echoed and logged: keep it to a sane length and character set.
    if len(request_id) > 128 or not request_id.isprintable():
        request_id = uuid.uuid4().hex
    started = time.perf_counter()
    status = 500
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        try:
            response = await handler(request)
            status = response.status
            response.headers["X-Request-Id"] = request_id
            return response
        finally:
            elapsed = time.perf_counter() - started
            route = _route(request)
            principal = request.get(PRINCIPAL)
            log.info(
                "http_request",
                method=request.method,
                route=route,
                status=status,
                api_key=principal.name if principal is not None else None,
                duration_ms=round(elapsed * 1000, 2),
            )
            # Route templates, not paths: a label must come from a small closed set.
            metrics = request.app[METRICS]
            method = http_method_label(request.method)
            metrics.http_requests.labels(
                route=route, method=method, status=http_status_label(status)
            ).inc()
            metrics.http_request_duration_seconds.labels(route=route, method=method).observe(
                elapsed
            )


@web.middleware
async def json_errors(  # noqa: PLR0911 - one answer per kind of failure, in one place
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Answer every failure with JSON and the right status: never HTML, never a bare 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return web.json_response(
            error_body(str(exc), **exc.extra), status=exc.status, headers=exc.headers
        )
    except BatchNotFound as exc:
        return web.json_response(
            error_body(str(exc), notion_page_id=exc.notion_page_id), status=404
        )
    except BatchConflict as exc:
        return web.json_response(
            error_body(str(exc), notion_page_id=exc.notion_page_id), status=409
        )
    except IdempotencyKeyReused as exc:
        return web.json_response(error_body(str(exc), field="Idempotency-Key"), status=422)
    except BatchTooLong as exc:
        return web.json_response(
            error_body(str(exc), field="duration_seconds", max_seconds=exc.max_seconds),
            status=400,
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
        log.exception("http_unhandled_error", method=request.method, route=_route(request))
        return web.json_response(error_body("internal error; it has been logged"), status=500)


@web.middleware
async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """413 at once for a declared body over the limit, before reading or authenticating it.

    Bodies sent without a length are cut at the same limit when read (``client_max_size``).
    """
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body too large (limit {MAX_BODY_BYTES} bytes)")
    return await handler(request)


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


def _route(request: web.Request) -> str:
    # The route pattern, not the path: a path may carry anything a client typed.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"
