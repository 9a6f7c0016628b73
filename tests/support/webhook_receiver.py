"""A webhook receiver for tests: a real aiohttp server on a free port of 127.0.0.1.

It answers as the test tells it — the next of ``script`` while there is one, else per to-do
text when ``answers`` names it, else ``status``/``body`` after ``delay`` seconds — and keeps
every request it got (headers and JSON body, and the raw bytes in ``raw``), so a test checks
both what was sent and what was made of the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = ""
    content_type: str = "application/json"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Receiver:
    url: str = ""
    default: Answer = field(default_factory=Answer)
    #: Answers by the to-do's text, for tests that send several to-dos.
    answers: dict[str, Answer] = field(default_factory=dict)
    received: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    #: Answers given in order, one per request, before the others apply.
    script: list[Answer] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        payload = await request.json()
        self.received.append((dict(request.headers), payload))
        self.raw.append(body)
        if self.script:
            answer = self.script.pop(0)
        else:
            answer = self.answers.get(str(payload.get("text")), self.default)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return web.Response(
            status=answer.status,
            text=answer.body,
            content_type=answer.content_type,
            headers=answer.headers,
        )

    def texts(self) -> list[str]:
        return [str(payload["text"]) for _, payload in self.received]


@asynccontextmanager
async def webhook_receiver(path: str = "/hook") -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post(path, receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
