"""Notion ids: accepted dashed or as 32 hex digits, always answered lowercase dashed."""

from __future__ import annotations

import re
import uuid

from notion_batch.emulator.errors import validation_error

_ID = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})$")


def canonical_id(raw: str, *, where: str = "path.block_id") -> str:
    """Return the dashed lowercase form of ``raw`` or raise a 400 ``validation_error``."""
    if not _ID.match(raw):
        raise validation_error(f'{where} should be a valid uuid, instead was `"{raw}"`.')
    return str(uuid.UUID(raw))


def new_id() -> str:
    return str(uuid.uuid4())


def undashed(block_or_page_id: str) -> str:
    return block_or_page_id.replace("-", "")
