"""Read-only reports on a page: the history of its runs and its to-dos, paginated.

Both lists use keyset cursors: ``next_cursor`` of one answer is the ``cursor`` of the next
request, and stays valid however many rows are added meanwhile (nothing is skipped or
repeated, unlike offsets).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from notion_batch.api.context import REPORTS
from notion_batch.api.requests import (
    page_id_from_path,
    parse_history_query,
    parse_todos_query,
    todo_cursor,
)
from notion_batch.api.views import iso
from notion_batch.common.db.reports import RunRecord, TodoRecord
from notion_batch.common.db.warnings import RunWarning
from notion_batch.common.errors import BatchNotFound


def _run(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "end_reason": run.end_reason,
        "message": run.message,
        "start_time": iso(run.started_at),
        "scheduled_end_time": iso(run.ends_at),
        "end_time": iso(run.ended_at),
        "interval_seconds": run.interval_seconds,
        "ticks": run.ticks,
        "ticks_coalesced": run.ticks_coalesced,
        "stalls": run.stalls,
        "last_stalled_at": iso(run.last_stalled_at),
        "todos": {"done": run.todos_done, "skipped": run.todos_skipped},
        "handler": run.handler,
        "integration": run.integration,
        "warnings": [_fields(w, _WARNING_FIELDS) for w in run.warnings],
    }


#: A run's warning and a to-do, answered field for field under their own names.
_WARNING_FIELDS = (
    "block_id",
    "block_type",
    "status",
    "code",
    "message",
    "first_seen_at",
    "last_seen_at",
    "seen",
)
_TODO_FIELDS = (
    "block_id",
    "position",
    "text",
    "status",
    "attempts",
    "last_error",
    "result",
    "run_id",
    "processed_at",
    "checked_in_notion_at",
    "first_seen_at",
)


def _fields(record: RunWarning | TodoRecord, names: tuple[str, ...]) -> dict[str, Any]:
    """``record``'s fields ``names`` as JSON values, times in ISO 8601 (as :func:`iso`)."""
    values = {name: getattr(record, name) for name in names}
    return {
        name: iso(value) if isinstance(value, datetime) else value for name, value in values.items()
    }


async def history(request: web.Request) -> web.Response:
    page_id = page_id_from_path(request)
    query = parse_history_query(request)
    repository = request.app[REPORTS]
    # One row more than asked tells whether another page follows.
    runs = await repository.runs(page_id, before=query.before, limit=query.limit + 1)
    if not runs and not await repository.page_known(page_id):
        raise BatchNotFound(page_id)
    more = len(runs) > query.limit
    runs = runs[: query.limit]
    return web.json_response(
        {
            "success": True,
            "notion_page_id": page_id,
            "runs": [_run(r) for r in runs],
            "has_more": more,
            "next_cursor": str(runs[-1].run_id) if more else None,
        }
    )


async def todos(request: web.Request) -> web.Response:
    page_id = page_id_from_path(request)
    query = parse_todos_query(request)
    repository = request.app[REPORTS]
    if not await repository.page_known(page_id):
        raise BatchNotFound(page_id)
    found = await repository.todos(
        page_id, statuses=query.statuses, after=query.after, limit=query.limit + 1
    )
    more = len(found) > query.limit
    found = found[: query.limit]
    counts = await repository.todo_counts(page_id)
    return web.json_response(
        {
            "success": True,
            "notion_page_id": page_id,
            "counts": {**counts, "total": sum(counts.values())},
            "todos": [_fields(t, _TODO_FIELDS) for t in found],
            "has_more": more,
            "next_cursor": todo_cursor(found[-1].cursor) if more else None,
        }
    )
