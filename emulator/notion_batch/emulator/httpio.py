"""Reading request bodies and writing error answers, shared by both route tables."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from notion_batch.emulator.errors import ApiError, validation_error

REQUEST_ID_KEY: web.RequestKey[str] = web.RequestKey("notion_request_id", str)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The JSON object body; an empty body counts as ``{}``."""
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        raise ApiError(400, "invalid_json") from None
    if not isinstance(body, dict):
        raise validation_error(f"body should be an object, instead was `{type(body).__name__}`.")
    return body


def error_response(error: ApiError, request_id: str) -> web.Response:
    return web.json_response(error.body(request_id), status=error.status, headers=error.headers)
