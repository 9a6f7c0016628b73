"""What differs between Notion-Versions, for the request being answered.

The gate middleware (``routes_v1``) sets the request's ``Notion-Version`` here; shapes and
routes ask. 2026-03-11 removes the ``archived`` field of pages and blocks (``in_trash`` stays)
and replaces append's ``after`` with ``position`` (developers.notion.com/reference/versioning,
developers.notion.com/guides/get-started/upgrade-guide-2026-03-11).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from notion_batch.emulator.errors import validation_error
from notion_batch.emulator.ids import canonical_id

if TYPE_CHECKING:
    from notion_batch.emulator.store import Store

#: The version that dropped ``archived`` and ``after``.
V2026_03_11 = "2026-03-11"
#: Versions are dates (``YYYY-MM-DD``): they compare as strings. Outside a request (the
#: control API, in-process tests) the newest behaviour applies.
_version: ContextVar[str] = ContextVar("notion_version", default=V2026_03_11)


def set_version(version: str) -> None:
    """The ``Notion-Version`` of the request being answered (this task's context only)."""
    _version.set(version)


def current_version() -> str:
    return _version.get()


def has_archived_field() -> bool:
    """Whether answers carry ``archived`` next to ``in_trash`` (versions before 2026-03-11)."""
    return current_version() < V2026_03_11


def append_index(store: Store, container_id: str, body: dict[str, Any]) -> int | None:
    """Where an append inserts its blocks among ``container_id``'s children (``None``: at the
    end), from ``position`` (2026-03-11: ``{"type": "start" | "end" | "after_block",
    "after_block": {"id"}}``) or ``after`` (a block id, older versions)."""
    children = store.child_ids(container_id)
    if current_version() >= V2026_03_11:
        if body.get("after") is not None:
            # The upgrade guide renames the field; the exact message Notion sends is not
            # documented, this one follows its validation messages' style.
            raise validation_error("body.after should be not present, instead was a string.")
        position = body.get("position")
        if position is None:
            return None
        if not isinstance(position, dict):
            raise validation_error("body.position should be an object.")
        kind = position.get("type")
        if kind == "end":
            return None
        if kind == "start":
            return 0
        if kind == "after_block":
            target = position.get("after_block")
            raw = target.get("id") if isinstance(target, dict) else None
            return _after(children, raw, "body.position.after_block.id")
        raise validation_error(
            "body.position.type should be one of `start`, `end`, `after_block`, "
            f"instead was `{kind}`."
        )
    if body.get("position") is not None:
        raise validation_error("body.position should be not present, instead was an object.")
    after = body.get("after")
    return None if after is None else _after(children, after, "body.after")


def _after(children: list[str], raw: Any, where: str) -> int:
    if not isinstance(raw, str):
        raise validation_error(f"{where} should be a string.")
    block_id = canonical_id(raw, where=where)
    if block_id not in children:
        raise validation_error(f"{where}: block {block_id} is not a child of the parent block.")
    return children.index(block_id) + 1
