"""What the gateway hands back: plain frozen values, no SDK types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PageInfo:
    id: str
    title: str
    url: str
    #: Archived or in the trash.
    archived: bool


@dataclass(frozen=True)
class TodoBlock:
    """A to_do block found on the page, in document (pre-order depth-first) order."""

    block_id: str
    parent_id: str
    text: str
    checked: bool
    #: 0-based index in document order over all to-dos of the page.
    position: int


@dataclass(frozen=True)
class LogLine:
    """One processed to-do, for the page log."""

    todo_block_id: str
    todo_text: str
    outcome: Literal["done", "skipped"]
    #: Handler result text or skip reason.
    result: str
