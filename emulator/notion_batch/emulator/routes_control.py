"""The control API under ``/_emulator/``: no auth, never recorded, for tests and demos."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from notion_batch.emulator.clock import MAX_OFFSET_SECONDS
from notion_batch.emulator.errors import ApiError, validation_error
from notion_batch.emulator.faults import Fault
from notion_batch.emulator.httpio import error_response, read_json_object
from notion_batch.emulator.ids import new_id
from notion_batch.emulator.realistic import create_realistic_page
from notion_batch.emulator.shapes import page_url
from notion_batch.emulator.state import DEFAULT_TOKEN, STATE_KEY, EmulatorState
from notion_batch.emulator.webhooks import DEFAULT_MAX_ATTEMPTS

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
    in_trash = _optional_bool(body, "in_trash")
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
        in_trash=bool(in_trash),
    )
    return web.json_response(created.to_json(), status=201)


async def create_realistic(request: web.Request) -> web.Response:
    """The realistic page of :mod:`notion_batch.emulator.realistic` (what each of its blocks
    models, and the source, is said there), for tests and demos that drive the emulator as a
    separate process; the body may name its ``title`` and ``id``."""
    body = await read_json_object(request)
    title, page_id = body.get("title", "A real page"), body.get("id")
    if not isinstance(title, str) or not (page_id is None or isinstance(page_id, str)):
        raise validation_error("title and id should be strings")
    page = create_realistic_page(_state(request), title, page_id=page_id)
    return web.json_response(
        {
            "page_id": page.page_id,
            "url": page_url(_state(request).store.pages[page.page_id]),
            "live_todos": list(page.live_todos),
            "other_todos": list(page.other_todos),
            "unreadable_ids": list(page.unreadable_ids),
            "synced_original_id": page.synced_original_id,
            "synced_copy_id": page.synced_copy_id,
        },
        status=201,
    )


async def page_tree(request: web.Request) -> web.Response:
    return web.json_response(_state(request).tree(request.match_info["page_id"]))


# -- a page for people to look at ---------------------------------------------------------------
# Not an API of Notion: a read-only HTML picture of a page as Notion's app lays it out (to-dos
# with their checkboxes, toggles open, nested lists, the run's log toggle with its linked lines),
# for demos and the README's screenshot (scripts/screenshots.py). Trashed blocks are left out,
# as the app leaves them out of the page. All text is escaped; no script is served.

_VIEW_STYLE = """
body { font: 16px/1.5 ui-sans-serif, system-ui, sans-serif; color: #37352f; margin: 0; }
main { max-width: 760px; margin: 48px auto; padding: 0 48px; }
h1.title { font-size: 36px; margin: 0 0 4px; } .meta { color: #9b9a97; font-size: 13px; }
.block { margin: 2px 0; } .children { margin-left: 26px; }
.todo.checked > label .text { color: #9b9a97; text-decoration: line-through; }
summary { cursor: default; } a { color: inherit; text-decoration-color: #c7c6c4; }
input[type=checkbox] { appearance: none; width: 16px; height: 16px; margin: 0 8px -3px 0;
  border: 1.5px solid #91918e; border-radius: 3px; }
.callout { background: #f1f1ef; border-radius: 4px; padding: 12px 16px; }
.quote { border-left: 3px solid #37352f; padding-left: 14px; }
.note { color: #9b9a97; font-size: 14px; } hr { border: 0; border-top: 1px solid #e9e9e7; }
ul, ol { margin: 2px 0; padding-left: 26px; } code { background: #f1f1ef; padding: 0 3px; }
.banner { background: #fbe4e4; padding: 8px 12px; border-radius: 4px; }
"""
#: A white check on the checked box's blue, as an inline SVG (the page loads nothing else).
_CHECKMARK = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 12 12'%3E"
    "%3Cpath d='M2 6.5l2.5 2.5 5.5-6' fill='none' stroke='white' stroke-width='2'/%3E%3C/svg%3E"
)
_VIEW_STYLE += (
    "input[type=checkbox]:checked { border-color: #2383e2;"
    f' background: #2383e2 center / 12px no-repeat url("{_CHECKMARK}"); }}\n'
)
_LISTS = {"bulleted_list_item": "ul", "numbered_list_item": "ol"}
_MARKS = (("bold", "strong"), ("italic", "em"), ("strikethrough", "s"), ("code", "code"))


def _rich_html(node: dict[str, Any]) -> str:
    """A block's rich text with its bold/italic/strikethrough/code marks and links."""
    items: Sequence[dict[str, Any]] = node.get("rich_text") or [{"plain_text": node["text"]}]
    out = []
    for item in items:
        piece = html.escape(str(item.get("plain_text", "")))
        annotations = item.get("annotations") or {}
        for mark, tag in _MARKS:
            if annotations.get(mark):
                piece = f"<{tag}>{piece}</{tag}>"
        href = str(item.get("href") or "")
        # Only web links become anchors: a javascript: or data: URL stays text.
        if href.startswith(("https://", "http://", "/")):
            piece = f'<a href="{html.escape(href)}">{piece}</a>'
        out.append(piece)
    return "".join(out)


def _blocks_html(nodes: Sequence[dict[str, Any]]) -> str:
    """Live blocks in order; runs of list items inside one ``<ul>``/``<ol>``."""
    out, open_list = [], ""
    for node in (n for n in nodes if not n["archived"]):
        wanted = _LISTS.get(node["type"], "")
        if wanted != open_list:
            out.append((f"</{open_list}>" if open_list else "") + (f"<{wanted}>" if wanted else ""))
            open_list = wanted
        out.append(_block_html(node))
    return "".join(out) + (f"</{open_list}>" if open_list else "")


#: How each block type is drawn: ``text`` its rich text, ``nested`` its children, ``checked``
#: a to-do's state, ``label`` the type named (for the types drawn as a plain box).
_TEMPLATES = {
    "to_do": (
        '<div class="block todo{checked}"><label><input type="checkbox" disabled{checked}>'
        '<span class="text">{text}</span></label>{nested}</div>'
    ),
    "bulleted_list_item": "<li>{text}{nested}</li>",
    "numbered_list_item": "<li>{text}{nested}</li>",
    "toggle": '<details class="block" open><summary>{text}</summary>{nested}</details>',
    "heading_1": "<h2>{text}</h2>{nested}",
    "heading_2": "<h3>{text}</h3>{nested}",
    "heading_3": "<h4>{text}</h4>{nested}",
    "divider": "<hr>",
    "paragraph": '<div class="block">{text}{nested}</div>',
    "callout": '<div class="block callout">{text}{nested}</div>',
    "quote": '<div class="block quote">{text}{nested}</div>',
}
#: Columns, synced blocks, child pages and the rest: a small label, then the content.
_OTHER = '<div class="block"><div class="note">{label}</div>{nested}</div>'


def _block_html(node: dict[str, Any]) -> str:
    kind = node["type"]
    children = _blocks_html(node["children"])
    label = kind.replace("_", " ") + (f": {node['text']}" if node["text"] else "")
    # The values are HTML already (escaped text); format() does not read braces inside them.
    return _TEMPLATES.get(kind, _OTHER).format(
        text=_rich_html(node),
        nested=f'<div class="children">{children}</div>' if children else "",
        checked=" checked" if node.get("checked") else "",
        label=html.escape(label),
    )


async def page_view(request: web.Request) -> web.Response:
    """``GET /_emulator/pages/{page_id}/view``: the page as HTML, for people."""
    tree = _state(request).tree(request.match_info["page_id"])
    banner = '<p class="banner">This page is in the trash.</p>' if tree["archived"] else ""
    title = html.escape(tree["title"] or "Untitled")
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_VIEW_STYLE}</style></head><body><main>{banner}"
        f'<h1 class="title">{title}</h1><p class="meta">{html.escape(tree["url"])}</p>'
        f"{_blocks_html(tree['blocks'])}</main></body></html>"
    )
    # No script at all; the style is the inline one above, its one image the checkmark.
    policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return web.Response(
        text=body, content_type="text/html", headers={"Content-Security-Policy": policy}
    )


async def page_todos(request: web.Request) -> web.Response:
    return web.json_response({"todos": _state(request).todos(request.match_info["page_id"])})


async def share_page(request: web.Request) -> web.Response:
    shared = request.match_info["action"] == "share"
    _state(request).set_shared(request.match_info["page_id"], shared)
    return web.json_response({"shared": shared})


async def trash_page(request: web.Request) -> web.Response:
    in_trash = request.match_info["action"] == "trash"
    _state(request).set_in_trash(request.match_info["page_id"], in_trash)
    return web.json_response({"in_trash": in_trash})


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


def _seconds(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
        raise validation_error(f"{key} should be a number of seconds between 0 and 3600")
    return float(value)


async def create_webhook(request: web.Request) -> web.Response:
    """A webhook subscription of an integration; Notion then POSTs its verification request."""
    state = _state(request)
    body = await read_json_object(request)
    url = body.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise validation_error("url should be an http(s) URL")
    tokens = state.config.tokens
    token = body.get("integration_token")
    if token is None:
        token = DEFAULT_TOKEN if DEFAULT_TOKEN in tokens else min(tokens)
    if not isinstance(token, str) or token not in tokens:
        raise validation_error("integration_token should be one of the emulator's tokens")
    attempts = body.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20:
        raise validation_error("max_attempts should be an integer from 1 to 20")
    fixed = body.get("verification_token")
    if fixed is not None and (
        not isinstance(fixed, str) or not fixed or any(c.isspace() for c in fixed)
    ):
        raise validation_error("verification_token should be a string without blanks")
    subscription = state.webhooks.subscribe(
        url,
        token,
        verification_token=fixed,
        aggregation_seconds=_seconds(body, "aggregation_seconds"),
        retry_seconds=_seconds(body, "retry_seconds"),
        max_attempts=attempts,
    )
    return web.json_response(subscription.to_json(), status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    subscriptions = _state(request).webhooks.subscriptions.values()
    return web.json_response({"subscriptions": [s.to_json() for s in subscriptions]})


async def get_webhook(request: web.Request) -> web.Response:
    subscription = _state(request).webhooks.get(request.match_info["subscription_id"])
    return web.json_response(subscription.to_json(deliveries=True))


async def verify_webhook(request: web.Request) -> web.Response:
    """The person pastes the verification token into Notion's settings."""
    body = await read_json_object(request)
    token = body.get("verification_token")
    if not isinstance(token, str):
        raise validation_error("verification_token should be a string")
    subscription = _state(request).webhooks.verify(request.match_info["subscription_id"], token)
    return web.json_response(subscription.to_json())


async def delete_webhook(request: web.Request) -> web.Response:
    subscription_id = request.match_info["subscription_id"]
    _state(request).webhooks.remove(subscription_id)
    return web.json_response({"deleted": subscription_id})


def _clock_json(state: EmulatorState) -> dict[str, Any]:
    return {"now": state.clock.iso(), "offset_seconds": state.clock.offset_seconds}


async def get_clock(request: web.Request) -> web.Response:
    return web.json_response(_clock_json(_state(request)))


async def set_clock(request: web.Request) -> web.Response:
    """Shift the emulator's time: stamps written from now on read real time + the offset."""
    body = await read_json_object(request)
    offset = body.get("offset_seconds")
    if (
        isinstance(offset, bool)
        or not isinstance(offset, (int, float))
        or not -MAX_OFFSET_SECONDS <= offset <= MAX_OFFSET_SECONDS
    ):
        raise validation_error(
            f"offset_seconds should be a number of seconds within ±{MAX_OFFSET_SECONDS}"
        )
    state = _state(request)
    state.set_clock_offset(float(offset))
    return web.json_response(_clock_json(state))


def _stamps_json(state: EmulatorState) -> dict[str, Any]:
    return {"api_edits_move_page": state.store.api_edits_move_page}


async def get_stamps(request: web.Request) -> web.Response:
    return web.json_response(_stamps_json(_state(request)))


async def set_stamps(request: web.Request) -> web.Response:
    """Whether ``/v1`` writes move the page's ``last_edited_time`` (Notion's did not)."""
    body = await read_json_object(request)
    on = body.get("api_edits_move_page")
    if not isinstance(on, bool):
        raise validation_error("api_edits_move_page should be a boolean")
    state = _state(request)
    state.set_api_edits_move_page(on)
    return web.json_response(_stamps_json(state))


async def reset(request: web.Request) -> web.Response:
    _state(request).reset()
    return web.json_response({"reset": True})


def add_control_routes(router: web.UrlDispatcher) -> None:
    router.add_get(f"{PREFIX}/health", health)
    router.add_post(f"{PREFIX}/pages", create_page)
    router.add_post(f"{PREFIX}/pages/realistic", create_realistic)
    router.add_get(f"{PREFIX}/pages/{{page_id}}", page_tree)
    router.add_get(f"{PREFIX}/pages/{{page_id}}/todos", page_todos)
    router.add_get(f"{PREFIX}/pages/{{page_id}}/view", page_view)
    router.add_post(f"{PREFIX}/pages/{{page_id}}/{{action:share|unshare}}", share_page)
    router.add_post(f"{PREFIX}/pages/{{page_id}}/{{action:trash|restore}}", trash_page)
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
    router.add_post(f"{PREFIX}/webhooks", create_webhook)
    router.add_get(f"{PREFIX}/webhooks", list_webhooks)
    router.add_get(f"{PREFIX}/webhooks/{{subscription_id}}", get_webhook)
    router.add_post(f"{PREFIX}/webhooks/{{subscription_id}}/verify", verify_webhook)
    router.add_delete(f"{PREFIX}/webhooks/{{subscription_id}}", delete_webhook)
    router.add_get(f"{PREFIX}/clock", get_clock)
    router.add_post(f"{PREFIX}/clock", set_clock)
    router.add_get(f"{PREFIX}/stamps", get_stamps)
    router.add_post(f"{PREFIX}/stamps", set_stamps)
    router.add_post(f"{PREFIX}/reset", reset)
