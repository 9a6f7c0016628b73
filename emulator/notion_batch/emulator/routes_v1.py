"""The Notion API subset: pages and blocks under ``/v1``, behind the gate middleware.

The gate checks, in this order: bearer token (401 ``unauthorized``), ``Notion-Version``
(400 ``missing_version``), injected faults, the per-token rate limit (429 ``rate_limited``),
then runs the route and records the request.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from notion_batch.emulator.blockspec import can_have_children, parse_append_body, parse_update
from notion_batch.emulator.errors import ApiError, block_not_found, page_not_found, validation_error
from notion_batch.emulator.httpio import REQUEST_ID_KEY, error_response, read_json_object
from notion_batch.emulator.ids import canonical_id, new_id
from notion_batch.emulator.recording import RecordedRequest
from notion_batch.emulator.shapes import block_json, list_json, page_as_block_json, page_json
from notion_batch.emulator.state import STATE_KEY, EmulatorState
from notion_batch.emulator.store import BOT_USER_ID, Block, Page
from notion_batch.emulator.versions import append_index, set_version

log = logging.getLogger(__name__)

#: Notion's request body limit (doc: D/reference/request-limits, "500KB"); over it Notion
#: answers HTTP 413 (FACTS.md "Request limits"). The error code and message it sends are not
#: documented (open): ours follow Notion's error shape.
MAX_BODY_BYTES = 500_000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100


def _bearer(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


async def _guarded(
    state: EmulatorState, request: web.Request, handler: Handler, token: str | None
) -> web.StreamResponse:
    if token is None or token not in state.config.tokens:
        raise ApiError(401, "unauthorized")
    version = request.headers.get("Notion-Version")
    if not version:
        raise ApiError(400, "missing_version")
    set_version(version)
    fault = state.faults.take(request.method, request.path, time.monotonic())
    if fault is not None:
        if request.can_read_body:
            # Take the body in before stalling, as a slow server would: a write held up by
            # latency still lands after the client gave up waiting.
            await request.read()
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.status is not None:
            if fault.raw_body is not None:
                return web.Response(
                    status=fault.status, text=fault.raw_body, content_type="text/html"
                )
            raise fault.error()
        if fault.drop:
            response = await handler(request)
            # Applied, never answered: the connection goes down under the client.
            if request.transport is not None:
                request.transport.abort()
            return response
    retry_after = state.limiter.check(token, time.monotonic())
    if retry_after is not None:
        raise ApiError(429, "rate_limited", headers={"Retry-After": str(retry_after)})
    return await handler(request)


@web.middleware
async def notion_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth, version, faults, rate limit and recording for every ``/v1`` request."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    state = request.app[STATE_KEY]
    arrived, wall = time.monotonic(), time.time()
    request_id = request[REQUEST_ID_KEY] = new_id()
    token = _bearer(request)
    response: web.StreamResponse
    try:
        response = await _guarded(state, request, handler, token)
    except ApiError as error:
        response = error_response(error, request_id)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        response = error_response(ApiError(400, "invalid_request_url"), request_id)
    except Exception:
        log.exception("emulator route failed")
        response = error_response(ApiError(500), request_id)
    route_name = request.match_info.route.name
    state.requests.append(
        RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query_string,
            operation=route_name or "unknown",
            status=response.status,
            monotonic=arrived,
            wall=wall,
            duration_s=time.monotonic() - arrived,
            token=token,
            request_id=request_id,
        )
    )
    return response


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


def _visible(state: EmulatorState, raw_id: str, request: web.Request) -> Page | Block:
    """The page or block with this id if shared with the caller's integration, else 404 as
    Notion answers it."""
    node_id = canonical_id(raw_id)
    page = state.store.page_of(node_id)
    if page is None or not page.visible_to(_bearer(request)):
        raise block_not_found(node_id)
    return state.store.pages.get(node_id) or state.store.blocks[node_id]


def _block_answer(state: EmulatorState, node: Page | Block, request: web.Request) -> web.Response:
    if isinstance(node, Page):
        body = page_as_block_json(state.store, node)
    else:
        body = block_json(state.store, node, include_archived=state.config.list_archived)
    return web.json_response({**body, "request_id": request[REQUEST_ID_KEY]})


async def retrieve_page(request: web.Request) -> web.Response:
    state = _state(request)
    page_id = canonical_id(request.match_info["page_id"], where="path.page_id")
    page = state.store.pages.get(page_id)
    if page is None or not page.visible_to(_bearer(request)):
        raise page_not_found(page_id)
    return web.json_response({**page_json(page), "request_id": request[REQUEST_ID_KEY]})


async def retrieve_block(request: web.Request) -> web.Response:
    state = _state(request)
    return _block_answer(state, _visible(state, request.match_info["block_id"], request), request)


def _page_size(request: web.Request) -> int:
    raw = request.query.get("page_size")
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise validation_error(f"page_size should be a number, instead was `{raw}`.") from None
    if size < 1 or size > MAX_PAGE_SIZE:
        raise validation_error(
            f"page_size should be ≤ `{MAX_PAGE_SIZE}` and ≥ `1`, instead was `{size}`."
        )
    return size


#: Block types whose children the API will not list, and Notion's message for each; any other
#: unsupported type answers the first form (seen: gh/onyx-dot-app/onyx#1053 "Block type
#: ai_block is not supported via the API for your bot type.", gh/elastic/connectors#2337
#: "Block type external_object_instance_page is not supported via the API.").
_UNSUPPORTED_WITHOUT_BOT_TYPE = frozenset({"external_object_instance_page"})


def _unsupported_children(block: Block) -> ApiError:
    kind = str(block.content.get("block_type", "button"))
    if kind in _UNSUPPORTED_WITHOUT_BOT_TYPE:
        return validation_error(f"Block type {kind} is not supported via the API.")
    return validation_error(f"Block type {kind} is not supported via the API for your bot type.")


def _children_container(state: EmulatorState, node: Page | Block, request: web.Request) -> str:
    """Whose children a listing of ``node`` answers: a synced copy lists its original's when the
    original's page is shared with the caller, and answers 404 otherwise, ``has_children`` true
    notwithstanding (seen: gh/openclaw/notcrawl#37); an unsupported block answers 400."""
    if not isinstance(node, Block):
        return node.id
    if node.type == "unsupported":
        raise _unsupported_children(node)
    origin = state.store.synced_origin(node)
    if origin is None:
        return node.id
    page = state.store.page_of(origin)
    if page is None or not page.visible_to(_bearer(request)):
        raise block_not_found(node.id)
    return origin


async def list_children(request: web.Request) -> web.Response:
    state = _state(request)
    container = _visible(state, request.match_info["block_id"], request)
    container_id = _children_container(state, container, request)
    size = _page_size(request)
    children = state.store.children(container_id, include_archived=state.config.list_archived)
    start = 0
    cursor = request.query.get("start_cursor")
    if cursor:
        # Cursors are the id of the first block of the next page, as Notion's are.
        ids = [c.id for c in children]
        try:
            start = ids.index(canonical_id(cursor, where="start_cursor"))
        except ValueError:
            raise validation_error(f"start_cursor provided is invalid: {cursor}") from None
    page = children[start : start + size]
    next_cursor = children[start + size].id if start + size < len(children) else None
    results = [
        block_json(state.store, b, include_archived=state.config.list_archived) for b in page
    ]
    return web.json_response(
        list_json(results, next_cursor=next_cursor, request_id=request[REQUEST_ID_KEY])
    )


async def append_children(request: web.Request) -> web.Response:
    state = _state(request)
    container = _visible(state, request.match_info["block_id"], request)
    size = len(await request.read())
    if size > MAX_BODY_BYTES:
        raise ApiError(
            413,
            "payload_too_large",
            f"Request body too large: {size} bytes, the limit is {MAX_BODY_BYTES} bytes.",
        )
    body = await read_json_object(request)
    index = append_index(
        state.store, container.id, body
    )  # `position`, or `after` before 2026-03-11
    drafts = parse_append_body(body)
    if container.archived:
        raise validation_error(
            "Can't edit block that is archived. You must unarchive the block before editing."
        )
    if isinstance(container, Block) and not can_have_children(container.type, container.content):
        raise validation_error(f"Block type {container.type} does not support children.")
    created = state.insert(container.id, drafts, author=BOT_USER_ID, index=index)
    # Notion names the integration (a bot) as the author of what it writes.
    state.changed(container.id, [c.id for c in created], author=BOT_USER_ID)
    results = [
        block_json(
            state.store, state.store.blocks[c.id], include_archived=state.config.list_archived
        )
        for c in created
    ]
    return web.json_response(
        list_json(results, next_cursor=None, request_id=request[REQUEST_ID_KEY])
    )


async def update_block(request: web.Request) -> web.Response:
    state = _state(request)
    node = _visible(state, request.match_info["block_id"], request)
    body = await read_json_object(request)
    if isinstance(node, Page):
        _, archived = parse_update(body, "child_page")
        if archived is not None:
            node.archived = archived
        return _block_answer(state, node, request)
    patch, archived = parse_update(body, node.type)
    if patch and node.archived and archived is not False:
        # Editing a trashed block: Notion's 400 (seen: gh/dvanoni/notero#704).
        raise validation_error(
            "Can't edit block that is archived. You must unarchive the block before editing."
        )
    if patch and _trashed_ancestor(state, node):
        # Editing a block whose ancestor is in the trash: Notion's 400 (seen in other
        # projects' tests; FACTS.md "Editing trashed blocks").
        raise validation_error(
            "Can't edit page on block with an archived ancestor. "
            "You must unarchive the ancestor before editing page."
        )
    if archived is not None:
        node.archived = archived
    node.content.update(patch)
    state.store.touch(node, author=BOT_USER_ID)
    state.changed(node.id, [node.id], author=BOT_USER_ID)
    return _block_answer(state, node, request)


def _trashed_ancestor(state: EmulatorState, block: Block) -> bool:
    """Whether a block above ``block`` (its page included) is in the trash."""
    parent_id = block.parent_id
    while True:
        parent: Page | Block | None = state.store.blocks.get(parent_id) or state.store.pages.get(
            parent_id
        )
        if parent is None:
            return False
        if parent.archived:
            return True
        if isinstance(parent, Page):
            return False
        parent_id = parent.parent_id


async def delete_block(request: web.Request) -> web.Response:
    state = _state(request)
    node = _visible(state, request.match_info["block_id"], request)
    node.archived = True
    if isinstance(node, Block):
        state.store.touch(node, author=BOT_USER_ID)
        state.changed(node.id, [node.id], author=BOT_USER_ID)
    return _block_answer(state, node, request)


def add_v1_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/pages/{page_id}", retrieve_page, name="retrieve_page")
    router.add_get("/v1/blocks/{block_id}", retrieve_block, name="retrieve_block")
    router.add_patch("/v1/blocks/{block_id}", update_block, name="update_block")
    router.add_delete("/v1/blocks/{block_id}", delete_block, name="delete_block")
    router.add_get("/v1/blocks/{block_id}/children", list_children, name="list_children")
    router.add_patch("/v1/blocks/{block_id}/children", append_children, name="append_children")
