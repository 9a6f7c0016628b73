"""A local stand-in for the Notion API: the subset notion-batch uses, over real HTTP.

Notion API (``/v1``, bearer token + ``Notion-Version`` required, rate limited, recorded)
-----------------------------------------------------------------------------------------
``GET /v1/pages/{id}``, ``GET /v1/blocks/{id}``, ``GET /v1/blocks/{id}/children?start_cursor=&
page_size=`` (≤ 100, default 100; ``has_more``/``next_cursor`` always present),
``PATCH /v1/blocks/{id}`` (``to_do.checked``, ``<type>.rich_text``, ``archived``/``in_trash``),
``DELETE /v1/blocks/{id}``, ``PATCH /v1/blocks/{id}/children`` (``{"children": [...]}``, ≤ 100,
nested children up to two levels, rich text ≤ 2,000 characters). Block types: to_do, paragraph,
bulleted_list_item, numbered_list_item, toggle, quote, callout, heading_1/2/3, divider (and
child_page, made only through the control API). Ids are accepted dashed or as 32 hex digits.
Errors are Notion's ``{object: "error", status, code, message, request_id}``.

Control API (``/_emulator``, no auth, never recorded; errors in the same shape)
-------------------------------------------------------------------------------
``GET  /_emulator/health`` → ``{"status": "ok"}``

``POST /_emulator/pages`` ``{"title", "children": [node…], "id"?, "shared"?: true,
    "shared_with"?: [token…]}`` (``shared_with``: only those integrations see it; default all)
    → 201 ``{"page_id", "url", "blocks": [{"id", "type", "text", "children"}…], "block_ids"}``
    (``block_ids``: every created block in document order). A *node* is shorthand
    ``{"type": "to_do" (default), "text", "checked"?, "archived"?, "title"? (child_page),
    "children"?: [node…]}`` or a full Notion block object; nesting is unlimited.
``GET  /_emulator/pages/{id}`` → ``{"id", "title", "url", "shared", "shared_with", "archived",
    "blocks": [{"id", "type", "text", "archived", "checked"? (to-dos), "rich_text"?,
    "children"}…]}``
    (the whole tree, archived blocks included).
``GET  /_emulator/pages/{id}/todos`` → ``{"todos": [{"id", "text", "checked", "archived"}…]}``
``POST /_emulator/pages/{id}/share`` | ``/unshare`` → ``{"shared"}`` (unshared: 404 for ``/v1``)
``POST /_emulator/blocks/{id}/children`` ``{"children": [node…]}`` → 201 ``{"blocks": […]}``
    (a person adds blocks under a page or block)
``PATCH /_emulator/blocks/{id}`` ``{"checked"?, "archived"?, "text"?}`` → the block
    (a person checks, archives or retypes a block)
``GET  /_emulator/requests?method=&operation=&path_contains=&status=&token=``
    → ``{"count", "dropped", "requests": [{"method", "path", "query", "operation", "status",
    "monotonic", "wall", "duration_s", "token", "request_id"}…]}`` in arrival order; only the
    last ``NOTION_EMULATOR_REQUEST_LOG`` requests are kept (``dropped``: older ones since the
    last clear);
    operations: retrieve_page, retrieve_block, list_children, append_children,
    update_block, delete_block, unknown.
``DELETE /_emulator/requests`` clears the log.
``POST /_emulator/faults`` ``{"status"?: 200|400|401|403|404|409|429|500|502|503|504|529, "code"?,
    "message"?, "retry_after"?: int, "latency"?: seconds, "count"?: K, "duration"?: seconds,
    "method"?, "path_contains"?, "skip"?: N, "raw_body"?, "drop"?: bool}`` → 201 the fault
    with its ``id``.
    The oldest active matching fault answers a request (after letting ``skip`` matching ones
    through): after ``latency`` it sends the error (or, without ``status``, the real answer).
    Without ``count``/``duration`` it holds until removed; ``raw_body`` sends that text as
    ``text/html`` instead of Notion's error JSON (``status`` 200 needs one: a success the
    client cannot parse); ``drop`` applies the request and resets the connection unanswered.
``GET  /_emulator/faults``; ``DELETE /_emulator/faults`` (all); ``DELETE /_emulator/faults/{id}``
``GET|PUT /_emulator/rate-limit`` ``{"rate": number | null (off), "burst"?: int}``
``GET|POST /_emulator/clock`` ``{"offset_seconds": number}`` (POST; within ±10 years) →
    ``{"now": "<ISO 8601, ms>", "offset_seconds": number}``: the emulator's time is real UTC
    time + the offset; every stamp it writes from then on (pages, blocks, webhook events) reads
    it, so a test moves a minute on without waiting one.
``GET|POST /_emulator/stamps`` ``{"api_edits_move_page": bool}`` (POST) →
    ``{"api_edits_move_page": bool}``: whether ``/v1`` writes move the page's
    ``last_edited_time`` too (default ``NOTION_EMULATOR_API_STAMPS``, off).
``POST /_emulator/reset`` → back to the start state (empty, or only the demo page; clock
    offset 0, ``api_edits_move_page`` as configured).

Timestamps, as Notion's
-----------------------
``created_time``/``last_edited_time`` of pages and blocks are whole minutes (rounded down,
``…:00.000Z``); webhook events' ``timestamp`` keeps milliseconds. An edit moves the edited
block's own ``last_edited_time``; the page's moves only for edits by a person (``/_emulator/…``
routes, any depth), not for the integration's ``/v1`` appends, updates and deletes, unless
``api_edits_move_page`` is on. So two edits within a minute leave the same stamps, and a page
stamp never proves that nothing changed.

Webhook subscriptions (``webhooks.py``), as Notion's
-----------------------------------------------------
``POST /_emulator/webhooks`` ``{"url", "integration_token"? (default: the default token),
    "aggregation_seconds"? (default ``NOTION_EMULATOR_WEBHOOK_DELAY``, 1), "retry_seconds"? (1),
    "max_attempts"? (8), "verification_token"? (default: a random ``secret_…``; fixed, for
    demos whose API is configured first)}`` → 201 ``{"id", "url", "integration_id", "status":
    "pending_verification", …}``, then POSTs ``{"verification_token": "secret_…"}`` (unsigned)
    to ``url``; the token is not shown here: read it where it was sent, as with Notion.
``POST /_emulator/webhooks/{id}/verify`` ``{"verification_token"}`` → the subscription,
    ``"status": "verified"`` (a person pasting the token into Notion); 400 if it is not the one
    sent. Only a verified subscription sends events.
``GET  /_emulator/webhooks`` → ``{"subscriptions": […]}``; ``GET /_emulator/webhooks/{id}`` → the
    subscription with ``"deliveries": [{"kind": "verification" | "event", "event_id", "type",
    "page_id", "attempt_number", "status" (null: no answer), "error", "authors", "wall"}…]``
    (every POST, retries included); ``DELETE /_emulator/webhooks/{id}``.
Events: a change to a page shared with the subscription's integration — blocks added or
edited by a person (``/_emulator/blocks/…``: authors ``person``) or through ``/v1`` (appends,
updates, deletes: authors ``bot``, as Notion names an integration) — becomes one
``page.content_updated`` event per page per aggregation window (``{"id", "timestamp",
"workspace_id", "workspace_name", "subscription_id", "integration_id", "type", "authors",
"attempt_number", "api_version", "entity": {"id", "type": "page"}, "data": {"parent",
"updated_blocks"}}``), POSTed with ``X-Notion-Signature: sha256=<hex HMAC-SHA256 of the body
keyed by the verification token>``; an answer other than 2xx (or none) is retried with the same
``id`` and the next ``attempt_number`` after ``retry_seconds``, doubling, ``max_attempts`` in all.

Python API (in-process tests)
-----------------------------
``create_app(config) -> web.Application`` with ``app[STATE_KEY]: EmulatorState``;
``async with run_emulator(config) as emu:`` serves on 127.0.0.1 at a free port and gives
``emu.url``, ``emu.token`` and ``emu.state`` (``create_page``, ``add_children``,
``person_update``, ``set_shared``, ``tree``, ``todos``, ``add_fault(Fault(...))``,
``set_rate_limit``, ``set_clock_offset``, ``set_api_edits_move_page``, ``clock``,
``requests.query(...)``, ``webhooks.subscribe(...)``, ``reset``).
"""

from notion_batch.emulator.app import RunningEmulator, create_app, run_emulator
from notion_batch.emulator.demo import DEMO_PAGE_ID
from notion_batch.emulator.faults import Fault
from notion_batch.emulator.recording import RecordedRequest
from notion_batch.emulator.state import (
    DEFAULT_TOKEN,
    STATE_KEY,
    CreatedBlock,
    CreatedPage,
    EmulatorConfig,
    EmulatorState,
)

__all__ = [
    "DEFAULT_TOKEN",
    "DEMO_PAGE_ID",
    "STATE_KEY",
    "CreatedBlock",
    "CreatedPage",
    "EmulatorConfig",
    "EmulatorState",
    "Fault",
    "RecordedRequest",
    "RunningEmulator",
    "create_app",
    "run_emulator",
]
