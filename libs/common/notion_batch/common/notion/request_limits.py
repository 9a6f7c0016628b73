"""Notion's request limits, and appends cut to fit them (D/reference/request-limits)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

PAGE_SIZE = 100
MAX_CHILDREN_PER_APPEND = 100
MAX_BLOCKS_PER_APPEND = 1000
#: Notion's 500 KB per request (D/reference/request-limits), counted in encoded bytes of the
#: JSON body; the margin leaves room for the envelope's other keys (``after``/``position``).
MAX_REQUEST_BYTES = 500_000
_ENVELOPE_BYTES = 1_000


def _count_blocks(block: dict[str, Any]) -> int:
    payload = block.get(str(block.get("type")))
    nested = payload.get("children") if isinstance(payload, dict) else None
    if nested is None:
        nested = block.get("children")
    if not isinstance(nested, list):
        return 1
    return 1 + sum(_count_blocks(child) for child in nested if isinstance(child, dict))


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as the SDK sends it: httpx's ``json=`` encoding (0.28: compact,
    ``ensure_ascii=False``, UTF-8), so a Korean character counts 3 bytes, not 6."""
    return len(
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    )


def chunk_blocks(
    blocks: Sequence[dict[str, Any]], *, max_bytes: int = MAX_REQUEST_BYTES
) -> list[list[dict[str, Any]]]:
    """Split into appends Notion accepts: ≤ 100 top-level blocks, ≤ 1,000 blocks in all and
    ≤ ``max_bytes`` of encoded JSON body (Notion's 500 KB; D/reference/request-limits).

    A single block heavier than the limit goes alone: splitting it is not ours to do (the
    blocks we build keep far below it, their texts being cut at 2,000 characters).
    """
    budget = max_bytes - _ENVELOPE_BYTES
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    weight = 0
    used = 0
    for block in blocks:
        size = _count_blocks(block)
        # One byte per block for the comma between array items.
        nbytes = encoded_size(block) + 1
        if current and (
            len(current) >= MAX_CHILDREN_PER_APPEND
            or weight + size > MAX_BLOCKS_PER_APPEND
            or used + nbytes > budget
        ):
            chunks.append(current)
            current, weight, used = [], 0, 0
        current.append(block)
        weight += size
        used += nbytes
    if current:
        chunks.append(current)
    return chunks
