"""What the gateway hands back: plain frozen values, no SDK types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class PageInfo:
    id: str
    title: str
    url: str
    #: In the trash (``in_trash``; ``archived`` in Notion-Versions before 2026-03-11).
    archived: bool
    #: The page's ``last_edited_time``, rounded down to the minute by Notion; ``None`` when
    #: Notion gave none that parses.
    last_edited_time: datetime | None = None


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


@dataclass(frozen=True)
class UnreadableBlock:
    """A block on the page whose children Notion would not list: its subtree was skipped."""

    block_id: str
    block_type: str
    #: The id whose children were asked for: the block itself, or a synced copy's original.
    listed_id: str
    status: int | None
    code: str
    #: Notion's own message when it sent one, else ours.
    message: str

    def describe(self) -> str:
        """One line for a person: which block, what Notion answered."""
        what = f"{self.block_type} block {self.block_id}"
        if self.listed_id != self.block_id:
            what += f" (synced from {self.listed_id})"
        answer = f"{self.status} {self.code}" if self.status is not None else self.code
        return f"{what} skipped: Notion answered {answer}: {self.message}"


@dataclass(frozen=True)
class PageRead:
    """What one reading of a page found: its to-dos and the subtrees it could not read."""

    todos: tuple[TodoBlock, ...]
    unreadable: tuple[UnreadableBlock, ...]
