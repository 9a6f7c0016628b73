"""The console's pages, their live fragments, and its actions.

Pages are rendered on the server (autoescaped: every string from Notion shows as text); the
``live/…`` fragments are the same partial templates, fetched again every few seconds by
``console.js``. Actions go through the REST API's own code (``views.perform_*``), after the
session, its CSRF token and its scope are checked, and take from the REST API's write
throttle under the same client. Lists page with the REST API's cursors ("older →").

Every path here is the console's own (``/pages/…``); :func:`console_root` puts it under the
console as the browser sees it (``/console``, or behind a proxy's ``X-Forwarded-Prefix``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp_jinja2
import structlog
from aiohttp import web

from notion_batch.api import views as api_views
from notion_batch.api.auth import PRINCIPAL, Principal
from notion_batch.api.console.context import SESSIONS
from notion_batch.api.console.sessions import Session, Sessions, console_root
from notion_batch.api.context import (
    BATCHES,
    DEFAULTS,
    NOTION_CALLS,
    REPORTS,
    REVOKED_SESSIONS,
)
from notion_batch.api.errors import RateLimited
from notion_batch.api.requests import (
    page_id,
    parse_extend,
    parse_running_cursor,
    parse_todo_cursor,
    running_cursor,
    todo_cursor,
)
from notion_batch.api.write_throttle import WRITE_THROTTLE
from notion_batch.common.db.batches import RunningCursor
from notion_batch.common.db.reports import TodoCursor
from notion_batch.common.errors import NotionBatchError

log = structlog.get_logger(__name__)

#: Everything the console loads comes from this server; no inline script or style at all.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages show live state and per-session tokens: never from a cache.
    "Cache-Control": "no-store",
}
STATES = ("running", "completed", "failed", "idle")
#: Rows a page of the list shows (newest start first); "older →" shows the next ones.
LIST_LIMIT = 200
#: To-dos a page of a page view shows (page order; "later →" shows the next ones), and runs.
TODOS_LIMIT = 500
RUNS_LIMIT = 20
_FLASH_COOKIE = "nb_console_flash"

View = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _html(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    session: Session | None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    sessions = request.app[SESSIONS]
    base = {
        "root": console_root(request),
        "auth_disabled": not sessions.auth_enabled,
        "session": session,
        "csrf": sessions.csrf_token(session) if session is not None else "",
        "may_write": session is not None and session.may("write"),
        "flash": _read_flash(request),
        "when": _when,
    }
    text = aiohttp_jinja2.render_string(template, request, {**base, **context})
    response = web.Response(text=text, status=status, content_type="text/html")
    response.headers.update(_SECURITY_HEADERS)
    response.headers.update(headers or {})
    if request.cookies.get(_FLASH_COOKIE) is not None:
        response.del_cookie(_FLASH_COOKIE, path=console_root(request))
    return response


def _read_flash(request: web.Request) -> str | None:
    raw = request.cookies.get(_FLASH_COOKIE)
    if not raw:
        return None
    try:
        return base64.urlsafe_b64decode(raw.encode()).decode()
    except ValueError:
        return None


def _redirect(request: web.Request, path: str, *, flash: str | None = None) -> web.Response:
    """A 303 to the console's ``path`` (``""``: the overview, ``/login``, ``/pages/…``)."""
    root = console_root(request)
    # Returned, not raised: the access log and metrics then see the 303 it is.
    redirect = web.Response(
        status=303, headers={"Location": root + path, "Cache-Control": "no-store"}
    )
    if flash is not None:
        # Shown once on the next page, then deleted; escaped like everything else there.
        # (base64: a cookie's value is ASCII without blanks or quotes).
        value = base64.urlsafe_b64encode(flash[:300].encode()).decode()
        redirect.set_cookie(_FLASH_COOKIE, value, path=root, httponly=True, samesite="Strict")
    return redirect


def _principal(request: web.Request, session: Session) -> Principal:
    # The access log names the key, as for the REST API; the client owning the write bucket
    # is the REST API's too: the key, or the address while authentication is disabled.
    sessions = request.app[SESSIONS]
    client = session.key_name if sessions.auth_enabled else f"address:{request.remote or 'unknown'}"
    principal = Principal(session.key_name, session.scopes, client=client)
    request[PRINCIPAL] = principal
    return principal


def page(view: View) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A page for anyone signed in (``read``); others go to the sign-in form."""

    async def handler(request: web.Request) -> web.StreamResponse:
        session = await _session(request)
        if session is None:
            if request.path.startswith("/console/live/"):
                return _refused(request, None, 401, "Your session has ended: sign in again.")
            return _redirect(request, "/login")
        if not session.may("read"):
            return _refused(request, session, 403, "This API key may not read batches.")
        _principal(request, session)
        return await view(request, session)

    return handler


def action(view: View) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A POST that changes something: a session with ``write``, and its CSRF token."""

    async def handler(request: web.Request) -> web.StreamResponse:
        session = await _session(request)
        form = await request.post()
        if session is None:
            return _refused(request, None, 403, "Sign in first.")
        _principal(request, session)
        token = form.get("csrf")
        if not request.app[SESSIONS].csrf_ok(session, token if isinstance(token, str) else None):
            log.warning("console_csrf_refused", route=request.path)
            return _refused(request, session, 403, "This form has expired: reload the page.")
        if not session.may("write"):
            log.warning("console_write_refused", route=request.path)
            return _refused(request, session, 403, "This API key may only read (no write scope).")
        try:
            # The same buckets as the REST API's writes: a console is no way around them.
            request.app[WRITE_THROTTLE].take(request[PRINCIPAL].client)
        except RateLimited as exc:
            return _refused(request, session, exc.status, str(exc), headers=exc.headers)
        return await view(request, session)

    return handler


async def _session(request: web.Request) -> Session | None:
    """The request's session: signed, unexpired, of a key still configured, not signed out."""
    session = request.app[SESSIONS].read(request)
    if session is None or await request.app[REVOKED_SESSIONS].revoked(session.session_id):
        return None
    return session


def _refused(
    request: web.Request,
    session: Session | None,
    status: int,
    why: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return _html(
        request, "refused.html", {"why": why}, session=session, status=status, headers=headers
    )


# -- signing in and out ---------------------------------------------------------------------


async def login_form(request: web.Request) -> web.StreamResponse:
    sessions = request.app[SESSIONS]
    if not sessions.auth_enabled:
        return _signed_in(request, sessions.issue(None)[0], "")
    if await _session(request) is not None:
        return _redirect(request, "")
    return _login_page(request, error=None, status=200)


def _login_page(request: web.Request, *, error: str | None, status: int) -> web.Response:
    sessions = request.app[SESSIONS]
    token, nonce = sessions.login_form(request)
    response = _html(
        request, "login.html", {"login_csrf": token, "error": error}, session=None, status=status
    )
    if nonce is not None:
        sessions.set_login_cookie(request, response, nonce)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    sessions = request.app[SESSIONS]
    form = await request.post()
    token = form.get("csrf")
    if not sessions.login_csrf_ok(request, token if isinstance(token, str) else None):
        return _login_page(request, error="The form had expired; try again.", status=403)
    if not sessions.auth_enabled:
        return _signed_in(request, sessions.issue(None)[0], "")
    presented = form.get("api_key")
    key = None
    if isinstance(presented, str) and presented.strip():
        key = sessions.identify(presented.strip())
    if key is None:
        log.info("console_sign_in_refused")
        return _login_page(request, error="That is not one of this API's keys.", status=401)
    log.info("console_signed_in", api_key=key.name, scopes=sorted(key.scopes))
    return _signed_in(request, sessions.issue(key)[0], "")


def _signed_in(request: web.Request, cookie: str, path: str) -> web.StreamResponse:
    redirect = _redirect(request, path)
    request.app[SESSIONS].set_cookie(request, redirect, cookie)
    redirect.del_cookie("nb_console_login", path=console_root(request))
    return redirect


async def _logout(request: web.Request, session: Session) -> web.StreamResponse:
    # Revoked first: a copy of the cookie (another tab, a stolen one) is refused from now on,
    # on every replica, whatever this browser does with the deletion below.
    expires_at = datetime.fromtimestamp(session.expires_at, UTC)
    await request.app[REVOKED_SESSIONS].revoke(session.session_id, expires_at=expires_at)
    log.info("console_signed_out", api_key=session.key_name)
    redirect = _redirect(request, "/login")
    Sessions.end(request, redirect)
    return redirect


async def logout(request: web.Request) -> web.StreamResponse:
    # Any signed-in session may sign out, read-only ones too: CSRF checked, no scope asked.
    session = await _session(request)
    form = await request.post()
    token = form.get("csrf")
    if session is None or not request.app[SESSIONS].csrf_ok(
        session, token if isinstance(token, str) else None
    ):
        return _refused(request, session, 403, "This form has expired: reload the page.")
    return await _logout(request, session)


# -- pages ----------------------------------------------------------------------------------


async def _overview_context(request: web.Request) -> dict[str, Any]:
    stall_seconds = request.app[DEFAULTS].stall_seconds
    overview = await request.app[REPORTS].overview(stall_seconds=stall_seconds)
    calls = await request.app[NOTION_CALLS].recent()
    totals = {
        field: sum(getattr(c, field) for c in calls)
        for field in (
            "last_minute_calls",
            "last_minute_rate_limited",
            "this_minute_calls",
            "this_minute_rate_limited",
        )
    }
    return {"overview": overview, "states": STATES, "calls": calls, "call_totals": totals}


@page
async def overview(request: web.Request, session: Session) -> web.StreamResponse:
    return _html(request, "overview.html", await _overview_context(request), session=session)


@page
async def overview_live(request: web.Request, session: Session) -> web.StreamResponse:
    return _html(request, "_overview.html", await _overview_context(request), session=session)


_HEX_ONLY = re.compile(r"[0-9a-f]+")
#: A form's ``back``: a path of the console's own (under its root), nothing else.
_CONSOLE_PATH = re.compile(r"/[A-Za-z0-9_-][A-Za-z0-9/_-]*")


def _search(raw: str) -> tuple[str | None, str | None]:
    """The id fragment to search for, and what to tell the person about their search."""
    text = raw.strip()
    if not text:
        return None, None
    try:
        return page_id(text).replace("-", ""), None  # a whole id or a Notion URL
    except NotionBatchError:
        pass
    fragment = text.lower().replace("-", "")
    if _HEX_ONLY.fullmatch(fragment) and len(fragment) <= 32:
        return fragment, None
    return "", (
        "Search is by page id (or a part of it, or the page's URL): page titles are not "
        "stored, so they cannot be searched."
    )


def _query_string(request: web.Request, **changed: str | None) -> str:
    """The request's query with ``changed`` set (``None``: left out), as ``?…`` or ``""``."""
    values = {k: v for k, v in request.query.items() if k not in changed}
    values.update({k: v for k, v in changed.items() if v is not None})
    return "?" + urlencode(values) if values else ""


class _BadCursor(Exception):
    """A ``?cursor=`` that is not one a page of ours gave (answered 400)."""


_Cursor = TypeVar("_Cursor")


def _cursor_of(request: web.Request, parse: Callable[[str], _Cursor]) -> _Cursor | None:
    raw = request.query.get("cursor")
    if raw is None:
        return None
    try:
        return parse(raw)
    except NotionBatchError as exc:
        raise _BadCursor(str(exc)) from None


async def _list_context(request: web.Request) -> dict[str, Any]:
    state = request.query.get("state", "")
    query = request.query.get("q", "")
    after: RunningCursor | None = _cursor_of(request, parse_running_cursor)
    fragment, search_note = _search(query)
    batches: list[Any] = []
    if fragment != "":
        # One row more than shown tells whether an older page follows.
        batches = await request.app[BATCHES].listing(
            state=state if state in STATES else None,
            id_fragment=fragment,
            limit=LIST_LIMIT + 1,
            after=after,
        )
    more = len(batches) > LIST_LIMIT
    batches = batches[:LIST_LIMIT]
    return {
        "batches": batches,
        "state": state if state in STATES else "",
        "q": query,
        "search_note": search_note,
        "states": STATES,
        "paged": after is not None,
        "first_page": _query_string(request, cursor=None),
        "older": _query_string(request, cursor=running_cursor(batches[-1].cursor))
        if more
        else None,
        "query_string": _query_string(request),
        "defaults": request.app[DEFAULTS],
    }


async def _list(request: web.Request, session: Session, template: str) -> web.StreamResponse:
    try:
        context = await _list_context(request)
    except _BadCursor as exc:
        return _refused(request, session, 400, str(exc))
    return _html(request, template, context, session=session)


@page
async def batch_list(request: web.Request, session: Session) -> web.StreamResponse:
    return await _list(request, session, "batches.html")


@page
async def batch_list_live(request: web.Request, session: Session) -> web.StreamResponse:
    return await _list(request, session, "_batches.html")


def _page_id(request: web.Request) -> str:
    return page_id(request.match_info["notion_page_id"], in_path=True)


async def _page_context(request: web.Request, notion_page_id: str) -> dict[str, Any] | None:
    status = await request.app[BATCHES].status(notion_page_id)
    if status is None:
        return None
    reports = request.app[REPORTS]
    after: TodoCursor | None = _cursor_of(request, parse_todo_cursor)
    counts = await reports.todo_counts(notion_page_id)
    total = sum(counts.values())
    processed = counts["done"] + counts["skipped"]
    # One more than shown tells whether later to-dos follow.
    todos = await reports.todos(notion_page_id, statuses=None, after=after, limit=TODOS_LIMIT + 1)
    more = len(todos) > TODOS_LIMIT
    todos = todos[:TODOS_LIMIT]
    return {
        "status": status,
        "counts": counts,
        "total": total,
        "percent": 100 if total == 0 else processed * 100 // total,
        "shares": {k: (v * 100 / total if total else 0) for k, v in counts.items()},
        "runs": await reports.runs(notion_page_id, before=None, limit=RUNS_LIMIT),
        "todos": todos,
        "todos_paged": after is not None,
        "todos_first": _query_string(request, cursor=None),
        "todos_later": _query_string(request, cursor=todo_cursor(todos[-1].cursor))
        if more
        else None,
        "query_string": _query_string(request),
        "defaults": request.app[DEFAULTS],
    }


async def _page_or_404(request: web.Request, session: Session, template: str) -> web.StreamResponse:
    try:
        notion_page_id = _page_id(request)
    except NotionBatchError as exc:
        return _refused(request, session, 404, str(exc))
    try:
        context = await _page_context(request, notion_page_id)
    except _BadCursor as exc:
        return _refused(request, session, 400, str(exc))
    if context is None:
        return _refused(request, session, 404, f"No batch was ever started for {notion_page_id}.")
    return _html(request, template, context, session=session)


@page
async def page_view(request: web.Request, session: Session) -> web.StreamResponse:
    return await _page_or_404(request, session, "page.html")


@page
async def page_live(request: web.Request, session: Session) -> web.StreamResponse:
    return await _page_or_404(request, session, "_page.html")


# -- actions: through the REST API's own code -----------------------------------------------


def _seconds(form: Any, field: str, *, per: int = 1) -> int | str | None:
    """A form's number field as the JSON body would carry it (``None``: left empty)."""
    raw = form.get(field)
    if not isinstance(raw, str) or not raw.strip():
        return None
    return int(raw) * per if raw.strip().isdigit() else raw


async def _act(
    request: web.Request, back: str, act: Callable[[], Awaitable[dict[str, Any]]]
) -> web.StreamResponse:
    try:
        answer = await act()
    except NotionBatchError as exc:
        return _redirect(request, back, flash=f"Refused: {exc}")
    return _redirect(request, back, flash=str(answer["message"]))


@action
async def start(request: web.Request, session: Session) -> web.StreamResponse:
    form = await request.post()
    body: dict[str, Any] = {"notion_page_id": form.get("notion_page_id", "")}
    for field in ("interval_seconds", "duration_seconds"):
        value = _seconds(form, field)
        if value is not None:
            body[field] = value
    try:
        wanted = api_views.start_request(request, body)
    except NotionBatchError as exc:
        back = form.get("back")
        # Only back to a console page: a form field must not send the browser elsewhere.
        if not isinstance(back, str) or not _CONSOLE_PATH.fullmatch(back):
            back = "/batches"
        return _redirect(request, back, flash=f"Refused: {exc}")
    back = f"/pages/{wanted.notion_page_id}"
    return await _act(request, back, lambda: api_views.perform_start(request, wanted))


@action
async def stop(request: web.Request, session: Session) -> web.StreamResponse:
    notion_page_id = _page_id(request)
    back = f"/pages/{notion_page_id}"
    return await _act(request, back, lambda: api_views.perform_stop(request, notion_page_id))


@action
async def extend(request: web.Request, session: Session) -> web.StreamResponse:
    notion_page_id = _page_id(request)
    back = f"/pages/{notion_page_id}"
    seconds = _seconds(await request.post(), "minutes", per=60)
    if seconds is None:
        return _redirect(request, back, flash="Refused: give the minutes to add.")

    async def act() -> dict[str, Any]:
        added = parse_extend({"duration_seconds": seconds})  # as the REST API checks it
        return await api_views.perform_extend(request, notion_page_id, added)

    return await _act(request, back, act)
