"""The OpenAPI 3.1 document of the API: every endpoint, request, response and error.

The document is data, ``openapi.yaml`` beside this module, written by hand next to the code
it describes and held to it by tests: every route is in it, real responses of every kind
validate against it, and schemathesis probes the live API with requests generated from it.

What is not fixed text is a ``${NAME}`` placeholder, filled here by :func:`build_document`:
the version, the installed handlers and the configured integrations, and the patterns and
bounds the validation itself uses (``requests.py`` and its neighbours), so the document
cannot promise what the API refuses. A placeholder that is a whole value takes the value
as it is (a number, a list); one inside a text is replaced by the value's text.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import yaml

from notion_batch.api.middlewares import MAX_BODY_BYTES, RETRY_AFTER_SECONDS
from notion_batch.api.notion_webhooks.events import (
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
    RUNNING_CURSOR_PATTERN,
    RUNNING_LIMIT,
    TODO_CURSOR_PATTERN,
    TODO_STATUSES,
    TODOS_LIMIT,
)
from notion_batch.common.config import DEFAULT_INTEGRATION, INTEGRATION_NAME_PATTERN
from notion_batch.common.handlers import handler_names
from notion_batch.common.ids import (
    ACCEPTED_FORMS,
    CANONICAL_ID,
    MAX_PAGE_ID_LENGTH,
    PAGE_ID_PATTERN,
    PATH_PAGE_ID_PATTERN,
)

Json = dict[str, Any]

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_]+)\}")
# libyaml's loader when PyYAML was built with it (its wheels are), else the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def _template() -> Json:
    """``openapi.yaml``, read once per process."""
    text = resources.files(__package__).joinpath("openapi.yaml").read_text("utf-8")
    document: Json = yaml.load(text, Loader=_LOADER)
    return document


def _constants() -> Json:
    """The placeholders that are the code's own constants."""
    history_min, history_default, history_max = HISTORY_LIMIT
    todos_min, todos_default, todos_max = TODOS_LIMIT
    running_min, running_default, running_max = RUNNING_LIMIT
    counted = (*TODO_STATUSES, "total")
    return {
        "CANONICAL_ID": CANONICAL_ID,
        "DEFAULT_INTEGRATION": DEFAULT_INTEGRATION,
        "HISTORY_CURSOR_PATTERN": HISTORY_CURSOR_PATTERN,
        "HISTORY_LIMIT_MIN": history_min,
        "HISTORY_LIMIT_DEFAULT": history_default,
        "HISTORY_LIMIT_MAX": history_max,
        "IDEMPOTENCY_KEY_PATTERN": IDEMPOTENCY_KEY_PATTERN,
        "INTEGRATION_NAME_PATTERN": INTEGRATION_NAME_PATTERN,
        "MAX_BODY_BYTES": MAX_BODY_BYTES,
        "MAX_DURATION_SECONDS": MAX_DURATION_SECONDS,
        "MAX_EVENT_ID_LENGTH": MAX_EVENT_ID_LENGTH,
        "MAX_INTERVAL_SECONDS": MAX_INTERVAL_SECONDS,
        "MAX_PAGE_ID_LENGTH": MAX_PAGE_ID_LENGTH,
        "MAX_VERIFICATION_TOKEN_LENGTH": MAX_VERIFICATION_TOKEN_LENGTH,
        # The two bare forms are said in the text; the links are listed from ids.py.
        "PAGE_LINK_FORMS": "; ".join(ACCEPTED_FORMS[2:]),
        "PAGE_ID_PATTERN": PAGE_ID_PATTERN,
        "PATH_PAGE_ID_PATTERN": PATH_PAGE_ID_PATTERN,
        "RETRY_AFTER_SECONDS": RETRY_AFTER_SECONDS,
        "RUNNING_CURSOR_PATTERN": RUNNING_CURSOR_PATTERN,
        "RUNNING_LIMIT_MIN": running_min,
        "RUNNING_LIMIT_DEFAULT": running_default,
        "RUNNING_LIMIT_MAX": running_max,
        "SIGNATURE_HEADER": SIGNATURE_HEADER,
        "TODO_CURSOR_PATTERN": TODO_CURSOR_PATTERN,
        "TODO_STATUSES": list(TODO_STATUSES),
        # The to-do counts of a report: one per status, and their total.
        "TODO_COUNTS": {
            "type": "object",
            "required": list(counted),
            "properties": {name: {"type": "integer", "minimum": 0} for name in counted},
            "additionalProperties": False,
        },
        "TODOS_LIMIT_MIN": todos_min,
        "TODOS_LIMIT_DEFAULT": todos_default,
        "TODOS_LIMIT_MAX": todos_max,
    }


def _fill(node: Any, values: Json) -> Any:
    """A copy of ``node`` with its placeholders filled from ``values``."""
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(value, values) for value in node]
    if isinstance(node, str):
        whole = _PLACEHOLDER.fullmatch(node)
        if whole is not None:
            return copy.deepcopy(values[whole.group(1)])
        return _PLACEHOLDER.sub(lambda found: str(values[found.group(1)]), node)
    return node


def build_document(
    version: str,
    *,
    handlers: Sequence[str] | None = None,
    integrations: Sequence[str] = (DEFAULT_INTEGRATION,),
) -> Json:
    """The OpenAPI 3.1 document of this API, at ``version``; a start's ``handler`` is one of
    ``handlers`` (default: those installed here), its ``integration`` one of
    ``integrations``."""
    chosen = handler_names() if handlers is None else handlers
    values = {
        **_constants(),
        "version": version,
        "handlers": list(chosen),
        "integrations": list(integrations),
    }
    document: Json = _fill(_template(), values)
    return document
