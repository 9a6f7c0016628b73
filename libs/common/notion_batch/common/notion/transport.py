"""The HTTP under the Notion SDK: httpx's interface, aiohttp's client.

notion-client speaks httpx; httpx's own transport (httpcore, h11, anyio, in pure Python) cost
about 0.5 ms of CPU per Notion call, four times what aiohttp's client (C parser) costs for the
same PATCH — half of a worker's CPU per to-do. This transport keeps everything above it as it
was (the SDK builds the request and reads the answer; httpx's client applies base URL,
headers and timeouts) and sends the request with one aiohttp session.

aiohttp's failures become the httpx exceptions the SDK and our retry policy know, keeping the
one distinction that matters for writes: whether the request may have left.

- nothing sent: cannot connect (``ConnectError``), no connection in time (``ConnectTimeout``);
- sent, no answer in time: ``ReadTimeout`` (the SDK's ``RequestTimeoutError``);
- sent, connection lost: ``ReadError`` / ``RemoteProtocolError``.
"""

from __future__ import annotations

import aiohttp
import httpx

#: Request headers aiohttp computes itself from the URL and the body.
_COMPUTED = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport sending through one ``aiohttp.ClientSession`` (made on first use)."""

    def __init__(self, *, max_connections: int = 100) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                # httpx decodes the body by its Content-Encoding, as with its own transport.
                auto_decompress=False,
                # httpx's client already set the headers it wants; add none of aiohttp's own.
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open()
        limits = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            # Waiting for a pooled connection, then connecting: nothing has been sent yet.
            connect=_add(limits.get("pool"), limits.get("connect")),
            sock_read=limits.get("read"),
        )
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() not in _COMPUTED
        ]
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=await request.aread() or None,
                timeout=timeout,
                allow_redirects=False,
            ) as answer:
                content = await answer.read()
                return httpx.Response(
                    answer.status,
                    headers=list(answer.raw_headers),
                    content=content,
                    request=request,
                )
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timeout", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timeout", request=request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _add(first: float | None, second: float | None) -> float | None:
    if first is None or second is None:
        return None
    return first + second
