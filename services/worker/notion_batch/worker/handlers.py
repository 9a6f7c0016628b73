"""The worker's handlers: the default ``complete``, and the set a worker opens at start.

What a handler is, and the registry of installed ones, live in
``notion_batch.common.handlers`` (the API validates a batch's choice against it too); the
names below are re-exported so that ``from notion_batch.worker.handlers import Outcome,
Todo`` keeps working.

At start the worker opens every installed handler (entering each factory's context, e.g. the
webhook's HTTP session) and closes them all at shutdown. Its default handler
(``TODO_HANDLER``) must open, or the worker does not start; another one that cannot open
(``webhook`` without ``TODO_WEBHOOK_URL``, a plugin missing its settings) is logged and
stays unavailable on this worker: a batch that chose it gets its to-dos failed with the
reason (retried, then skipped), as when a handler raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace

import structlog

from notion_batch.common.errors import ConfigError, NotionBatchError
from notion_batch.common.handlers import (
    Handler,
    HandlerContext,
    HandlerFactory,
    HandlerResult,
    Outcome,
    Todo,
    as_outcome,
    handler_names,
    is_plain_handler,
    load,
)

__all__ = [
    "Handler",
    "HandlerContext",
    "HandlerResult",
    "HandlerUnavailable",
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


class HandlerUnavailable(NotionBatchError):
    """A batch chose a handler this worker does not have open."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"handler {name!r} is not available on this worker: {reason}")
        self.name = name
        self.reason = reason


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
