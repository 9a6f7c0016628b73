"""Console sessions: signed, expiring cookies, and the CSRF tokens bound to them.

A session is a cookie the API signs (HMAC-SHA256 with ``CONSOLE_SESSION_SECRET``): the API
key's *name*, a fingerprint of the key, a random session id and an expiry. The key itself is
never in it. Any replica with the same secret accepts it, so nothing is shared but the
setting. Each request checks the signature, the expiry, and that the key is still configured
(same name, same key: the fingerprint); the scopes are the key's as configured now, so a key
removed or narrowed in ``API_KEYS`` takes its sessions with it at the next request.

Signing out writes the session's id to ``console_revoked_sessions`` until its expiry: the
console refuses a listed session on every replica, so a copy of the cookie taken before the
sign-out is worthless after it (the views ask :class:`RevokedSessions`; this module stays
free of I/O).

CSRF: every form that changes something carries ``HMAC(secret, session id)``, checked before
anything else. The sign-in form has no session yet: it is bound to a random nonce in a
short-lived cookie of its own (the same double-submit rule).

Behind a reverse proxy that serves the console under a path prefix (``/ops/console``), the
proxy says so with ``X-Forwarded-Prefix: /ops``: links, redirects and cookie paths then
carry the prefix (:func:`console_root`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from notion_batch.api.auth import KeyRing
from notion_batch.common.config import ApiAuthSettings, ApiKey, Scope

#: The session's cookie, and the sign-in form's nonce cookie; both only sent to the console.
SESSION_COOKIE = "nb_console"
LOGIN_COOKIE = "nb_console_login"
#: Where the console's routes are, as this process serves them.
PREFIX = "/console"
#: An ``X-Forwarded-Prefix`` worth honouring: path segments of URL-safe characters only, so
#: nothing from the header can break out of an ``href`` or a cookie's ``Path``.
_FORWARDED_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~-]+){1,8}")
#: How long a sign-in form stays valid.
LOGIN_FORM_SECONDS = 3600
#: The name a session has while ``API_AUTH=disabled`` (as the REST API's principal).
ANONYMOUS = "anonymous"
_ALL_SCOPES: frozenset[Scope] = frozenset({"read", "write"})


@dataclass(frozen=True)
class Session:
    """Who is signed in: the key's name and its scopes as configured now."""

    key_name: str
    scopes: frozenset[Scope]
    session_id: str
    expires_at: float

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def console_root(request: web.Request) -> str:
    """The console's path as the browser sees it: ``/console``, after the proxy's
    ``X-Forwarded-Prefix`` when one is sent (a header that is not a plain path is ignored)."""
    forwarded = request.headers.get("X-Forwarded-Prefix", "").split(",")[0].strip().rstrip("/")
    if forwarded and _FORWARDED_PREFIX.fullmatch(forwarded):
        return forwarded + PREFIX
    return PREFIX


def over_tls(request: web.Request) -> bool:
    """Whether the browser reached us over TLS, directly or through a proxy that says so."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


class Sessions:
    """Issues and reads console sessions; one per app."""

    def __init__(
        self,
        secret: bytes,
        auth: ApiAuthSettings,
        *,
        lifetime_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._auth = auth
        self._keys = {key.name: key for key in auth.keys}
        self._keyring = KeyRing(auth.keys)
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock

    @property
    def auth_enabled(self) -> bool:
        return self._auth.enabled

    def identify(self, presented: str) -> ApiKey | None:
        """The configured key ``presented`` is, as the REST API checks a bearer key."""
        return self._keyring.identify(presented)

    def _mac(self, purpose: str, data: str) -> str:
        return _b64(hmac.new(self._secret, f"{purpose}|{data}".encode(), hashlib.sha256).digest())

    def _fingerprint(self, key: ApiKey) -> str:
        # Of the key's digest, keyed: says "the same key" without telling anything about it.
        return self._mac("key", key.sha256.hex())[:22]

    # -- sessions ---------------------------------------------------------------------------

    def issue(self, key: ApiKey | None) -> tuple[str, Session]:
        """A new session for ``key`` (``None``: the anonymous one of ``API_AUTH=disabled``):
        the cookie's value and the session."""
        name = key.name if key is not None else ANONYMOUS
        session_id = secrets.token_urlsafe(18)
        expires = int(self._clock() + self.lifetime_seconds)
        payload = {
            "k": name,
            "f": self._fingerprint(key) if key is not None else "",
            "s": session_id,
            "e": expires,
        }
        data = _b64(json.dumps(payload, separators=(",", ":")).encode())
        scopes: frozenset[Scope] = key.scopes if key is not None else _ALL_SCOPES
        return f"{data}.{self._mac('session', data)}", Session(name, scopes, session_id, expires)

    def read(self, request: web.Request) -> Session | None:
        """The request's valid session, if it has one: signed by us, unexpired, and of a key
        still configured."""
        payload = self._payload(request.cookies.get(SESSION_COOKIE, ""))
        if payload is None:
            return None
        name, fingerprint, session_id, expires = payload
        if not self._auth.enabled:
            # Every request is allowed anyway; the session is there for the CSRF token.
            return Session(name, _ALL_SCOPES, session_id, expires)
        key = self._keys.get(name)
        if key is None or not hmac.compare_digest(fingerprint, self._fingerprint(key)):
            return None
        return Session(name, key.scopes, session_id, expires)

    def _payload(self, cookie: str) -> tuple[str, str, str, float] | None:
        data, _, mac = cookie.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac("session", data)):
            return None
        try:
            payload = json.loads(_unb64(data))
            found = (str(payload["k"]), str(payload["f"]), str(payload["s"]), float(payload["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return found if found[3] > self._clock() else None

    def set_cookie(self, request: web.Request, response: web.StreamResponse, value: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=self.lifetime_seconds,
            path=console_root(request),
            httponly=True,
            samesite="Strict",
            secure=over_tls(request),
        )

    @staticmethod
    def end(request: web.Request, response: web.StreamResponse) -> None:
        """Tell the browser to forget its session cookie (what makes the session unusable
        is its revocation, which the caller writes)."""
        response.del_cookie(SESSION_COOKIE, path=console_root(request))

    # -- CSRF -------------------------------------------------------------------------------

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.session_id)

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf_token(session))

    def login_form(self, request: web.Request) -> tuple[str, str | None]:
        """The sign-in form's CSRF token, and the nonce to set with :meth:`set_login_cookie`
        when the browser has none yet (``None``: it has one)."""
        nonce = request.cookies.get(LOGIN_COOKIE)
        if nonce and len(nonce) <= 64:
            return self._mac("login", nonce), None
        nonce = secrets.token_urlsafe(18)
        return self._mac("login", nonce), nonce

    @staticmethod
    def set_login_cookie(request: web.Request, response: web.StreamResponse, nonce: str) -> None:
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=LOGIN_FORM_SECONDS,
            path=console_root(request),
            httponly=True,
            samesite="Strict",
            secure=over_tls(request),
        )

    def login_csrf_ok(self, request: web.Request, presented: str | None) -> bool:
        nonce = request.cookies.get(LOGIN_COOKIE)
        if not nonce or presented is None:
            return False
        return hmac.compare_digest(presented, self._mac("login", nonce))
