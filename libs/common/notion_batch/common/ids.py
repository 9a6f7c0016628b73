"""Notion page ids as people paste them, turned into the one form we store and answer with."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from notion_batch.common.errors import InvalidPageId

# A Notion URL ends its last path segment with the 32 hex digits of the page id
# (…/Title-Words-0123456789abcdef0123456789abcdef), optionally followed by ?query or #block.
_TRAILING_ID = re.compile(
    r"([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})$"
)


def canonical_page_id(value: str) -> str:
    """Return the lowercase dashed UUID of a page given as 32 hex digits, a UUID or a Notion URL.

    Raises :class:`InvalidPageId` with a message fit to show the user.
    """
    text = value.strip()
    if not text:
        raise InvalidPageId("notion_page_id is empty")
    if len(text) > 2048:
        raise InvalidPageId("notion_page_id is too long")
    candidate = text
    if "://" in text or text.startswith(("www.notion.so", "notion.so")):
        parts = urlsplit(text if "://" in text else f"https://{text}")
        host = (parts.hostname or "").lower()
        if not (
            host == "notion.so" or host.endswith(".notion.so") or host.endswith(".notion.site")
        ):
            raise InvalidPageId(f"not a Notion URL: {text[:200]!r}")
        candidate = parts.path.rstrip("/").rsplit("/", 1)[-1]
    match = _TRAILING_ID.search(candidate)
    if match is None or (candidate is text and match.group(0) != candidate):
        raise InvalidPageId(
            "notion_page_id must be 32 hex digits, a dashed UUID or a Notion page URL, "
            f"got {text[:200]!r}"
        )
    return str(uuid.UUID(match.group(0)))
