"""Request bodies and path parameters, parsed and validated into typed values.

Every rejection is a :class:`RequestInvalid` naming the offending field, which the error
middleware answers with 400 and ``{"success": false, "message": …, "field": …}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from notion_batch.common.config import BatchDefaults
from notion_batch.common.errors import InvalidPageId, NotionBatchError
from notion_batch.common.ids import canonical_page_id

MAX_INTERVAL_SECONDS = 86_400
MAX_DURATION_SECONDS = 30 * 86_400


class RequestInvalid(NotionBatchError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class StartRequest:
    notion_page_id: str
    interval_seconds: int
    duration_seconds: int


def page_id_from_path(request: web.Request) -> str:
    try:
        return canonical_page_id(request.match_info["notion_page_id"])
    except InvalidPageId as exc:
        raise RequestInvalid(str(exc), field="notion_page_id") from None


async def json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise RequestInvalid("request body must be a JSON object, got an empty body")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestInvalid(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestInvalid(f"request body must be a JSON object, got {type(body).__name__}")
    return body


def _positive_int(body: dict[str, Any], field: str, default: int, maximum: int) -> int:
    value = body.get(field, default)
    # bool is an int in Python; JSON true is not a number of seconds.
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestInvalid(f"{field} must be an integer number of seconds", field=field)
    if not 1 <= value <= maximum:
        raise RequestInvalid(f"{field} must be between 1 and {maximum}, got {value}", field=field)
    return value


def parse_start(body: dict[str, Any], defaults: BatchDefaults) -> StartRequest:
    known = {"notion_page_id", "interval_seconds", "duration_seconds"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise RequestInvalid(
            f"unknown field {unknown[0]!r}; accepted fields are {', '.join(sorted(known))}",
            field=unknown[0],
        )
    page = body.get("notion_page_id")
    if page is None:
        raise RequestInvalid("notion_page_id is required", field="notion_page_id")
    if not isinstance(page, str):
        raise RequestInvalid("notion_page_id must be a string", field="notion_page_id")
    try:
        page_id = canonical_page_id(page)
    except InvalidPageId as exc:
        raise RequestInvalid(str(exc), field="notion_page_id") from None
    interval = _positive_int(
        body, "interval_seconds", defaults.interval_seconds, MAX_INTERVAL_SECONDS
    )
    duration = _positive_int(
        body, "duration_seconds", defaults.duration_seconds, MAX_DURATION_SECONDS
    )
    return StartRequest(page_id, interval, duration)
