"""``triage``: defer the to-dos that mention a skip word, mark the others done.

A handler factory: the worker calls ``triage(ctx)`` once at start and enters the context it
returns; what it yields is the handler run on each to-do, and what follows the ``yield``
runs at shutdown. Settings come from ``ctx.environ`` through ``Env``, so a bad value stops
the worker with one line naming the variable, like notion-batch's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from notion_batch.common.config import Env
from notion_batch.common.errors import ConfigError
from notion_batch.common.handlers import Handler, HandlerContext, Outcome, Todo

DEFAULT_SKIP_WORDS = "later,someday"


def skip_words(raw: str) -> tuple[str, ...]:
    words = tuple(word.strip().lower() for word in raw.split(",") if word.strip())
    if not words:
        raise ConfigError("TRIAGE_SKIP_WORDS", "must name at least one word")
    return words


@asynccontextmanager
async def triage(ctx: HandlerContext) -> AsyncIterator[Handler]:
    words = skip_words(Env(ctx.environ).string("TRIAGE_SKIP_WORDS", DEFAULT_SKIP_WORDS))

    async def handle(todo: Todo) -> Outcome:
        text = todo.text.lower()
        for word in words:
            if word in text:
                return Outcome.skip(f"deferred: mentions {word!r}")
        return Outcome.done(f"triaged on attempt {todo.attempt}")

    # A real plugin would open its client here, and close it after the yield.
    yield handle
