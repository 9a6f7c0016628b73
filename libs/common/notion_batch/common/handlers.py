"""To-do handlers as every service sees them: what a handler is, and the names installed.

A handler is what "working a to-do" means. It receives a :class:`Todo` and returns a result
text (the to-do is done), an :class:`Outcome` (done or skipped, with a text), or raises
(failed this time: retried on later ticks up to ``TODO_MAX_ATTEMPTS``, then skipped with the
error kept). A handler runs again only if its worker stopped between the handler returning
and the outcome being committed; ``Todo.idempotency_key`` is then the same, so a handler
with side effects can deduplicate on it.

A handler is registered under a name in one of two forms:

* an async function ``async def handle(todo: Todo) -> Outcome``;
* a *handler factory* (arq's ``ctx``, instead of module globals): a callable that receives a
  :class:`HandlerContext` and returns an async context manager yielding the handler — the
  worker enters it at start and exits it at shutdown, so clients and sessions live exactly
  as long as the worker (``@contextlib.asynccontextmanager`` writes one in a few lines).

The names are the built-ins (:data:`BUILTIN_HANDLER_NAMES`) and every entry point of the
``notion_batch.handlers`` group (``importlib.metadata``). This module knows the names only:
the worker owns the handlers, finds what each name runs and opens them. Listing the names
imports nothing, so the API validates a batch's ``handler`` against the same names without
the worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal

#: The entry point group a plugin package declares its handlers in.
ENTRY_POINT_GROUP = "notion_batch.handlers"
#: The built-in handlers' names (the worker has one of each). A plugin cannot take one.
BUILTIN_HANDLER_NAMES: tuple[str, ...] = ("complete", "webhook")
DEFAULT_HANDLER = "complete"


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


@dataclass(frozen=True)
class HandlerContext:
    """What a handler factory gets when the worker starts (arq's ``ctx``)."""

    #: The name the handler is registered under, or its ``module:function``.
    name: str
    #: The worker's settings (its ``WorkerSettings``): loosely typed here, where the worker's
    #: types are not known.
    settings: Any
    #: The environment the settings were read from: a plugin reads its own variables here
    #: (``notion_batch.common.config.Env`` validates them and names the culprit).
    environ: Mapping[str, str]


HandlerFactory = Callable[[HandlerContext], AbstractAsyncContextManager[Handler]]


def handler_names() -> tuple[str, ...]:
    """The names a batch may choose (``"handler"`` of a start request), sorted. Imports nothing."""
    plugins = {entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)}
    return tuple(sorted(plugins.union(BUILTIN_HANDLER_NAMES)))
