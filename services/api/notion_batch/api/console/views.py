"""The console's pages, their live fragments, and its actions.

Pages are rendered on the server (autoescaped: every string from Notion shows as text); the
``live/…`` fragments are the same partial templates, fetched again every few seconds by
``console.js``. Actions go through the REST API's own code (``views.perform_*``), after the
session, its CSRF token and its scope are checked.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
import structlog
from aiohttp import web

from notion_batch.api import views as api_views
from notion_batch.api.auth import PRINCIPAL, Principal
from notion_batch.api.console.context import SESSIONS
from notion_batch.api.console.sessions import Session, Sessions
from notion_batch.api.context import BATCHES, DEFAULTS, REPORTS
from notion_batch.api.requests import page_id, parse_extend
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
#: Rows the list shows (newest start first); the REST API pages through all of them.
LIST_LIMIT = 200
#: To-dos and runs a page view shows.
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
) -> web.Response:
    sessions = request.app[SESSIONS]
    base = {
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
    if request.cookies.get(_FLASH_COOKIE) is not None:
        response.del_cookie(_FLASH_COOKIE, path="/console")
    return response


def _read_flash(request: web.Request) -> str | None:
    raw = request.cookies.get(_FLASH_COOKIE)
    if not raw:
        return None
    try:
        return base64.urlsafe_b64decode(raw.encode()).decode()
    except ValueError:
        return None


def _redirect(location: str, *, flash: str | None = None) -> web.Response:
    # Returned, not raised: the access log and metrics then see the 303 it is.
    redirect = web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
    if flash is not None:
        # Shown once on the next page, then deleted; escaped like everything else there.
        # (base64: a cookie's value is ASCII without blanks or quotes).
        value = base64.urlsafe_b64encode(flash[:300].encode()).decode()
        redirect.set_cookie(_FLASH_COOKIE, value, path="/console", httponly=True, samesite="Strict")
    return redirect


def _principal(request: web.Request, session: Session) -> None:
    # The access log names the key, as for the REST API.
    request[PRINCIPAL] = Principal(session.key_name, session.scopes, client=session.key_name)


def page(view: View) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A page for anyone signed in (``read``); others go to the sign-in form."""

    async def handler(request: web.Request) -> web.StreamResponse:
        session = await _session(request)
        if session is None:
            if request.path.startswith("/console/live/"):
                return _refused(request, None, 401, "Your session has ended: sign in again.")
            return _redirect("/console/login")
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
        return await view(request, session)

    return handler


async def _session(request: web.Request) -> Session | None:
    sessions = request.app[SESSIONS]
    return sessions.read(request)


def _refused(request: web.Request, session: Session | None, status: int, why: str) -> web.Response:
    return _html(request, "refused.html", {"why": why}, session=session, status=status)


# -- signing in and out ---------------------------------------------------------------------


async def login_form(request: web.Request) -> web.StreamResponse:
    sessions = request.app[SESSIONS]
    if not sessions.auth_enabled:
        return _signed_in(request, sessions.issue(None)[0], "/console")
    if sessions.read(request) is not None:
        return _redirect("/console")
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
        return _signed_in(request, sessions.issue(None)[0], "/console")
    presented = form.get("api_key")
    key = None
    if isinstance(presented, str) and presented.strip():
        key = sessions.identify(presented.strip())
    if key is None:
        log.info("console_sign_in_refused")
        return _login_page(request, error="That is not one of this API's keys.", status=401)
    log.info("console_signed_in", api_key=key.name, scopes=sorted(key.scopes))
    return _signed_in(request, sessions.issue(key)[0], "/console")


def _signed_in(request: web.Request, cookie: str, location: str) -> web.StreamResponse:
    redirect = _redirect(location)
    request.app[SESSIONS].set_cookie(request, redirect, cookie)
    redirect.del_cookie("nb_console_login", path="/console")
    return redirect


async def _logout(request: web.Request, session: Session) -> web.StreamResponse:
    log.info("console_signed_out", api_key=session.key_name)
    redirect = _redirect("/console/login")
    Sessions.end(redirect)
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
    return {"overview": overview, "states": STATES}


@page
async def overview(request: web.Request, session: Session) -> web.StreamResponse:
    return _html(request, "overview.html", await _overview_context(request), session=session)


@page
async def overview_live(request: web.Request, session: Session) -> web.StreamResponse:
    return _html(request, "_overview.html", await _overview_context(request), session=session)


_HEX_ONLY = re.compile(r"[0-9a-f]+")
_CONSOLE_PATH = re.compile(r"/console/[A-Za-z0-9/_-]*")


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


async def _list_context(request: web.Request) -> dict[str, Any]:
    state = request.query.get("state", "")
    query = request.query.get("q", "")
    fragment, search_note = _search(query)
    batches: list[Any] = []
    if fragment != "":
        batches = await request.app[BATCHES].listing(
            state=state if state in STATES else None, id_fragment=fragment, limit=LIST_LIMIT
        )
    return {
        "batches": batches,
        "state": state if state in STATES else "",
        "q": query,
        "search_note": search_note,
        "states": STATES,
        "limit": LIST_LIMIT,
        "query_string": request.query_string,
        "defaults": request.app[DEFAULTS],
    }


@page
async def batch_list(request: web.Request, session: Session) -> web.StreamResponse:
    return _html(request, "batches.html", await _list_context(request), session=session)


@page
async def batch_list_live(request: web.Request, session: Session) -> web.StreamResponse:
    return _html(request, "_batches.html", await _list_context(request), session=session)


def _page_id(request: web.Request) -> str:
    return page_id(request.match_info["notion_page_id"], in_path=True)


async def _page_context(request: web.Request, notion_page_id: str) -> dict[str, Any] | None:
    status = await request.app[BATCHES].status(notion_page_id)
    if status is None:
        return None
    reports = request.app[REPORTS]
    counts = await reports.todo_counts(notion_page_id)
    total = sum(counts.values())
    processed = counts["done"] + counts["skipped"]
    return {
        "status": status,
        "counts": counts,
        "total": total,
        "percent": 100 if total == 0 else processed * 100 // total,
        "shares": {k: (v * 100 / total if total else 0) for k, v in counts.items()},
        "runs": await reports.runs(notion_page_id, before=None, limit=RUNS_LIMIT),
        "todos": await reports.todos(notion_page_id, statuses=None, after=None, limit=TODOS_LIMIT),
        "todos_limit": TODOS_LIMIT,
        "defaults": request.app[DEFAULTS],
    }


async def _page_or_404(request: web.Request, session: Session, template: str) -> web.StreamResponse:
    try:
        notion_page_id = _page_id(request)
    except NotionBatchError as exc:
        return _refused(request, session, 404, str(exc))
    context = await _page_context(request, notion_page_id)
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
        return _redirect(back, flash=f"Refused: {exc}")
    return _redirect(back, flash=str(answer["message"]))


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
            back = "/console/batches"
        return _redirect(back, flash=f"Refused: {exc}")
    back = f"/console/pages/{wanted.notion_page_id}"
    return await _act(request, back, lambda: api_views.perform_start(request, wanted))


@action
async def stop(request: web.Request, session: Session) -> web.StreamResponse:
    notion_page_id = _page_id(request)
    back = f"/console/pages/{notion_page_id}"
    return await _act(request, back, lambda: api_views.perform_stop(request, notion_page_id))


@action
async def extend(request: web.Request, session: Session) -> web.StreamResponse:
    notion_page_id = _page_id(request)
    back = f"/console/pages/{notion_page_id}"
    seconds = _seconds(await request.post(), "minutes", per=60)
    if seconds is None:
        return _redirect(back, flash="Refused: give the minutes to add.")

    async def act() -> dict[str, Any]:
        added = parse_extend({"duration_seconds": seconds})  # as the REST API checks it
        return await api_views.perform_extend(request, notion_page_id, added)

    return await _act(request, back, act)
