"""A run's warnings: what a worker met on the page and skipped without failing the batch.

A tick records them (``TickRepository.record_warnings``); the run history reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class NewWarning:
    """What a reading of the page met: a block it could not read, and Notion's answer."""

    block_id: str
    block_type: str
    status: int | None
    code: str
    message: str


@dataclass(frozen=True)
class RunWarning(NewWarning):
    """A warning as the run keeps it: when it was first and last met, and how often."""

    first_seen_at: datetime
    last_seen_at: datetime
    #: Readings of the page that met it.
    seen: int
