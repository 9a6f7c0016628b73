"""What a batch-end notification channel is: one way of sending a summary, and how a send
fails. Each channel module implements :class:`Channel`; the notifier only sees this."""

from __future__ import annotations

from typing import Protocol

from notion_batch.common.db.notifications import BatchSummary
from notion_batch.common.errors import NotionBatchError


class DeliveryFailed(NotionBatchError):
    """A channel could not deliver a summary this time.

    ``permanent``: the receiver refused it for good (a 4xx, an SMTP 5xx): sending it again
    will not help, so it is given up at once. ``retry_after``: the receiver asked us to wait
    this many seconds (``Retry-After``).
    """

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Channel(Protocol):
    """One way of sending a summary."""

    #: ``webhook``, ``slack`` or ``email`` (the ``channel`` of deliveries, logs and metrics).
    name: str

    async def send(self, summary: BatchSummary) -> str:
        """Send ``summary`` once; returns what the receiver said (``HTTP 200``, ``250 OK``).

        Raises :class:`DeliveryFailed`, or ``TimeoutError`` when it takes too long.
        """
        ...
