"""To-do handlers: what a handler is, and which ones are installed.

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

The names are the built-ins (``complete``, ``webhook``) and every entry point of the
``notion_batch.handlers`` group (``importlib.metadata``). Listing them imports nothing, so
the API validates a batch's ``handler`` against the same names without the worker's
runtime dependencies.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Literal

from notion_batch.common.errors import ConfigError

if TYPE_CHECKING:  # config imports this module (to validate TODO_HANDLER)
    from notion_batch.common.config import WorkerSettings

#: The entry point group a plugin package declares its handlers in.
ENTRY_POINT_GROUP = "notion_batch.handlers"
#: Built-in handlers, by name. They cannot be replaced by a plugin of the same name.
BUILTIN_HANDLERS: Mapping[str, str] = {
    "complete": "notion_batch.worker.handlers:complete",
    "webhook": "notion_batch.worker.webhook:webhook",
}
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
    settings: WorkerSettings
    #: The environment the settings were read from: a plugin reads its own variables here
    #: (``notion_batch.common.config.Env`` validates them and names the culprit).
    environ: Mapping[str, str]


HandlerFactory = Callable[[HandlerContext], AbstractAsyncContextManager[Handler]]


def as_outcome(value: HandlerResult) -> Outcome:
    if isinstance(value, Outcome):
        return value
    return Outcome.done(value or "done")


def discover() -> dict[str, str]:
    """Every installed handler: name → ``module:attribute``, built-ins first. Imports nothing."""
    found = dict(BUILTIN_HANDLERS)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.value.replace(" ", ""))
    return found


def handler_names() -> tuple[str, ...]:
    """The names a batch may choose (``"handler"`` of a start request), sorted."""
    return tuple(sorted(discover()))


def resolve(spec: str, *, variable: str = "TODO_HANDLER") -> str:
    """``module:function`` of a handler given by name or as ``module:function``."""
    if ":" in spec:
        module, _, attribute = spec.partition(":")
        if not module or not attribute:
            raise ConfigError(variable, f"must look like 'package.module:function', got {spec!r}")
        return spec
    installed = discover()
    if spec not in installed:
        raise ConfigError(
            variable,
            f"unknown handler {spec!r}; installed: {', '.join(sorted(installed))} "
            "(or give package.module:function)",
        )
    return installed[spec]


def load(spec: str, *, variable: str = "TODO_HANDLER") -> Handler | HandlerFactory:
    """Import the handler or handler factory named by ``spec`` (a name or module:function).

    Raises :class:`ConfigError` naming ``variable`` when it cannot be imported or is neither
    an async function nor a callable factory.
    """
    target = resolve(spec, variable=variable)
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(variable, f"cannot import {module_name!r}: {exc}") from None
    found: object = module
    for part in attribute.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ConfigError(variable, f"{module_name!r} has no attribute {attribute!r}")
    if not callable(found):
        raise ConfigError(variable, f"{target!r} is not an async function or a handler factory")
    return found


def is_plain_handler(target: Handler | HandlerFactory) -> bool:
    """An async function is a handler itself; any other callable is a factory."""
    return inspect.iscoroutinefunction(target)
