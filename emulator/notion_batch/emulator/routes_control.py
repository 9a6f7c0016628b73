"""The control API under ``/_emulator/``: no auth, never recorded, for tests and demos."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from notion_batch.emulator.errors import ApiError, validation_error
from notion_batch.emulator.faults import Fault
from notion_batch.emulator.httpio import error_response, read_json_object
from notion_batch.emulator.ids import new_id
from notion_batch.emulator.state import STATE_KEY, EmulatorState

PREFIX = "/_emulator"


@web.middleware
async def control_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Control routes answer errors in Notion's error shape too."""
    if not request.path.startswith(PREFIX + "/"):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error, new_id())


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


def _optional_bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise validation_error(f"{key} should be a boolean")
    return value


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def create_page(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    title = body.get("title", "")
    children = body.get("children", [])
    if not isinstance(title, str) or not isinstance(children, list):
        raise validation_error("title should be a string and children an array")
    shared = _optional_bool(body, "shared")
    shared_with = body.get("shared_with")
    if shared_with is not None and (
        not isinstance(shared_with, list) or not all(isinstance(t, str) for t in shared_with)
    ):
        raise validation_error("shared_with should be an array of integration tokens")
    created = _state(request).create_page(
        title,
        children,
        page_id=body.get("id"),
        shared=True if shared is None else shared,
        shared_with=shared_with,
    )
    return web.json_response(created.to_json(), status=201)


async def page_tree(request: web.Request) -> web.Response:
    return web.json_response(_state(request).tree(request.match_info["page_id"]))


async def page_todos(request: web.Request) -> web.Response:
    return web.json_response({"todos": _state(request).todos(request.match_info["page_id"])})


async def share_page(request: web.Request) -> web.Response:
    shared = request.match_info["action"] == "share"
    _state(request).set_shared(request.match_info["page_id"], shared)
    return web.json_response({"shared": shared})


async def add_children(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    children = body.get("children")
    if not isinstance(children, list):
        raise validation_error("children should be an array")
    created = _state(request).add_children(request.match_info["block_id"], children)
    return web.json_response({"blocks": [c.to_json() for c in created]}, status=201)


async def person_update(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise validation_error("text should be a string")
    block = _state(request).person_update(
        request.match_info["block_id"],
        checked=_optional_bool(body, "checked"),
        archived=_optional_bool(body, "archived"),
        text=text,
    )
    return web.json_response(
        {"id": block.id, "type": block.type, "archived": block.archived, block.type: block.content}
    )


async def list_requests(request: web.Request) -> web.Response:
    q = request.query
    status = q.get("status")
    if status is not None and not status.isdigit():
        raise validation_error("status should be an integer")
    entries = _state(request).requests.query(
        method=q.get("method"),
        operation=q.get("operation"),
        path_contains=q.get("path_contains"),
        status=int(status) if status is not None else None,
        token=q.get("token"),
    )
    log = _state(request).requests
    return web.json_response(
        {
            "count": len(entries),
            "dropped": log.dropped,
            "requests": [e.to_json() for e in entries],
        }
    )


async def clear_requests(request: web.Request) -> web.Response:
    _state(request).requests.clear()
    return web.json_response({"cleared": True})


async def list_faults(request: web.Request) -> web.Response:
    faults = _state(request).faults.list(time.monotonic())
    return web.json_response({"faults": [f.to_json() for f in faults]})


async def add_fault(request: web.Request) -> web.Response:
    fault = _state(request).add_fault(Fault.from_json(await read_json_object(request)))
    return web.json_response(fault.to_json(), status=201)


async def clear_faults(request: web.Request) -> web.Response:
    _state(request).faults.clear()
    return web.json_response({"cleared": True})


async def remove_fault(request: web.Request) -> web.Response:
    raw = request.match_info["fault_id"]
    if not raw.isdigit() or not _state(request).faults.remove(int(raw)):
        raise ApiError(404, "object_not_found", f"no fault {raw}")
    return web.json_response({"removed": int(raw)})


def _rate_json(state: EmulatorState) -> dict[str, Any]:
    return {"rate": state.limiter.rate, "burst": state.limiter.burst}


async def get_rate_limit(request: web.Request) -> web.Response:
    return web.json_response(_rate_json(_state(request)))


async def set_rate_limit(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    rate, burst = body.get("rate"), body.get("burst")
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0
    ):
        raise validation_error("rate should be a positive number or null (off)")
    if burst is not None and (isinstance(burst, bool) or not isinstance(burst, int) or burst < 1):
        raise validation_error("burst should be an integer ≥ 1")
    state = _state(request)
    state.set_rate_limit(None if rate is None else float(rate), burst)
    return web.json_response(_rate_json(state))


async def reset(request: web.Request) -> web.Response:
    _state(request).reset()
    return web.json_response({"reset": True})


def add_control_routes(router: web.UrlDispatcher) -> None:
    router.add_get(f"{PREFIX}/health", health)
    router.add_post(f"{PREFIX}/pages", create_page)
    router.add_get(f"{PREFIX}/pages/{{page_id}}", page_tree)
    router.add_get(f"{PREFIX}/pages/{{page_id}}/todos", page_todos)
    router.add_post(f"{PREFIX}/pages/{{page_id}}/{{action:share|unshare}}", share_page)
    router.add_post(f"{PREFIX}/blocks/{{block_id}}/children", add_children)
    router.add_patch(f"{PREFIX}/blocks/{{block_id}}", person_update)
    router.add_get(f"{PREFIX}/requests", list_requests)
    router.add_delete(f"{PREFIX}/requests", clear_requests)
    router.add_get(f"{PREFIX}/faults", list_faults)
    router.add_post(f"{PREFIX}/faults", add_fault)
    router.add_delete(f"{PREFIX}/faults", clear_faults)
    router.add_delete(f"{PREFIX}/faults/{{fault_id}}", remove_fault)
    router.add_get(f"{PREFIX}/rate-limit", get_rate_limit)
    router.add_put(f"{PREFIX}/rate-limit", set_rate_limit)
    router.add_post(f"{PREFIX}/reset", reset)
