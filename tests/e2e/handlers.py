"""A handler the end-to-end tests steer through markers in the to-do text.

``[fail]`` raises every time, ``[skip]`` asks to skip, ``[slow]`` takes
``TEST_SLOW_SECONDS``; every to-do takes ``TEST_HANDLER_DELAY`` seconds. ``[trash]`` has a
person move the to-do to Notion's trash (the emulator's control API at ``NOTION_BASE_URL``)
before the handler answers done: after the tick read the page and before it checks the
to-do, deterministically, on a real worker process.
"""

from __future__ import annotations

import asyncio
import os

import aiohttp

from notion_batch.worker.handlers import Outcome, Todo


async def scripted(todo: Todo) -> Outcome:
    delay = float(os.environ.get("TEST_HANDLER_DELAY", "0"))
    if "[slow]" in todo.text:
        delay += float(os.environ.get("TEST_SLOW_SECONDS", "1"))
    if delay:
        await asyncio.sleep(delay)
    if "[trash]" in todo.text:
        await _person_trashes(todo.block_id)
    if "[fail]" in todo.text:
        raise RuntimeError(f"scripted failure of {todo.text!r} (attempt {todo.attempt})")
    if "[skip]" in todo.text:
        return Outcome.skip("scripted skip")
    return Outcome.done(f"handled {todo.idempotency_key}")


async def _person_trashes(block_id: str) -> None:
    url = f"{os.environ['NOTION_BASE_URL']}/_emulator/blocks/{block_id}"
    async with (
        aiohttp.ClientSession() as http,
        http.patch(url, json={"archived": True}) as response,
    ):
        response.raise_for_status()
