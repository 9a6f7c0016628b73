"""Who is calling: bearer API keys, checked against their SHA-256 digests in constant time.

Each route declares the scope it needs (``routes.py``); routes without one (probes, the
OpenAPI document, the docs page) are public. The key's *name* is bound to the request's log
context; the key itself is never logged, echoed or kept.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from notion_batch.api.context import ROUTE_SCOPES
from notion_batch.api.errors import Forbidden, Unauthorized
from notion_batch.common.config import ApiAuthSettings, ApiKey, Scope

_REALM = 'Bearer realm="notion-batch"'


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as far as the API cares."""

    #: The key's name; ``anonymous`` while authentication is disabled.
    name: str
    scopes: frozenset[Scope]
    #: Who owns rate-limit buckets and idempotency keys: the key, or the address when
    #: authentication is disabled (so one runaway script does not throttle everyone).
    client: str


PRINCIPAL = web.RequestKey("principal", Principal)


class KeyRing:
    """The configured keys, looked up by the digest of a presented token."""

    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
        self._keys = keys

    def identify(self, token: str) -> ApiKey | None:
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = None
        # Every key is compared, match or not, so the time taken says nothing about which
        # key (or how much of one) matched.
        for key in self._keys:
            if hmac.compare_digest(digest, key.sha256):
                found = key
        return found


def required_scope(request: web.Request) -> Scope | None:
    """The scope the matched route needs; ``None`` for public routes and unmatched paths."""
    resource = request.match_info.route.resource
    if resource is None:  # no route matched: the router answers 404/405, which tells nothing
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return request.app[ROUTE_SCOPES].get((method, resource.canonical))


def _bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization")
    if header is None:
        raise Unauthorized(
            "missing API key: send the header 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": _REALM},
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "the Authorization header must be 'Bearer <key>'",
            headers={"WWW-Authenticate": f'{_REALM}, error="invalid_request"'},
        )
    return token.strip()


def auth_middleware(settings: ApiAuthSettings) -> Middleware:
    """Authenticate requests to scoped routes and check the key's scope."""
    keyring = KeyRing(settings.keys)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        scope = required_scope(request)
        if scope is None:
            return await handler(request)
        if not settings.enabled:
            request[PRINCIPAL] = Principal(
                name="anonymous",
                scopes=frozenset({"read", "write"}),
                client=f"address:{request.remote or 'unknown'}",
            )
            return await handler(request)
        key = keyring.identify(_bearer_token(request))
        if key is None:
            raise Unauthorized(
                "invalid API key",
                headers={"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
            )
        request[PRINCIPAL] = Principal(name=key.name, scopes=key.scopes, client=key.name)
        with structlog.contextvars.bound_contextvars(api_key=key.name):
            if scope not in key.scopes:
                raise Forbidden(
                    f"API key {key.name!r} lacks the {scope!r} scope that "
                    f"{request.method} {request.path} needs",
                    required_scope=scope,
                    headers={
                        "WWW-Authenticate": (
                            f'{_REALM}, error="insufficient_scope", scope="{scope}"'
                        )
                    },
                )
            return await handler(request)

    return authenticate
