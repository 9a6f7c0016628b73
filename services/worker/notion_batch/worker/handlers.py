"""To-do handlers: what "working a to-do" means, pluggable as ``module:function``.

A handler is a plain async function that receives a :class:`Todo` and returns either a
result text (the to-do is done) or an :class:`Outcome` (done or skipped, with a text). Raising
means "failed this time": the to-do is retried on later ticks, up to ``TODO_MAX_ATTEMPTS``,
then skipped with the error kept. A handler runs again only if its worker died between the
handler returning and the outcome being committed; ``Todo.idempotency_key`` is the same in
that case, so a handler with side effects can deduplicate on it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from notion_batch.common.errors import ConfigError


@dataclass(frozen=True)
class Todo:
    block_id: str
    notion_page_id: str
    text: str
    #: 1 for the first run; failed runs before this one are ``attempt - 1``.
    attempt: int
    batch_run_id: int

    @property
    def idempotency_key(self) -> str:
        """Stable across re-runs of the same attempt (a worker crash), new for a retry."""
        return f"{self.block_id}:{self.attempt}"


@dataclass(frozen=True)
class Outcome:
    status: Literal["done", "skipped"]
    result: str

    @classmethod
    def done(cls, result: str) -> Outcome:
        return cls("done", result)

    @classmethod
    def skip(cls, reason: str) -> Outcome:
        return cls("skipped", reason)


HandlerResult = str | Outcome | None
Handler = Callable[[Todo], Awaitable[HandlerResult]]


def as_outcome(value: HandlerResult) -> Outcome:
    if isinstance(value, Outcome):
        return value
    return Outcome.done(value or "done")


async def complete(todo: Todo) -> Outcome:
    """The default handler: marks the to-do done."""
    return Outcome.done("completed by notion-batch")


def load_handler(spec: str) -> Handler:
    """Import ``package.module:function``; raises :class:`ConfigError` if it is not a handler."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError("TODO_HANDLER", f"cannot import {module_name!r}: {exc}") from None
    handler = getattr(module, attribute, None)
    if handler is None:
        raise ConfigError("TODO_HANDLER", f"{module_name!r} has no attribute {attribute!r}")
    if not inspect.iscoroutinefunction(handler):
        raise ConfigError("TODO_HANDLER", f"{spec!r} is not an async function")
    return handler  # type: ignore[no-any-return]
