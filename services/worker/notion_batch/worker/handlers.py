"""The worker's handlers: the built-ins, what each name runs, and the set a worker opens.

What a handler is, and the names installed, live in ``notion_batch.common.handlers`` (the API
validates a batch's choice against those names too); the types are re-exported here so that
``from notion_batch.worker.handlers import Outcome, Todo`` works. What a name runs is the
worker's business: a built-in's function below, or a plugin's entry point, imported only here.

At start the worker opens every installed handler (entering each factory's context, e.g. the
webhook's HTTP session) and closes them all at shutdown. Its default handler
(``TODO_HANDLER``) must open, or the worker does not start; another one that cannot open
(``webhook`` without ``TODO_WEBHOOK_URL``, a plugin missing its settings) is logged and
stays unavailable on this worker: a batch that chose it gets its to-dos failed with the
reason (retried, then skipped), as when a handler raises.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from importlib.metadata import entry_points

import structlog

from notion_batch.common.errors import ConfigError
from notion_batch.common.handlers import (
    ENTRY_POINT_GROUP,
    Handler,
    HandlerContext,
    HandlerFactory,
    HandlerResult,
    Outcome,
    Todo,
    handler_names,
)
from notion_batch.worker.errors import HandlerUnavailable

__all__ = [
    "Handler",
    "HandlerContext",
    "HandlerResult",
    "Handlers",
    "Outcome",
    "Todo",
    "as_outcome",
    "complete",
    "open_handlers",
]

log = structlog.get_logger(__name__)


async def complete(todo: Todo) -> Outcome:
    """The default handler: marks the to-do done."""
    return Outcome.done("completed by notion-batch")


#: What each built-in name runs (``module:function``, imported when the worker opens it):
#: one for each of common's ``BUILTIN_HANDLER_NAMES``. A plugin cannot replace one.
BUILTIN_HANDLERS: Mapping[str, str] = {
    "complete": "notion_batch.worker.handlers:complete",
    "webhook": "notion_batch.worker.http_handler:webhook",
}


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


class Handlers:
    """The handlers a worker has open, by name; ``None`` is the worker's default."""

    def __init__(
        self,
        default: Handler,
        named: Mapping[str, Handler] | None = None,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        self._default = default
        self._named = dict(named or {})
        self._unavailable = dict(unavailable or {})

    @property
    def names(self) -> tuple[str, ...]:
        """The names this worker can run, sorted."""
        return tuple(sorted(self._named))

    def get(self, name: str | None) -> Handler:
        """The handler a batch chose (``None``: the default); raises :class:`HandlerUnavailable`."""
        if name is None:
            return self._default
        handler = self._named.get(name)
        if handler is None:
            raise HandlerUnavailable(name, self._unavailable.get(name, "it is not installed"))
        return handler


async def _open(stack: AsyncExitStack, ctx: HandlerContext) -> Handler:
    target = load(ctx.name)
    if is_plain_handler(target):
        return target  # type: ignore[return-value]
    factory: HandlerFactory = target  # type: ignore[assignment]
    manager = factory(ctx)
    if not hasattr(manager, "__aenter__") or not hasattr(manager, "__aexit__"):
        raise ConfigError(
            "TODO_HANDLER",
            f"{ctx.name!r} is neither an async function nor a handler factory "
            f"(it returned {type(manager).__name__}, not an async context manager)",
        )
    handler = await stack.enter_async_context(manager)
    if not callable(handler):
        raise ConfigError("TODO_HANDLER", f"the factory {ctx.name!r} yielded no handler")
    return handler


@asynccontextmanager
async def open_handlers(ctx: HandlerContext) -> AsyncIterator[Handlers]:
    """Open the default handler (``ctx.name``; its failure stops the worker) and every
    installed one; close them all on exit."""
    async with AsyncExitStack() as stack:
        default = await _open(stack, ctx)
        named: dict[str, Handler] = {}
        unavailable: dict[str, str] = {}
        for name in handler_names():
            if name == ctx.name:
                named[name] = default
                continue
            try:
                named[name] = await _open(stack, replace(ctx, name=name))
            except ConfigError as exc:  # not configured here, e.g. no TODO_WEBHOOK_URL
                unavailable[name] = exc.problem if exc.variable == "TODO_HANDLER" else str(exc)
                log.info("handler_not_configured", handler=name, reason=unavailable[name])
            except Exception as exc:  # a plugin's failure must not keep the worker down
                unavailable[name] = f"it failed to open: {type(exc).__name__}: {exc}"
                log.warning("handler_unavailable", handler=name, reason=unavailable[name])
        log.info("handlers_opened", default=ctx.name, available=sorted(named))
        yield Handlers(default, named, unavailable)
