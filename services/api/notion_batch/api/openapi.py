"""The OpenAPI 3.1 document of the API: every endpoint, request, response and error.

Hand-written next to the code it describes, and held to it by tests: every route is in it,
real responses of every kind validate against it, and schemathesis probes the live API with
requests generated from it. Patterns and bounds come from ``requests.py``, the same
constants the validation uses, so the document cannot promise what the API refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from notion_batch.api.middlewares import MAX_BODY_BYTES, RETRY_AFTER_SECONDS
from notion_batch.api.notion_events import (
    MAX_EVENT_ID_LENGTH,
    MAX_VERIFICATION_TOKEN_LENGTH,
    SIGNATURE_HEADER,
)
from notion_batch.api.requests import (
    HISTORY_CURSOR_PATTERN,
    HISTORY_LIMIT,
    IDEMPOTENCY_KEY_PATTERN,
    MAX_DURATION_SECONDS,
    MAX_INTERVAL_SECONDS,
    TODO_CURSOR_PATTERN,
    TODO_STATUSES,
    TODOS_LIMIT,
)
from notion_batch.common.config import DEFAULT_INTEGRATION, INTEGRATION_NAME_PATTERN
from notion_batch.common.handlers import handler_names
from notion_batch.common.ids import (
    ACCEPTED_FORMS,
    MAX_PAGE_ID_LENGTH,
    PAGE_ID_PATTERN,
    PATH_PAGE_ID_PATTERN,
)

Json = dict[str, Any]

_CANONICAL_ID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_EXAMPLE_PAGE = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"

_DESCRIPTION = f"""\
Start, watch, extend and stop batches that work through the to-dos of a Notion page.

**Authentication.** Send an API key as `Authorization: Bearer <key>`. A key has the scope
`read` (status, history, to-dos) or `write` (also start, stop, extend). A missing or unknown
key is answered 401, a key without the needed scope 403. The probes, this document and the
docs page need no key.

**Page ids** are accepted as 32 hex digits, a dashed UUID or the link Notion's "Copy link"
gives (`www.notion.so/<workspace>/<Title>-<id>`, `www.notion.so/<Title>-<id>`,
`<workspace>.notion.site/<Title>-<id>`, `app.notion.com/p/<id>`,
`app.notion.com/p/<Title>-<id>`, with any `?query` or `#block`; URL-encoded in a path). A
database link opening a page (`?v=…&p=<id>`) names the page `p`. Anything else, a custom
`notion.site/<slug>` link included, is a 400 listing `accepted_forms`. Every answer uses the
lowercase dashed UUID. **Times** are ISO 8601 with a UTC
offset.

**Errors** are JSON, `{{"success": false, "message": …}}`, with `field` naming the culprit of
a 400. Bodies over {MAX_BODY_BYTES} bytes are answered 413. Writes are rate-limited per key
(429 with `Retry-After`). While the database or the broker is unreachable the API answers
503 with `Retry-After` ({RETRY_AFTER_SECONDS} s), and nothing was half-done.

**Lists** (history, to-dos) are paginated with keyset cursors: pass the answer's
`next_cursor` as `cursor` to get the next page; `has_more` is false on the last one.

**Notion webhooks.** `POST /api/v1/notion/webhook[/{{integration}}]` is the URL of a Notion
webhook subscription. It takes no API key: Notion signs its events (`{SIGNATURE_HEADER}`),
checked with the integration's verification token (NOTION_WEBHOOK_VERIFICATION_TOKEN[_NAME]).
A person's change to a running page makes the page's tick due at once.
"""


def _ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> Json:
    return _ref("schemas", name)


def _nullable(schema: Json) -> Json:
    return {"oneOf": [schema, {"type": "null"}]}


def _json(schema: Json, description: str, **extra: Any) -> Json:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _object(properties: dict[str, Json], *, optional: tuple[str, ...] = ()) -> Json:
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": properties,
        "additionalProperties": False,
    }


_TIME = {"type": "string", "format": "date-time"}
_PAGE_ID_OUT = {"type": "string", "pattern": _CANONICAL_ID, "examples": [_EXAMPLE_PAGE]}
_PAGE_ID_IN = {
    "type": "string",
    "maxLength": MAX_PAGE_ID_LENGTH,
    "pattern": PAGE_ID_PATTERN,
    "description": (
        '32 hex digits, a dashed UUID or a page link as Notion\'s "Copy link" gives it: '
        + "; ".join(ACCEPTED_FORMS[2:])
        + " (each may end in ?query or #block; blanks around are ignored)."
    ),
    "examples": [
        _EXAMPLE_PAGE,
        f"https://www.notion.so/acme/Groceries-{_EXAMPLE_PAGE.replace('-', '')}",
        f"https://app.notion.com/p/Groceries-{_EXAMPLE_PAGE.replace('-', '')}?source=copy_link",
    ],
}
_BATCH_STATUS = {"type": "string", "enum": ["idle", "running", "completed", "failed"]}


def _handler_in(handlers: Sequence[str]) -> Json:
    return {
        "oneOf": [{"type": "string", "enum": list(handlers)}, {"type": "null"}],
        "description": (
            "The handler run on each to-do, one of those installed (built-ins `complete` and "
            "`webhook`, and plugins of the `notion_batch.handlers` entry point group). "
            "Default (or null): the workers' TODO_HANDLER."
        ),
        "examples": ["webhook"],
    }


_HANDLER_OUT = {
    **_nullable({"type": "string"}),
    "description": "The handler the run chose; null: the workers' default (TODO_HANDLER).",
}


def _integration_in(integrations: Sequence[str]) -> Json:
    return {
        "oneOf": [{"type": "string", "enum": list(integrations)}, {"type": "null"}],
        "description": (
            "The Notion integration the batch works through: its own token and its own share "
            "of Notion's rate limit. One of NOTION_INTEGRATIONS; default (or null): `default`, "
            "the integration of NOTION_TOKEN."
        ),
        "examples": ["default"],
    }


_INTEGRATION_OUT = {
    "type": "string",
    "pattern": INTEGRATION_NAME_PATTERN,
    "description": "The Notion integration the run works through.",
}


def _schemas(handlers: Sequence[str], integrations: Sequence[str]) -> Json:
    return {
        "Error": {
            "type": "object",
            "required": ["success", "message"],
            "properties": {
                "success": {"const": False},
                "message": {"type": "string", "description": "What went wrong, for people."},
                "field": {
                    "type": "string",
                    "description": "The body field, parameter or header that was wrong.",
                },
                "notion_page_id": _PAGE_ID_OUT,
                "required_scope": {"type": "string", "enum": ["read", "write"]},
                "retry_after_seconds": {"type": "integer", "minimum": 1},
                "max_seconds": {"type": "integer", "minimum": 1},
                "accepted_forms": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "With a refused page id: the forms a page id may take.",
                },
            },
            "additionalProperties": False,
        },
        "StartRequest": {
            **_object(
                {
                    "notion_page_id": _PAGE_ID_IN,
                    "interval_seconds": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_INTERVAL_SECONDS,
                        "description": "Seconds between ticks (default: BATCH_INTERVAL_SECONDS).",
                    },
                    "duration_seconds": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_DURATION_SECONDS,
                        "description": "Lifetime of the batch (default: BATCH_DURATION_SECONDS).",
                    },
                    "handler": _handler_in(handlers),
                    "integration": _integration_in(integrations),
                },
                optional=("interval_seconds", "duration_seconds", "handler", "integration"),
            ),
            "examples": [
                {"notion_page_id": _EXAMPLE_PAGE, "interval_seconds": 10, "duration_seconds": 120}
            ],
        },
        "StartResponse": _object(
            {
                "success": {"const": True},
                "message": {"type": "string"},
                "notion_page_id": _PAGE_ID_OUT,
                "start_time": _TIME,
                "end_time": _TIME,
                "run_id": {"type": "integer", "minimum": 1},
                "interval_seconds": {"type": "integer", "minimum": 1},
                "duration_seconds": {"type": "integer", "minimum": 1},
                "handler": _HANDLER_OUT,
                "integration": _INTEGRATION_OUT,
            }
        ),
        "StopResponse": _object(
            {
                "success": {"const": True},
                "message": {"type": "string"},
                "notion_page_id": _PAGE_ID_OUT,
                "end_time": _TIME,
                "run_id": {"type": "integer", "minimum": 1},
            }
        ),
        "ExtendRequest": {
            **_object(
                {
                    "duration_seconds": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_DURATION_SECONDS,
                        "description": (
                            "Seconds added to the batch's end time. The batch may not last "
                            f"more than {MAX_DURATION_SECONDS} seconds in all (400 otherwise)."
                        ),
                    }
                }
            ),
            "examples": [{"duration_seconds": 600}],
        },
        "ExtendResponse": _object(
            {
                "success": {"const": True},
                "message": {"type": "string"},
                "notion_page_id": _PAGE_ID_OUT,
                "run_id": {"type": "integer", "minimum": 1},
                "start_time": _TIME,
                "previous_end_time": _TIME,
                "end_time": _TIME,
                "duration_seconds": {"type": "integer", "description": "Lifetime now, in all."},
                "interval_seconds": {"type": "integer", "minimum": 1},
            }
        ),
        "RunningInfo": _object(
            {
                "notion_page_id": _PAGE_ID_OUT,
                "start_time": _nullable(_TIME),
                "end_time": _nullable(_TIME),
                "status": _BATCH_STATUS,
            }
        ),
        "StatusResponse": _object(
            {
                "success": {"const": True},
                "notion_page_id": _PAGE_ID_OUT,
                "db_status": _BATCH_STATUS,
                "db_message": {"type": "string"},
                "db_last_run_at": _nullable(_TIME),
                "stalled": {
                    "type": "boolean",
                    "description": "The batch runs but has made no progress for longer than "
                    "BATCH_STALL_SECONDS (at least 3 intervals): no tick finished and no worker "
                    "is on it. The scheduler sets it going again; `stalled_since` says since "
                    "when.",
                },
                "stalled_since": _nullable(_TIME),
                "is_running": {"type": "boolean"},
                "running_info": _nullable(_schema("RunningInfo")),
                "run_id": _nullable({"type": "integer"}),
                "start_time": _nullable(_TIME),
                "end_time": _nullable(_TIME),
                "interval_seconds": _nullable({"type": "integer"}),
                "handler": _HANDLER_OUT,
                "integration": _nullable(_INTEGRATION_OUT),
                "ticks": {"type": "integer", "minimum": 0},
                "todos": _object(
                    {
                        "done": {"type": "integer", "minimum": 0},
                        "skipped": {"type": "integer", "minimum": 0},
                        "pending": {"type": "integer", "minimum": 0},
                    }
                ),
            }
        ),
        "AllStatusResponse": _object(
            {
                "success": {"const": True},
                "running_batches": {"type": "array", "items": _PAGE_ID_OUT},
                "running_count": {"type": "integer", "minimum": 0},
                "scheduler_jobs": {"type": "array", "items": {"type": "string"}},
                "batches": {"type": "array", "items": _schema("RunningInfo")},
            }
        ),
        "Run": _object(
            {
                "run_id": {"type": "integer", "minimum": 1},
                "status": {"type": "string", "enum": ["running", "completed", "failed"]},
                "end_reason": {
                    "oneOf": [
                        {"type": "string", "enum": ["expired", "stopped", "failed"]},
                        {"type": "null"},
                    ],
                    "description": "How the run ended; null while it runs.",
                },
                "message": {
                    "type": "string",
                    "description": "The run's summary, or why it stopped or failed.",
                },
                "start_time": _TIME,
                "scheduled_end_time": {**_TIME, "description": "When it is (was) due to end."},
                "end_time": {
                    **_nullable(_TIME),
                    "description": "When it really ended; null while it runs.",
                },
                "interval_seconds": {"type": "integer", "minimum": 1},
                "ticks": {"type": "integer", "minimum": 0},
                "ticks_coalesced": {"type": "integer", "minimum": 0},
                "stalls": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Times the run was seen stalled: no progress for longer than "
                    "BATCH_STALL_SECONDS while its ticks fell due (then set going again).",
                },
                "last_stalled_at": _nullable(_TIME),
                "todos": _object(
                    {
                        "done": {"type": "integer", "minimum": 0},
                        "skipped": {"type": "integer", "minimum": 0},
                    }
                ),
                "handler": _HANDLER_OUT,
                "integration": _INTEGRATION_OUT,
                "warnings": {
                    "type": "array",
                    "items": _schema("RunWarning"),
                    "description": "What the run met on the page and skipped without failing "
                    "(a block whose children Notion would not list), once per block, oldest "
                    "first (at most 100).",
                },
            }
        ),
        "RunWarning": _object(
            {
                "block_id": _PAGE_ID_OUT,
                "block_type": {"type": "string"},
                "status": _nullable({"type": "integer"}),
                "code": {"type": "string", "description": "Notion's error code."},
                "message": {"type": "string", "description": "The block and Notion's answer."},
                "first_seen_at": _TIME,
                "last_seen_at": _TIME,
                "seen": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Readings of the page that met it.",
                },
            }
        ),
        "HistoryResponse": _object(
            {
                "success": {"const": True},
                "notion_page_id": _PAGE_ID_OUT,
                "runs": {"type": "array", "items": _schema("Run"), "description": "Newest first."},
                "has_more": {"type": "boolean"},
                "next_cursor": _nullable({"type": "string", "pattern": HISTORY_CURSOR_PATTERN}),
            }
        ),
        "Todo": _object(
            {
                "block_id": {"type": "string", "format": "uuid"},
                "position": {"type": "integer", "minimum": 0},
                "text": {"type": "string"},
                "status": {"type": "string", "enum": list(TODO_STATUSES)},
                "attempts": {"type": "integer", "minimum": 0, "description": "Failed runs."},
                "last_error": _nullable({"type": "string"}),
                "result": _nullable({"type": "string"}),
                "run_id": _nullable({"type": "integer"}),
                "processed_at": _nullable(_TIME),
                "checked_in_notion_at": _nullable(_TIME),
                "first_seen_at": _TIME,
            }
        ),
        "TodosResponse": _object(
            {
                "success": {"const": True},
                "notion_page_id": _PAGE_ID_OUT,
                "counts": _object(
                    {
                        status: {"type": "integer", "minimum": 0}
                        for status in (*TODO_STATUSES, "total")
                    }
                ),
                "todos": {"type": "array", "items": _schema("Todo"), "description": "Page order."},
                "has_more": {"type": "boolean"},
                "next_cursor": _nullable({"type": "string", "pattern": TODO_CURSOR_PATTERN}),
            }
        ),
        "NotionWebhookRequest": {
            "description": (
                "What Notion's webhook subscription sends: once, an unsigned verification "
                "request; then signed events (only the fields read here are described)."
            ),
            "anyOf": [
                _object(
                    {
                        "verification_token": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_VERIFICATION_TOKEN_LENGTH,
                        }
                    }
                ),
                {
                    "type": "object",
                    "required": ["id", "type", "entity"],
                    "properties": {
                        "id": {"type": "string", "maxLength": MAX_EVENT_ID_LENGTH},
                        "type": {"type": "string", "examples": ["page.content_updated"]},
                        "entity": {
                            "type": "object",
                            "required": ["id", "type"],
                            "properties": {
                                "id": {"type": "string", "format": "uuid"},
                                "type": {"type": "string", "examples": ["page"]},
                            },
                        },
                        "authors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string"},
                                    "type": {
                                        "type": "string",
                                        "examples": ["person", "bot", "agent"],
                                    },
                                },
                            },
                        },
                        "attempt_number": {"type": "integer"},
                    },
                },
            ],
        },
        "NotionWebhookAnswer": _object(
            {
                "success": {"const": True},
                "message": {"type": "string"},
                "event_id": {"type": "string"},
                "action": {
                    "type": "string",
                    "enum": ["triggered", "resync_requested", "duplicate", "ignored"],
                    "description": (
                        "`triggered`: the running page's tick is due now; `resync_requested`: "
                        "a worker is on the page and reads it again before letting go; "
                        "`duplicate`: this event id was acted on before; `ignored`: not about "
                        "a page running on this integration, not a to-do change, or made by "
                        "integrations only (our own writes among them)."
                    ),
                },
            },
            optional=("event_id", "action"),
        ),
        "NotionWebhookVerification": _object(
            {
                "verification_token": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_VERIFICATION_TOKEN_LENGTH,
                },
                "received_at": _TIME,
                "remote_address": _nullable({"type": "string"}),
                "configured": {
                    "type": "boolean",
                    "description": "This is the token the API checks signatures with now.",
                },
            }
        ),
        "NotionWebhookVerificationResponse": _object(
            {
                "success": {"const": True},
                "integration": _INTEGRATION_OUT,
                "variable": {
                    "type": "string",
                    "description": "The variable to set to the token, on the API.",
                    "examples": ["NOTION_WEBHOOK_VERIFICATION_TOKEN"],
                },
                "verification_token": {
                    "type": "string",
                    "description": "The newest request's token: paste it into Notion.",
                },
                "received_at": _TIME,
                "token_configured": {"type": "boolean"},
                "verifications": {
                    "type": "array",
                    "items": _schema("NotionWebhookVerification"),
                    "description": (
                        "The last requests received, newest first. Anyone can send one: "
                        "Notion accepts only the token it sent, so pasting it proves it."
                    ),
                },
            }
        ),
        "Health": _object({"status": {"const": "ok"}}),
        "Readiness": _object(
            {
                "status": {"type": "string", "enum": ["ready", "not ready"]},
                "checks": _object({"database": {"type": "boolean"}, "broker": {"type": "boolean"}}),
            }
        ),
    }


def _error(description: str, **headers: Json) -> Json:
    answer = _json(_schema("Error"), description)
    if headers:
        answer["headers"] = headers
    return answer


_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
_WWW_AUTHENTICATE = {
    "description": "The Bearer challenge (RFC 6750).",
    "required": True,
    "schema": {"type": "string"},
}


def _responses() -> Json:
    return {
        "BadRequest": _error(
            "Malformed JSON, or a missing, invalid or unknown field; `field` names it."
        ),
        "Unauthorized": _error(
            "No API key, or one the API does not know.", **{"WWW-Authenticate": _WWW_AUTHENTICATE}
        ),
        "Forbidden": _error(
            "The API key lacks the scope this operation needs (`required_scope`).",
            **{"WWW-Authenticate": _WWW_AUTHENTICATE},
        ),
        "NotFound": _error("No batch was ever started for this page, or no such route."),
        "WebhookUnauthorized": _error(
            "Not signed by Notion for this integration: no or a wrong signature, an unknown "
            "integration, or no verification token configured for it. Nothing was done."
        ),
        "Conflict": _error("The batch is not in a state that allows this (`notion_page_id`)."),
        "PayloadTooLarge": _error(f"The body is over {MAX_BODY_BYTES} bytes."),
        "RateLimited": _error(
            "Too many writes from this API key; retry after `Retry-After` seconds.",
            **{"Retry-After": _RETRY_AFTER},
        ),
        "Unavailable": _error(
            "The database or the broker cannot be reached right now; nothing was half-done.",
            **{"Retry-After": _RETRY_AFTER},
        ),
    }


def _parameters() -> Json:
    return {
        "PageId": {
            "name": "notion_page_id",
            "in": "path",
            "required": True,
            "description": "The page: 32 hex digits, a dashed UUID or a URL-encoded page URL.",
            "schema": {**_PAGE_ID_IN, "pattern": PATH_PAGE_ID_PATTERN},
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": (
                "Makes a start safe to retry: a start repeated with the same key (and the same "
                "body) within 24 hours gets the first answer again, status and body, with "
                "`Idempotent-Replayed: true`, instead of a 409. The same key with a different "
                "body is answered 422. Keys belong to the API key that sent them."
            ),
            "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
        },
    }


def _limit(bounds: tuple[int, int, int]) -> Json:
    minimum, default, maximum = bounds
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Most items in one answer.",
        "schema": {"type": "integer", "minimum": minimum, "maximum": maximum, "default": default},
    }


def _cursor(pattern: str) -> Json:
    return {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "`next_cursor` of the previous answer; omit for the first page.",
        "schema": {"type": "string", "pattern": pattern},
    }


def _security(scope: str | None) -> list[Json]:
    return [{"bearerAuth": [scope]}] if scope else []


def _answers(ok: Json, *errors: str) -> Json:
    names = {
        "400": "BadRequest",
        "401": "Unauthorized",
        "403": "Forbidden",
        "404": "NotFound",
        "409": "Conflict",
        "413": "PayloadTooLarge",
        "429": "RateLimited",
        "503": "Unavailable",
    }
    return {"200": ok, **{code: _ref("responses", names[code]) for code in errors}}


_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "With an `Idempotency-Key`: `true` when this is the first answer again.",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
}


def _paths(integrations: Sequence[str]) -> Json:
    page = _ref("parameters", "PageId")
    return {
        "/api/v1/batch/start": {
            "post": {
                "operationId": "startBatch",
                "tags": ["batches"],
                "summary": "Start a batch on a page",
                "description": (
                    "The page's batch becomes `running` and its first tick fires at once. "
                    "Of two concurrent starts of one page exactly one wins; the other is 409."
                ),
                "security": _security("write"),
                "parameters": [_ref("parameters", "IdempotencyKey")],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _schema("StartRequest")}},
                },
                "responses": {
                    **_answers(
                        _json(_schema("StartResponse"), "Started.", headers=_REPLAYED),
                        "400",
                        "401",
                        "403",
                        "413",
                        "429",
                        "503",
                    ),
                    "409": _error("A batch is already running for this page.", **_REPLAYED),
                    "422": _error("This Idempotency-Key was used for a different request."),
                },
            }
        },
        "/api/v1/batch/stop/{notion_page_id}": {
            "post": {
                "operationId": "stopBatch",
                "tags": ["batches"],
                "summary": "Stop a running batch",
                "description": (
                    "Ends the batch at once: `completed`, with a message saying it was "
                    "stopped. No to-do starts after this answer. No body."
                ),
                "security": _security("write"),
                "parameters": [page],
                "responses": _answers(
                    _json(_schema("StopResponse"), "Stopped."),
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "413",
                    "429",
                    "503",
                ),
            }
        },
        "/api/v1/batch/extend/{notion_page_id}": {
            "post": {
                "operationId": "extendBatch",
                "tags": ["batches"],
                "summary": "Lengthen a running batch",
                "description": (
                    "Moves the running batch's end time later by `duration_seconds`. 409 if no "
                    "batch is running (or it has reached its end already)."
                ),
                "security": _security("write"),
                "parameters": [page],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _schema("ExtendRequest")}},
                },
                "responses": _answers(
                    _json(_schema("ExtendResponse"), "Extended."),
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "413",
                    "429",
                    "503",
                ),
            }
        },
        "/api/v1/batch/status/{notion_page_id}": {
            "get": {
                "operationId": "getBatchStatus",
                "tags": ["batches"],
                "summary": "The page's batch: state, current run, to-do counts",
                "security": _security("read"),
                "parameters": [page],
                "responses": _answers(
                    _json(_schema("StatusResponse"), "The batch."),
                    "400",
                    "401",
                    "404",
                    "503",
                ),
            }
        },
        "/api/v1/batch/status": {
            "get": {
                "operationId": "listRunningBatches",
                "tags": ["batches"],
                "summary": "Every running batch",
                "security": _security("read"),
                "responses": _answers(
                    _json(_schema("AllStatusResponse"), "The running batches."),
                    "401",
                    "503",
                ),
            }
        },
        "/api/v1/batch/history/{notion_page_id}": {
            "get": {
                "operationId": "getBatchHistory",
                "tags": ["reports"],
                "summary": "The page's runs, newest first",
                "description": (
                    "Each start of the page is a run: when it started and ended, how it ended "
                    "(`expired`, `stopped`, `failed` with the reason in `message`), its ticks "
                    "and the to-dos it did or skipped."
                ),
                "security": _security("read"),
                "parameters": [page, _limit(HISTORY_LIMIT), _cursor(HISTORY_CURSOR_PATTERN)],
                "responses": _answers(
                    _json(_schema("HistoryResponse"), "A page of runs."),
                    "400",
                    "401",
                    "404",
                    "503",
                ),
            }
        },
        "/api/v1/batch/todos/{notion_page_id}": {
            "get": {
                "operationId": "listTodos",
                "tags": ["reports"],
                "summary": "The page's to-dos, in page order",
                "description": (
                    "Every to-do seen on the page, with its status, failed attempts, last "
                    "error, result and when it was processed. `counts` covers all of them, "
                    "whatever the filter."
                ),
                "security": _security("read"),
                "parameters": [
                    page,
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "description": "Only these statuses, comma-separated: `pending,skipped`.",
                        "style": "form",
                        "explode": False,
                        "schema": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "enum": list(TODO_STATUSES)},
                        },
                    },
                    _limit(TODOS_LIMIT),
                    _cursor(TODO_CURSOR_PATTERN),
                ],
                "responses": _answers(
                    _json(_schema("TodosResponse"), "A page of to-dos."),
                    "400",
                    "401",
                    "404",
                    "503",
                ),
            }
        },
        **_webhook_paths(integrations),
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "tags": ["meta"],
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
            }
        },
        "/api/docs": {
            "get": {
                "operationId": "getDocsPage",
                "tags": ["meta"],
                "summary": "This document, for people (Swagger UI)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "An HTML page.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "getMetrics",
                "tags": ["meta"],
                "summary": "Prometheus metrics of this process",
                "description": "The text exposition format; names start with `notion_batch_`.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "getHealth",
                "tags": ["meta"],
                "summary": "Liveness: the process answers",
                "security": [],
                "responses": {"200": _json(_schema("Health"), "Alive.")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "getReadiness",
                "tags": ["meta"],
                "summary": "Readiness: the database and the broker are reachable",
                "security": [],
                "responses": {
                    "200": _json(_schema("Readiness"), "Ready."),
                    "503": _json(_schema("Readiness"), "Not ready; `checks` says what is down."),
                },
            }
        },
    }


def _webhook_paths(integrations: Sequence[str]) -> Json:
    receive = {
        "tags": ["notion"],
        "summary": "Notion's webhook subscription: verification request or signed event",
        "description": (
            "No API key: an event must carry Notion's signature (`X-Notion-Signature: "
            "sha256=<hex HMAC-SHA256 of the raw body, keyed by the verification token>`), "
            "checked with the integration's NOTION_WEBHOOK_VERIFICATION_TOKEN[_NAME]. "
            "`page.content_updated`, `page.deleted` and `page.undeleted` by a person (not "
            "only integrations) for a page running on this integration make its tick due now; "
            "other events are answered 200 and ignored. An unsigned verification request "
            "`{verification_token}` is kept for an operator to read (never trusted to check "
            "signatures). 401 for anything else unsigned or badly signed; nothing is done."
        ),
        "security": [],
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": False,
                "description": "`sha256=<hex>`; absent only on a verification request.",
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _schema("NotionWebhookRequest")}},
        },
        "responses": {
            "200": _json(_schema("NotionWebhookAnswer"), "Taken; `action` says what it did."),
            "400": _ref("responses", "BadRequest"),
            "401": _ref("responses", "WebhookUnauthorized"),
            "413": _ref("responses", "PayloadTooLarge"),
            "503": _ref("responses", "Unavailable"),
        },
    }
    named = {
        **receive,
        "parameters": [
            {
                "name": "integration",
                "in": "path",
                "required": True,
                "description": "A Notion integration of NOTION_INTEGRATIONS.",
                "schema": {"type": "string", "pattern": INTEGRATION_NAME_PATTERN},
            },
            *receive["parameters"],
        ],
    }
    return {
        "/api/v1/notion/webhook": {"post": {"operationId": "receiveNotionWebhook", **receive}},
        "/api/v1/notion/webhook/{integration}": {
            "post": {"operationId": "receiveNotionWebhookOfIntegration", **named}
        },
        "/api/v1/notion/webhook-verification": {
            "get": {
                "operationId": "getNotionWebhookVerification",
                "tags": ["notion"],
                "summary": "The verification token Notion's subscription sent, to paste",
                "description": (
                    "The tokens of the last verification requests received for the "
                    "integration, newest first. Paste the token into Notion's integration "
                    "settings (Webhooks → Verify), then set the variable named in `variable` "
                    "to it on the API. A secret: write scope only."
                ),
                "security": _security("write"),
                "parameters": [
                    {
                        "name": "integration",
                        "in": "query",
                        "required": False,
                        "description": "A Notion integration of NOTION_INTEGRATIONS.",
                        "schema": {
                            "type": "string",
                            "enum": list(integrations),
                            "default": DEFAULT_INTEGRATION,
                        },
                    }
                ],
                "responses": {
                    **_answers(
                        _json(_schema("NotionWebhookVerificationResponse"), "The tokens."),
                        "400",
                        "401",
                        "403",
                        "429",
                        "503",
                    ),
                    "404": _error("No verification request was received for it yet."),
                },
            }
        },
    }


def build_document(
    version: str,
    *,
    handlers: Sequence[str] | None = None,
    integrations: Sequence[str] = (DEFAULT_INTEGRATION,),
) -> Json:
    """The OpenAPI 3.1 document of this API, at ``version``; a start's ``handler`` is one of
    ``handlers`` (default: those installed here)."""
    handlers = handler_names() if handlers is None else handlers
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "notion-batch",
            "version": version,
            "description": _DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "batches", "description": "Start, stop, extend and watch batches."},
            {"name": "reports", "description": "What a page's batches did."},
            {"name": "notion", "description": "Notion's webhook subscriptions."},
            {"name": "meta", "description": "Probes and this contract."},
        ],
        "paths": _paths(integrations),
        "components": {
            "schemas": _schemas(handlers, integrations),
            "responses": _responses(),
            "parameters": _parameters(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (API_KEYS, API_KEYS_FILE): scope read or write.",
                }
            },
        },
    }
