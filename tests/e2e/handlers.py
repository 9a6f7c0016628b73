"""A handler the end-to-end tests steer through markers in the to-do text.

``[fail]`` raises every time, ``[skip]`` asks to skip, ``[slow]`` takes
``TEST_SLOW_SECONDS``; every to-do takes ``TEST_HANDLER_DELAY`` seconds.
"""

from __future__ import annotations

import asyncio
import os

from notion_batch.worker.handlers import Outcome, Todo


async def scripted(todo: Todo) -> Outcome:
    delay = float(os.environ.get("TEST_HANDLER_DELAY", "0"))
    if "[slow]" in todo.text:
        delay += float(os.environ.get("TEST_SLOW_SECONDS", "1"))
    if delay:
        await asyncio.sleep(delay)
    if "[fail]" in todo.text:
        raise RuntimeError(f"scripted failure of {todo.text!r} (attempt {todo.attempt})")
    if "[skip]" in todo.text:
        return Outcome.skip("scripted skip")
    return Outcome.done(f"handled {todo.idempotency_key}")
