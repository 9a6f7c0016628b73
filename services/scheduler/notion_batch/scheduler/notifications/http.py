"""One POST of a summary over HTTP, shared by the JSON and Slack webhooks.

2xx is delivered. A 3xx or a 4xx other than 408, 409, 425 and 429 is refused for good (the
URL moved or is wrong, the payload is refused, a Slack webhook was revoked): retrying cannot
help. A 5xx, 408/409/425/429, a timeout or no connection is retried later, honouring a
``Retry-After`` in seconds. Redirects are not followed: a POST must not turn into a GET.
"""

from __future__ import annotations

import aiohttp

from notion_batch.scheduler.notifications.channel import DeliveryFailed

#: Characters of a receiver's answer kept in a failure's reason.
EXCERPT_CHARS = 200
#: Answers worth another try although they are 4xx.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare for webhooks, and our own backoff applies anyway
    return seconds if seconds >= 0 else None


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> str:
    """POST ``body`` to ``url``; returns ``HTTP <status>`` or raises :class:`DeliveryFailed`."""
    try:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as answer:
            status = answer.status
            excerpt = (await answer.content.read(4 * EXCERPT_CHARS)).decode(errors="replace")
            retry_after = _retry_after(answer.headers.get("Retry-After"))
    except TimeoutError:
        raise  # the notifier words it, with the time limit
    except aiohttp.ClientConnectorError as exc:
        problem = exc.os_error.strerror or type(exc.os_error).__name__
        raise DeliveryFailed(f"cannot connect to {exc.host}:{exc.port}: {problem}") from None
    except aiohttp.ClientError as exc:
        # Only the type: some of aiohttp's messages quote the URL, and webhook URLs hold tokens.
        raise DeliveryFailed(f"receiver unreachable: {type(exc).__name__}") from None
    if 200 <= status < 300:
        return f"HTTP {status}"
    flat = " ".join(excerpt.split())[:EXCERPT_CHARS]
    reason = f"HTTP {status}: {flat}" if flat else f"HTTP {status}"
    permanent = 300 <= status < 500 and status not in RETRYABLE_4XX
    raise DeliveryFailed(reason, permanent=permanent, retry_after=retry_after)
