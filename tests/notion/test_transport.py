"""The gateway's HTTP transport (httpx over aiohttp): failures keep their meaning for retries."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from notion_batch.common.notion import NotionGateway, NotionUnavailable
from notion_batch.common.notion.transport import AiohttpTransport
from notion_batch.emulator import RunningEmulator
from tests.notion.conftest import fast_policy, notion_settings

PAGE = "6f1c2a4e-0000-4000-8000-000000000001"
PARAGRAPH = {"type": "paragraph", "paragraph": {"rich_text": []}}

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


async def _server(serve: Serve) -> AsyncIterator[str]:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
async def hangs_up() -> AsyncIterator[str]:
    """Reads each request, then closes the connection without a word."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.close()

    async for url in _server(serve):
        yield url


async def test_a_connection_lost_after_sending_is_ambiguous_for_a_write(
    emulator: RunningEmulator, hangs_up: str
) -> None:
    settings = notion_settings(emulator, base_url=hangs_up, max_attempts=3)
    async with NotionGateway(settings, retry_policy=fast_policy(settings)) as gateway:
        with pytest.raises(NotionUnavailable) as caught:
            await gateway.append_blocks(PAGE, [PARAGRAPH])
        # The append may have landed: not retried, the caller reconciles.
        assert caught.value.ambiguous is True
        assert caught.value.code == "connection"
        assert caught.value.attempts == 1
        # A check is idempotent: retried up to the limit, then unavailable (not ambiguous).
        with pytest.raises(NotionUnavailable) as checked:
            await gateway.check_todo(PAGE)
        assert checked.value.attempts == 3


async def test_bodies_headers_and_encodings_go_through_unchanged() -> None:
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        body = gzip.compress(json.dumps({"object": "block", "ok": True}).encode())
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"X-Echo: a\r\nX-Echo: b\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        writer.write(body)
        await writer.drain()
        writer.close()

    async for url in _server(serve):
        async with httpx.AsyncClient(transport=AiohttpTransport(), base_url=url) as client:
            answer = await client.patch(
                "/v1/blocks/x", json={"to_do": {"checked": True}}, headers={"X-Key": "v"}
            )
    assert answer.status_code == 200
    assert answer.json() == {"object": "block", "ok": True}  # decoded by httpx, once
    assert answer.headers.get_list("x-echo") == ["a", "b"]
    request = seen[0]
    assert request.startswith(b"PATCH /v1/blocks/x HTTP/1.1\r\n")
    assert b"\r\nx-key: v\r\n" in request.lower()
    assert request.endswith(b'{"to_do":{"checked":true}}')
    assert request.lower().count(b"\r\ncontent-length:") == 1
