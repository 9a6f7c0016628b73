"""Request bodies, path and query parameters, parsed and validated into typed values.

Every rejection is a :class:`RequestInvalid` naming the offending field, which the error
middleware answers with 400 and ``{"success": false, "message": …, "field": …}``.

What is accepted here is exactly what the OpenAPI document promises (the patterns and
bounds below are used by both), so a client can rely on the document alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from notion_batch.api.errors import ApiError
from notion_batch.common.config import DEFAULT_INTEGRATION, BatchDefaults
from notion_batch.common.db.batches import NewBatch, RunningCursor
from notion_batch.common.db.reports import TodoCursor
from notion_batch.common.errors import InvalidPageId
from notion_batch.common.ids import ACCEPTED_FORMS, CANONICAL_ID, canonical_page_id

MAX_INTERVAL_SECONDS = 86_400
MAX_DURATION_SECONDS = 30 * 86_400

#: ``Idempotency-Key``: 1 to 255 visible ASCII characters (a UUID is a good choice).
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)

#: Cursors are transparent on purpose: any value matching them is a valid place to start.
HISTORY_CURSOR_PATTERN = r"^[1-9][0-9]{0,17}$"
#: A to-do's position and block id (as we answer it).
TODO_CURSOR_PATTERN = rf"^(?:0|[1-9][0-9]{{0,8}}):{CANONICAL_ID}$"
_HISTORY_CURSOR = re.compile(HISTORY_CURSOR_PATTERN)
_TODO_CURSOR = re.compile(TODO_CURSOR_PATTERN)
#: The running list's cursor: the last batch's start time (microseconds since the epoch) and
#: page id, the list's order. At most 17 digits: a start before the year 5000, within what
#: Python's datetime can hold (an 18-digit one could overflow it).
RUNNING_CURSOR_PATTERN = rf"^(?:0|[1-9][0-9]{{0,16}}):{CANONICAL_ID}$"
_RUNNING_CURSOR = re.compile(RUNNING_CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TODO_STATUSES = ("pending", "done", "skipped")
HISTORY_LIMIT = (1, 20, 100)  # minimum, default, maximum
TODOS_LIMIT = (1, 100, 500)
#: The list of running batches: one page holds every batch of most deployments.
RUNNING_LIMIT = (1, 100, 1000)


class RequestInvalid(ApiError):
    """400: the request is malformed; ``field`` names what was wrong when one thing was."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        if field:
            super().__init__(message, field=field, **extra)
        else:
            super().__init__(message, **extra)
        self.field = field


@dataclass(frozen=True)
class StartRequest:
    notion_page_id: str
    interval_seconds: int
    duration_seconds: int
    #: The installed handler the batch runs on its to-dos; ``None``: the worker's default.
    handler: str | None
    #: The Notion integration the batch works through (``default``: ``NOTION_TOKEN``'s).
    integration: str
    #: What the request means, for ``Idempotency-Key``: the same start said differently (a URL
    #: instead of the id, other spacing) hashes the same; defaults are not filled in, so a
    #: retry after a configuration change still matches.
    fingerprint: str

    def batch(self, message: str) -> NewBatch:
        """What to write for this start."""
        return NewBatch(
            notion_page_id=self.notion_page_id,
            interval_seconds=self.interval_seconds,
            duration_seconds=self.duration_seconds,
            message=message,
            handler=self.handler,
            integration=self.integration,
        )


@dataclass(frozen=True)
class HistoryQuery:
    before: int | None
    limit: int


@dataclass(frozen=True)
class RunningQuery:
    after: RunningCursor | None
    limit: int


@dataclass(frozen=True)
class TodosQuery:
    statuses: tuple[str, ...] | None
    after: TodoCursor | None
    limit: int


def page_id(value: str, *, in_path: bool = False) -> str:
    """The canonical dashed UUID of a page id given in any form :mod:`notion_batch.common.ids`
    accepts; a 400 naming the accepted forms otherwise."""
    try:
        return canonical_page_id(value, in_path=in_path)
    except InvalidPageId as exc:
        raise RequestInvalid(
            str(exc), field="notion_page_id", accepted_forms=list(ACCEPTED_FORMS)
        ) from None


def page_id_from_path(request: web.Request) -> str:
    return page_id(request.match_info["notion_page_id"], in_path=True)


async def json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise RequestInvalid("request body must be a JSON object, got an empty body")
    return parse_json_object(raw)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a JSON object; :class:`RequestInvalid` (400) saying why when it is not one."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestInvalid(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise RequestInvalid("request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise RequestInvalid(f"request body must be a JSON object, got {type(body).__name__}")
    return body


def _reject_unknown(body: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise RequestInvalid(
            f"unknown field {unknown[0]!r}; accepted fields are {', '.join(sorted(known))}",
            field=unknown[0],
        )


def _positive_int(body: dict[str, Any], field: str, default: int, maximum: int) -> int:
    value = body.get(field, default)
    # JSON has one number type: 60.0 is the integer 60 (as JSON Schema reads it), 1.5 is not.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # bool is an int in Python; JSON true is not a number of seconds.
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestInvalid(f"{field} must be an integer number of seconds", field=field)
    if not 1 <= value <= maximum:
        raise RequestInvalid(f"{field} must be between 1 and {maximum}, got {value}", field=field)
    return value


def _one_of(body: dict[str, Any], field: str, allowed: Collection[str], what: str) -> str | None:
    """The body's ``field`` if it is one of ``allowed`` (``what`` names them for people);
    ``None`` when it is absent or null."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        shown = repr(value[:100]) if isinstance(value, str) else type(value).__name__
        raise RequestInvalid(
            f"{field} must be one of the {what} ({', '.join(allowed)}), got {shown}", field=field
        )
    return value


def _integration(body: dict[str, Any], integrations: Collection[str]) -> str:
    found = _one_of(body, "integration", integrations, "configured integrations")
    return found or DEFAULT_INTEGRATION


def parse_start(
    body: dict[str, Any],
    defaults: BatchDefaults,
    handlers: Collection[str],
    integrations: Collection[str] = (DEFAULT_INTEGRATION,),
) -> StartRequest:
    """A start request; ``handlers`` are the installed handlers' names a batch may choose,
    ``integrations`` the configured Notion integrations' names."""
    _reject_unknown(
        body,
        {"notion_page_id", "interval_seconds", "duration_seconds", "handler", "integration"},
    )
    page = body.get("notion_page_id")
    if page is None:
        raise RequestInvalid("notion_page_id is required", field="notion_page_id")
    if not isinstance(page, str):
        raise RequestInvalid("notion_page_id must be a string", field="notion_page_id")
    canonical = page_id(page)
    interval = _positive_int(
        body, "interval_seconds", defaults.interval_seconds, MAX_INTERVAL_SECONDS
    )
    duration = _positive_int(
        body, "duration_seconds", defaults.duration_seconds, MAX_DURATION_SECONDS
    )
    handler = _one_of(body, "handler", sorted(handlers), "installed handlers")
    integration = _integration(body, integrations)
    meaning: dict[str, Any] = {
        "operation": "start",
        "notion_page_id": canonical,
        "interval_seconds": interval if "interval_seconds" in body else None,
        "duration_seconds": duration if "duration_seconds" in body else None,
    }
    # Only when chosen: a start without one keeps the fingerprint it had before handlers.
    if handler is not None:
        meaning["handler"] = handler
    if integration != DEFAULT_INTEGRATION:
        meaning["integration"] = integration
    fingerprint = hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()
    return StartRequest(canonical, interval, duration, handler, integration, fingerprint)


def parse_extend(body: dict[str, Any]) -> int:
    """The seconds to add to a running batch."""
    _reject_unknown(body, {"duration_seconds"})
    if "duration_seconds" not in body:
        raise RequestInvalid("duration_seconds is required", field="duration_seconds")
    return _positive_int(body, "duration_seconds", 0, MAX_DURATION_SECONDS)


def idempotency_key(request: web.Request) -> str | None:
    """The request's ``Idempotency-Key``, if it sent one."""
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise RequestInvalid(
            "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID will do)",
            field="Idempotency-Key",
        )
    return value


def _query(request: web.Request, known: set[str]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in request.query.items():
        if name not in known:
            raise RequestInvalid(
                f"unknown query parameter {name!r}; accepted are {', '.join(sorted(known))}",
                field=name,
            )
        values.setdefault(name, []).append(value)
    for name, given in values.items():
        if len(given) > 1 and name != "status":
            raise RequestInvalid(f"query parameter {name!r} is given twice", field=name)
    return values


def _limit(values: dict[str, list[str]], bounds: tuple[int, int, int]) -> int:
    minimum, default, maximum = bounds
    if "limit" not in values:
        return default
    raw = values["limit"][0]
    if not re.fullmatch(r"-?[0-9]{1,9}", raw):
        raise RequestInvalid(f"limit must be an integer, got {raw[:50]!r}", field="limit")
    limit = int(raw)
    if not minimum <= limit <= maximum:
        raise RequestInvalid(
            f"limit must be between {minimum} and {maximum}, got {limit}", field="limit"
        )
    return limit


def _cursor(values: dict[str, list[str]], pattern: re.Pattern[str], shape: str) -> str | None:
    """A list's ``?cursor=``: ``None`` for the first page, else a ``next_cursor`` it gave."""
    if "cursor" not in values:
        return None
    raw = values["cursor"][0]
    if not pattern.fullmatch(raw):
        raise _bad_cursor(shape)
    return raw


def _bad_cursor(shape: str) -> RequestInvalid:
    return RequestInvalid(
        f"cursor must be the next_cursor of a previous answer ({shape})", field="cursor"
    )


def parse_history_query(request: web.Request) -> HistoryQuery:
    values = _query(request, {"limit", "cursor"})
    raw = _cursor(values, _HISTORY_CURSOR, "a run id")
    before = None if raw is None else int(raw)
    return HistoryQuery(before=before, limit=_limit(values, HISTORY_LIMIT))


def parse_running_query(request: web.Request) -> RunningQuery:
    values = _query(request, {"limit", "cursor"})
    after = None
    if "cursor" in values:
        after = parse_running_cursor(values["cursor"][0])
    return RunningQuery(after=after, limit=_limit(values, RUNNING_LIMIT))


def parse_running_cursor(raw: str) -> RunningCursor:
    """A :func:`running_cursor` read back (the console's batch list pages with it too)."""
    if not _RUNNING_CURSOR.fullmatch(raw):
        raise _bad_cursor("start time:page id")
    micros, _, page = raw.partition(":")
    return RunningCursor(_EPOCH + timedelta(microseconds=int(micros)), page)


def running_cursor(cursor: RunningCursor) -> str:
    # Whole microseconds, PostgreSQL's precision: the cursor names the batch exactly.
    return f"{(cursor.start_time - _EPOCH) // timedelta(microseconds=1)}:{cursor.notion_page_id}"


def parse_todos_query(request: web.Request) -> TodosQuery:
    values = _query(request, {"limit", "cursor", "status"})
    statuses: tuple[str, ...] | None = None
    if "status" in values:
        # ?status=done,skipped (as documented) and ?status=done&status=skipped alike.
        wanted = [s for raw in values["status"] for s in raw.split(",")]
        for status in wanted:
            if status not in TODO_STATUSES:
                raise RequestInvalid(
                    f"status must be one or more of {', '.join(TODO_STATUSES)}, "
                    f"got {status[:50]!r}",
                    field="status",
                )
        statuses = tuple(dict.fromkeys(wanted))
    after = None
    if "cursor" in values:
        after = parse_todo_cursor(values["cursor"][0])
    return TodosQuery(statuses=statuses, after=after, limit=_limit(values, TODOS_LIMIT))


def parse_todo_cursor(raw: str) -> TodoCursor:
    """A :func:`todo_cursor` read back (the console's to-do list pages with it too)."""
    if not _TODO_CURSOR.fullmatch(raw):
        raise _bad_cursor("position:block id")
    position, _, block_id = raw.partition(":")
    return TodoCursor(int(position), block_id)


def parse_integration_query(request: web.Request, integrations: Collection[str]) -> str:
    """``?integration=NAME`` (default: ``default``), one of the configured integrations."""
    values = _query(request, {"integration"})
    if "integration" not in values:
        return DEFAULT_INTEGRATION
    return _integration({"integration": values["integration"][0]}, integrations)


def todo_cursor(cursor: TodoCursor) -> str:
    return f"{cursor.position}:{cursor.block_id}"
